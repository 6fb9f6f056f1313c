package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Op performs one operation and reports its outcome: "" for success, else a
// short, bounded label such as "status 503" or "timeout".
type Op func(ctx context.Context) (outcome string)

// Plan is one open-loop run: Rate operations per second for Duration,
// carried out by up to Workers concurrent operations.
type Plan struct {
	Rate     float64
	Duration time.Duration
	Workers  int
	// Grace is how long in-flight operations may finish after the run.
	Grace time.Duration
}

// Result is what one run measured. Latencies are in microseconds, measured
// from each operation's intended start, so a stalled server cannot hide
// its queue (no coordinated omission).
type Result struct {
	Plan     Plan
	Elapsed  time.Duration
	OK       int64
	Failed   map[string]int64
	Unsent   int64 // scheduled but not started before the run ended
	Hist     *hdrhistogram.Histogram
	Achieved float64 // successful operations per second
}

// maxLatencyUS bounds the histogram: one minute.
const maxLatencyUS = 60_000_000

// runOpenLoop schedules operations at fixed intervals regardless of how
// fast earlier ones complete, and records each latency from its intended
// start time.
func runOpenLoop(ctx context.Context, p Plan, op Op) Result {
	if p.Workers <= 0 {
		p.Workers = 256
	}
	if p.Grace <= 0 {
		p.Grace = 5 * time.Second
	}
	if p.Rate <= 0 {
		return Result{Plan: p, Failed: map[string]int64{}, Hist: hdrhistogram.New(1, maxLatencyUS, 3)}
	}
	total := int(p.Rate * p.Duration.Seconds())
	due := make(chan time.Time, total+1)
	interval := time.Duration(float64(time.Second) / p.Rate)

	runCtx, cancel := context.WithTimeout(ctx, p.Duration+p.Grace)
	defer cancel()

	var (
		mu     sync.Mutex
		hist   = hdrhistogram.New(1, maxLatencyUS, 3)
		failed = make(map[string]int64)
		ok     atomic.Int64
		wg     sync.WaitGroup
	)
	// One histogram for all workers: an HdrHistogram of this range and
	// precision is about 250 KB, and one per worker made each run allocate
	// and merge over 100 MB, whose GC disturbed the server next door.
	record := func(lat int64, out string) {
		mu.Lock()
		_ = hist.RecordValue(max(1, min(lat, maxLatencyUS)))
		if out != "" {
			failed[out]++
		}
		mu.Unlock()
	}
	for range p.Workers {
		wg.Go(func() {
			for t := range due {
				if runCtx.Err() != nil {
					break
				}
				out := op(runCtx)
				record(time.Since(t).Microseconds(), out)
				if out == "" {
					ok.Add(1)
				}
			}
		})
	}

	start := time.Now()
	sent := 0
	for sent < total && ctx.Err() == nil {
		now := time.Now()
		n := min(total, int(now.Sub(start)/interval)+1)
		for ; sent < n; sent++ {
			due <- start.Add(time.Duration(sent) * interval)
		}
		if sent < total {
			time.Sleep(min(interval, 500*time.Microsecond))
		}
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	unsent := int64(len(due))
	for range due {
	}
	done := ok.Load()
	return Result{
		Plan: p, Elapsed: elapsed, OK: done, Failed: failed, Unsent: unsent, Hist: hist,
		Achieved: float64(done) / max(p.Duration.Seconds(), elapsed.Seconds()-p.Grace.Seconds()),
	}
}

// Errors is the number of failed or unsent operations.
func (r Result) Errors() int64 {
	n := r.Unsent
	for _, v := range r.Failed {
		n += v
	}
	return n
}

// P returns a percentile latency in milliseconds.
func (r Result) P(q float64) float64 {
	if r.Hist == nil {
		return 0
	}
	return float64(r.Hist.ValueAtQuantile(q)) / 1000
}

// String is a one-line summary.
func (r Result) String() string {
	if r.Hist == nil {
		return "no passing run"
	}
	var fails []string
	for _, k := range slices.Sorted(maps.Keys(r.Failed)) {
		fails = append(fails, fmt.Sprintf("%s×%d", k, r.Failed[k]))
	}
	if r.Unsent > 0 {
		fails = append(fails, fmt.Sprintf("unsent×%d", r.Unsent))
	}
	errs := "none"
	if len(fails) > 0 {
		errs = strings.Join(fails, " ")
	}
	return fmt.Sprintf("rate %.0f/s achieved %.0f/s ok %d | p50 %.2fms p90 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms | errors %s",
		r.Plan.Rate, r.Achieved, r.OK, r.P(50), r.P(90), r.P(99), r.P(99.9), float64(r.Hist.Max())/1000, errs)
}

// meets reports whether a run held the rate with p99 under the bound and
// (almost) no errors.
func (r Result) meets(p99 time.Duration) bool {
	total := r.OK + r.Errors()
	return total > 0 && float64(r.Errors()) <= 0.001*float64(total) &&
		r.P(99) <= float64(p99.Microseconds())/1000 && r.Achieved >= 0.95*r.Plan.Rate
}

// sweep finds the highest rate whose run meets the p99 bound: it doubles the
// rate until a run fails, then bisects between the last good and
// the first bad rate. It returns the best passing run (zero Result when
// even the start rate fails) and every run it made.
func sweep(ctx context.Context, start float64, step time.Duration, p99 time.Duration, workers int, steps int, op Op, log func(Result)) (Result, []Result) {
	return sweepRates(ctx, start, steps, p99, func(rate float64) Result {
		return runOpenLoop(ctx, Plan{Rate: rate, Duration: step, Workers: workers, Grace: 2 * time.Second}, op)
	}, log)
}

// sweepRates is sweep over any run function: run(rate) measures one rate.
func sweepRates(ctx context.Context, start float64, steps int, p99 time.Duration, run func(rate float64) Result, log func(Result)) (Result, []Result) {
	var best Result
	var runs []Result
	good, bad := 0.0, 0.0
	rate := start
	for i := 0; i < steps && ctx.Err() == nil; i++ {
		r := run(rate)
		runs = append(runs, r)
		if log != nil {
			log(r)
		}
		if r.meets(p99) {
			good = rate
			if r.Achieved > best.Achieved {
				best = r
			}
		} else {
			bad = rate
		}
		switch {
		case bad == 0:
			rate *= 2
		case good == 0:
			rate /= 2
		default:
			rate = (good + bad) / 2
			if bad-good < 0.05*good {
				return best, runs
			}
		}
	}
	return best, runs
}
