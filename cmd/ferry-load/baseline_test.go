package main

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPendingApp checks the pending floor: a POST waits its hold and is
// answered 202, and GET /pending counts it while it waits.
func TestPendingApp(t *testing.T) {
	t.Parallel()
	const hold = 300 * time.Millisecond
	app := pendingApp(hold)
	var wg sync.WaitGroup
	defer wg.Wait()
	started := time.Now()
	wg.Go(func() {
		resp, err := app.Test(httptest.NewRequest("POST", "/v1/slow", strings.NewReader(`{}`)), -1)
		if err != nil {
			t.Errorf("POST /v1/slow: %v", err)
			return
		}
		if resp.StatusCode != 202 || time.Since(started) < hold {
			t.Errorf("POST /v1/slow = %d after %s, want 202 after %s", resp.StatusCode, time.Since(started), hold)
		}
	})
	pending := func() string {
		resp, err := app.Test(httptest.NewRequest("GET", "/pending", nil), -1)
		if err != nil {
			t.Fatalf("GET /pending: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	checkFor(t, hold/2, 5*time.Millisecond, func() bool { return pending() == "1" })
	wg.Wait()
	if got := pending(); got != "0" {
		t.Errorf("GET /pending after the answer = %q, want 0", got)
	}
}

// checkFor fails t unless ok says yes within timeout, asked every
// interval.
func checkFor(t testing.TB, timeout, interval time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(interval)
	}
}
