package ingress

import "errors"

var (
	// ErrNoCredentials means a request to a protected endpoint carries no
	// credentials. It becomes a 401 with a bare WWW-Authenticate challenge.
	ErrNoCredentials = errors.New("no credentials")
	// ErrInvalidCredentials means the credentials were malformed, unknown,
	// expired or failed verification. Errors wrapping it say why in words
	// that are safe to show the client: never a key or a token.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrRedisUnavailable means Redis, which keeps rate limits and
	// idempotency records, did not answer.
	ErrRedisUnavailable = errors.New("redis unavailable")
)

// credentialError is an ErrInvalidCredentials with the reason the client
// may read (reason) and the cause only the log may read.
type credentialError struct {
	reason string
	cause  error
}

func (e *credentialError) Error() string { return ErrInvalidCredentials.Error() + ": " + e.reason }

func (e *credentialError) Is(target error) bool { return target == ErrInvalidCredentials }

func (e *credentialError) Unwrap() error { return e.cause }

// invalid returns an error wrapping ErrInvalidCredentials with a
// client-safe reason and the underlying cause.
func invalid(reason string, cause error) error {
	return &credentialError{reason: reason, cause: cause}
}

// credentialReason returns the client-safe reason of an authentication
// error.
func credentialReason(err error) string {
	var ce *credentialError
	if errors.As(err, &ce) {
		return ce.reason
	}
	return "the credentials are invalid"
}
