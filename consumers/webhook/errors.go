package webhook

import "errors"

var (
	// ErrClosed means Shutdown was called: Run does not start again.
	ErrClosed = errors.New("webhook closed")
	// ErrEndpointDown means the webhook's circuit breaker is open (or
	// half-open, probing): the endpoint failed too often in a row, so
	// fetching is paused and deliveries wait. Check reports it.
	ErrEndpointDown = errors.New("webhook endpoint down")
)
