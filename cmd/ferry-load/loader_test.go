package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
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

// fakeRun is a server that holds any rate up to capacity with a 1 ms p99
// and misses the bound above it, recording every rate it was run at.
func fakeRun(capacity float64, rates *[]float64) func(rate float64) Result {
	return func(rate float64) Result {
		*rates = append(*rates, rate)
		h := hdrhistogram.New(1, maxLatencyUS, 3)
		lat := int64(1000)
		if rate > capacity {
			lat = 20_000
		}
		_ = h.RecordValue(lat)
		return Result{Plan: Plan{Rate: rate}, OK: 1000, Failed: map[string]int64{}, Hist: h, Achieved: rate}
	}
}

func TestSweepFindsTheMax(t *testing.T) {
	t.Parallel()
	var rates []float64
	best, runs := sweepRates(context.Background(), 1000, 20, 5*time.Millisecond, fakeRun(3000, &rates), nil)
	if got := best.Plan.Rate; got > 3000 || got < 0.95*3000 {
		t.Errorf("cold sweep found %v/s, want within 5%% under 3000", got)
	}
	if len(runs) > 12 {
		t.Errorf("cold sweep took %d runs (%v), want at most 12 (each failing rate is run twice)", len(runs), rates)
	}

	// From an earlier round's max, a sweep brackets the new one in a few
	// runs, up or down.
	for _, capacity := range []float64{2600, 3500} {
		var rates []float64
		s := newSweeper(1000, 3000, 5*time.Millisecond)
		run := fakeRun(capacity, &rates)
		for i := 0; i < 20 && !s.done(); i++ {
			s.record(run(s.rate))
		}
		if got := s.max(); got > capacity || got < 0.9*capacity {
			t.Errorf("capacity %v: hinted sweep found %v/s, want within 10%% under it", capacity, got)
		}
		if len(rates) > 7 {
			t.Errorf("capacity %v: hinted sweep took %d runs (%v), want at most 7 (each failing rate is run twice)", capacity, len(rates), rates)
		}
	}
}

// TestSweepConfirmsFailures: a run that misses the bound once, at a rate
// the target sustains (a spike of the machine's), does not decide the
// sweep; a rate fails when it misses twice in a row.
func TestSweepConfirmsFailures(t *testing.T) {
	t.Parallel()
	var rates []float64
	steady := fakeRun(3000, &rates)
	spiked := false
	run := func(rate float64) Result {
		r := steady(rate)
		if rate == 2000 && !spiked {
			spiked = true
			for range 20 { // most of the run's latencies at 20 ms: p99 over 5 ms
				_ = r.Hist.RecordValue(20_000)
			}
		}
		return r
	}
	best, _ := sweepRates(context.Background(), 1000, 20, 5*time.Millisecond, run, nil)
	if !spiked {
		t.Fatalf("the sweep never ran 2000/s (%v)", rates)
	}
	if got := best.Plan.Rate; got > 3000 || got < 0.95*3000 {
		t.Errorf("with one spike at 2000/s the sweep found %v/s (%v), want within 5%% under 3000", got, rates)
	}
}

// TestJointSweep checks that two sides are swept in lockstep (neither
// runs twice in a row while the other is still searching), that each
// gets its own max, and that both are run again at the lower one.
func TestJointSweep(t *testing.T) {
	t.Parallel()
	var slow, fast []float64
	var order []int
	jr := jointSweep(context.Background(), 1000, 20, 5*time.Millisecond, []sweepSide{
		{run: fakeRun(3000, &slow)},
		{run: fakeRun(12000, &fast), start: 4000},
	}, func(side int, _ Result) { order = append(order, side) })

	if jr.max[0] > 3000 || jr.max[0] < 0.95*3000 || jr.max[1] > 12000 || jr.max[1] < 0.95*12000 {
		t.Errorf("maxes %v, want about 3000 and 12000", jr.max)
	}
	if jr.at != jr.max[0] {
		t.Errorf("joint rate %v, want the lower max %v", jr.at, jr.max[0])
	}
	if slow[0] != 1000 || fast[0] != 4000 {
		t.Errorf("first rates %v and %v, want the start 1000 and the side's own start 4000", slow[0], fast[0])
	}
	if last := fast[len(fast)-1]; last != jr.at {
		t.Errorf("the fast side last ran at %v/s, want the joint rate %v", last, jr.at)
	}
	if !jr.ok[0] || !jr.ok[1] || jr.p99[0] != 1 || jr.p99[1] != 1 {
		t.Errorf("at the joint rate: ok %v p99 %v, want both met with 1 ms", jr.ok, jr.p99)
	}
	// Lockstep: while both search, each step runs both, in turns.
	both := 2 * min(len(jr.sw[0].runs), len(jr.sw[1].runs))
	for i := 0; i+1 < both; i += 2 {
		if order[i] == order[i+1] {
			t.Fatalf("step %d ran side %d twice (order %v)", i/2, order[i], order)
		}
	}
	if order[0] == order[2] && order[2] == order[4] {
		t.Errorf("side %d always ran first (order %v), want the order to turn", order[0], order)
	}
}

// TestClosedLoop checks that every connection sends its next request as
// soon as the previous one answered, and never more than one at a time.
func TestClosedLoop(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int64
	op := func(ctx context.Context) string {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(10 * time.Millisecond)
		inFlight.Add(-1)
		return ""
	}
	r := runClosedLoop(context.Background(), 4, 300*time.Millisecond, op)
	if most.Load() != 4 {
		t.Errorf("at most %d requests in flight, want 4", most.Load())
	}
	// 4 connections × 300 ms / 10 ms: up to 120 (a sleep may oversleep).
	if r.OK < 60 || r.OK > 124 {
		t.Errorf("%d requests in 300 ms over 4 connections at 10 ms each, want about 120", r.OK)
	}
	if r.P(50) < 10 {
		t.Errorf("p50 %.1f ms, want >= 10 (the service time)", r.P(50))
	}
}

// TestResultAdd checks that closed-loop slices add up to one run: counts,
// failures, latencies, and the rate over the time they took together.
func TestResultAdd(t *testing.T) {
	t.Parallel()
	slice := func(ok int64, failed map[string]int64, lat int64, d time.Duration) Result {
		h := hdrhistogram.New(1, maxLatencyUS, 3)
		for range ok {
			_ = h.RecordValue(lat)
		}
		return Result{Plan: Plan{Duration: d, Workers: 4}, Elapsed: d, OK: ok, Failed: failed, Hist: h, Achieved: float64(ok) / d.Seconds()}
	}
	var r Result
	r.add(slice(100, map[string]int64{}, 1000, time.Second))
	r.add(slice(300, map[string]int64{"timeout": 2}, 3000, time.Second))
	if r.OK != 400 || r.Errors() != 2 || r.Failed["timeout"] != 2 {
		t.Errorf("ok %d errors %d, want 400 and 2", r.OK, r.Errors())
	}
	if r.Elapsed != 2*time.Second || r.Achieved != 200 {
		t.Errorf("elapsed %s achieved %.0f/s, want 2s and 200/s", r.Elapsed, r.Achieved)
	}
	// 300 of 400 at 3 ms, 100 at 1 ms (within the histogram's precision).
	if p50, p10 := r.P(50), r.P(10); p50 < 2.99 || p50 > 3.01 || p10 < 0.99 || p10 > 1.01 {
		t.Errorf("p50 %.3f p10 %.3f ms, want 3 and 1", p50, p10)
	}
	if r.Hist.TotalCount() != 400 {
		t.Errorf("histogram holds %d, want 400", r.Hist.TotalCount())
	}
}
