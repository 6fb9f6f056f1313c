package webhook

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestBackoff: the wait doubles from backoff up to max_backoff, is drawn
// from its upper half, and honours a longer Retry-After up to the cap.
func TestBackoff(t *testing.T) {
	t.Parallel()
	rc := RetryConfig{MaxAttempts: 8, Backoff: time.Second, MaxBackoff: 5 * time.Minute}
	lowest := func(k int64) int64 { return 0 }
	highest := func(k int64) int64 { return k - 1 }
	tests := []struct {
		n          int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{4, 0, 4 * time.Second, 8 * time.Second},
		{9, 0, 128 * time.Second, 256 * time.Second},
		{10, 0, 150 * time.Second, 5 * time.Minute},
		{50, 0, 150 * time.Second, 5 * time.Minute},
		{1, 30 * time.Second, 30 * time.Second, 30 * time.Second},
		{1, time.Hour, 5 * time.Minute, 5 * time.Minute},
	}
	for _, tt := range tests {
		lo, hi := backoff(rc, tt.n, tt.retryAfter, lowest), backoff(rc, tt.n, tt.retryAfter, highest)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("backoff(n=%d, retry-after %v) ranges over [%v, %v], want [%v, %v]", tt.n, tt.retryAfter, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:01:00 GMT": time.Minute,
		"Wed, 31 Dec 2025 23:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestResultClasses: which failures feed the breaker (the endpoint is
// down) and which are the record's own.
func TestResultClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		res    result
		reason string
		down   bool
	}{
		{result{status: 204}, "", false},
		{result{status: 301}, FailureHTTP3xx, false},
		{result{status: 400}, FailureHTTP4xx, false},
		{result{status: 410}, FailureGone, false},
		{result{status: 408}, FailureHTTP429, true},
		{result{status: 429}, FailureHTTP429, true},
		{result{status: 503}, FailureHTTP5xx, true},
		{result{err: errors.New("connection refused")}, FailureNetwork, true},
		{result{err: context.DeadlineExceeded}, FailureTimeout, true},
		{result{err: timeoutErr{}}, FailureTimeout, true},
	}
	for _, tt := range tests {
		if got := tt.res.reason(); got != tt.reason {
			t.Errorf("%+v.reason() = %q, want %q", tt.res, got, tt.reason)
		}
		if got := tt.res.endpointDown(); got != tt.down {
			t.Errorf("%+v.endpointDown() = %v, want %v", tt.res, got, tt.down)
		}
	}
	if d := describe(http.StatusBadGateway, []byte(" upstream down \n"), nil); d != "502 Bad Gateway: upstream down" {
		t.Errorf("describe = %q", d)
	}
}
