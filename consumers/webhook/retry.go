package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Why an attempt failed: the reason label of the failure metric. The set is
// fixed.
const (
	FailureTimeout = "timeout"  // no answer within the timeout
	FailureNetwork = "network"  // no connection, or it broke
	FailureHTTP3xx = "http_3xx" // a redirect (never followed)
	FailureHTTP4xx = "http_4xx" // refused (other than 408, 410, 429)
	FailureGone    = "http_410" // 410 Gone: the endpoint wants no more
	FailureHTTP429 = "http_429" // 408 or 429: slow down
	FailureHTTP5xx = "http_5xx" // the endpoint failed
)

// Failures lists every failure reason, for metrics that start at zero.
var Failures = []string{FailureTimeout, FailureNetwork, FailureHTTP3xx, FailureHTTP4xx, FailureGone, FailureHTTP429, FailureHTTP5xx}

// result is how one attempt ended.
type result struct {
	status     int   // the HTTP status; 0 without an answer
	err        error // why there was no answer
	retryAfter time.Duration
	detail     string // the failure in a few words, for logs and the dead-letter record
}

// ok reports a 2xx answer.
func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// reason is the failure's metric label, "" on success.
func (r result) reason() string {
	switch {
	case r.ok():
		return ""
	case r.err != nil:
		var ne net.Error
		if errors.Is(r.err, context.DeadlineExceeded) || errors.As(r.err, &ne) && ne.Timeout() {
			return FailureTimeout
		}
		return FailureNetwork
	case r.status == http.StatusGone:
		return FailureGone
	case r.status == http.StatusTooManyRequests || r.status == http.StatusRequestTimeout:
		return FailureHTTP429
	case r.status >= 500:
		return FailureHTTP5xx
	case r.status >= 400:
		return FailureHTTP4xx
	default:
		return FailureHTTP3xx
	}
}

// endpointDown reports a failure that says the endpoint, not the record,
// is the problem: these feed the circuit breaker. A 4xx other than 408 and
// 429 shows a live endpoint refusing this record.
func (r result) endpointDown() bool {
	switch r.reason() {
	case FailureTimeout, FailureNetwork, FailureHTTP429, FailureHTTP5xx:
		return true
	}
	return false
}

// errEndpointDown is what the breaker is told of a failed attempt whose
// failure says the endpoint is down; every other outcome counts as a
// success for it.
var errEndpointDown = errors.New("endpoint down")

// breakerErr is the attempt's outcome as the breaker counts it.
func (r result) breakerErr() error {
	if r.endpointDown() {
		return errEndpointDown
	}
	return nil
}

// backoff returns the wait after the n-th failed attempt (n from 1):
// rc.Backoff doubled n-1 times, at most rc.MaxBackoff, drawn at random from
// its upper half so that retries of many records spread out (jitter), and
// at least the Retry-After the endpoint asked for, still capped at
// rc.MaxBackoff. rnd(k) returns a number in [0, k).
func backoff(rc RetryConfig, n int, retryAfter time.Duration, rnd func(int64) int64) time.Duration {
	d := rc.Backoff
	for i := 1; i < n && d < rc.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, rc.MaxBackoff)
	if half := int64(d / 2); half > 0 {
		d = time.Duration(half + rnd(half+1))
	}
	return min(max(d, retryAfter), rc.MaxBackoff)
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
// It returns 0 when v is empty or malformed, or the date has passed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// describe is the failure in a few words: the status line and the start of
// the body, or the error.
func describe(status int, body []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("%d %s", status, http.StatusText(status))
	if b := strings.TrimSpace(string(body)); b != "" {
		s += ": " + b
	}
	return s
}
