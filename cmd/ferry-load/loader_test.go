package main

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestOpenLoopCountsStalls checks that a server stall shows in the
// latencies of every request scheduled during it, not only the one that
// met it: the service stalls 200 ms once, and with one worker a
// closed-loop tool would record a single 200 ms outlier.
func TestOpenLoopCountsStalls(t *testing.T) {
	t.Parallel()
	var once sync.Once
	op := func(ctx context.Context) string {
		once.Do(func() { time.Sleep(200 * time.Millisecond) })
		return ""
	}
	// 200/s for 1 s: ~40 requests are due during the stall.
	r := runOpenLoop(context.Background(), Plan{Rate: 200, Duration: time.Second, Workers: 1}, op)
	if r.OK != 200 || r.Errors() != 0 {
		t.Fatalf("runOpenLoop: ok %d errors %d, want 200 and 0", r.OK, r.Errors())
	}
	if got := r.P(100); got < 200 {
		t.Errorf("max latency = %.1f ms, want >= 200", got)
	}
	// The first request waits 200 ms and the ones due 5, 10, ... ms later
	// wait a little less each: about 20 of them above 100 ms.
	if over := r.Hist.TotalCount() - countBelow(r, 100_000); over < 15 {
		t.Errorf("%d requests above 100 ms, want >= 15 (latency measured from the intended start)", over)
	}
}

// countBelow counts the recorded latencies under us microseconds.
func countBelow(r Result, us int64) int64 {
	var n int64
	for _, b := range r.Hist.Distribution() {
		if b.To < us {
			n += b.Count
		}
	}
	return n
}
