package webhook

import (
	"net/http"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestRetryTimings: the waits between the attempts of a failing record
// follow retry.backoff doubling up to retry.max_backoff, each drawn from
// the upper half of its step (jitter). The measured gaps are logged
// (go test -v -run TestRetryTimings).
func TestRetryTimings(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 1, topic)
	ep := newEndpoint(t, func(h hit) int {
		if h.n <= 6 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	produce(t, c, topic, []string{"k"}, 1)
	rc := RetryConfig{MaxAttempts: 8, Backoff: 40 * time.Millisecond, MaxBackoff: 400 * time.Millisecond}
	start(t, c, Config{Name: "billing", Topic: topic, URL: ep.srv.URL, Retry: rc, CircuitBreaker: BreakerConfig{Failures: 100}})
	awaitCommitted(t, c, "ferry-webhook-billing", topic)

	hits := ep.snapshot()
	if len(hits) != 7 {
		t.Fatalf("%d attempts, want 7 (6 failures, then 200)", len(hits))
	}
	step := rc.Backoff
	for i := 1; i < len(hits); i++ {
		gap := hits[i].at.Sub(hits[i-1].at)
		t.Logf("attempt %d: %6.1f ms after attempt %d (step %v: wait drawn from [%v, %v])",
			i+1, float64(gap.Microseconds())/1000, i, step, step/2, step)
		// Timers never fire early; under load they may fire late.
		if gap < step/2 || gap > step+time.Second {
			t.Errorf("attempt %d came %v after the previous one, want within [%v, %v] (+ scheduling)", i+1, gap, step/2, step)
		}
		step = min(2*step, rc.MaxBackoff)
	}
}
