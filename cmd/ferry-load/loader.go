package main

import (
	"cmp"
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

	rec := newRecorder()
	var wg sync.WaitGroup
	for range p.Workers {
		wg.Go(func() {
			for t := range due {
				if runCtx.Err() != nil {
					break
				}
				out := op(runCtx)
				rec.record(time.Since(t).Microseconds(), out)
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
	done := rec.ok.Load()
	return Result{
		Plan: p, Elapsed: elapsed, OK: done, Failed: rec.failed, Unsent: unsent, Hist: rec.hist,
		Achieved: float64(done) / max(p.Duration.Seconds(), elapsed.Seconds()-p.Grace.Seconds()),
	}
}

// recorder collects the outcomes of a run's workers. One histogram for
// all of them: an HdrHistogram of this range and precision is about
// 250 KB, and one per worker made each run allocate and merge over
// 100 MB, whose GC disturbed the server next door.
type recorder struct {
	mu     sync.Mutex
	hist   *hdrhistogram.Histogram
	failed map[string]int64
	ok     atomic.Int64
}

func newRecorder() *recorder {
	return &recorder{hist: hdrhistogram.New(1, maxLatencyUS, 3), failed: make(map[string]int64)}
}

// record takes one operation's latency in µs and its outcome.
func (r *recorder) record(lat int64, out string) {
	if out == "" {
		r.ok.Add(1)
	}
	r.mu.Lock()
	_ = r.hist.RecordValue(max(1, min(lat, maxLatencyUS)))
	if out != "" {
		r.failed[out]++
	}
	r.mu.Unlock()
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
	if r.Plan.Rate == 0 && r.Plan.Workers > 0 {
		return fmt.Sprintf("closed loop, %d conns: %.0f/s ok %d | p50 %.2fms p90 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms | errors %s",
			r.Plan.Workers, r.Achieved, r.OK, r.P(50), r.P(90), r.P(99), r.P(99.9), float64(r.Hist.Max())/1000, errs)
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

// sweep finds the highest rate whose run meets the p99 bound: it doubles
// the rate until a rate fails (two runs in a row miss the bound), then
// bisects between the last good and the first bad rate. It returns the
// best passing run (zero Result when even the start rate fails) and every
// run it made.
func sweep(ctx context.Context, start float64, step time.Duration, p99 time.Duration, workers int, steps int, op Op, log func(Result)) (Result, []Result) {
	return sweepRates(ctx, start, steps, p99, func(rate float64) Result {
		return runOpenLoop(ctx, Plan{Rate: rate, Duration: step, Workers: workers, Grace: 2 * time.Second}, op)
	}, log)
}

// sweepRates is sweep over any run function: run(rate) measures one rate.
func sweepRates(ctx context.Context, start float64, steps int, p99 time.Duration, run func(rate float64) Result, log func(Result)) (Result, []Result) {
	s := newSweeper(start, 0, p99)
	for i := 0; i < steps && !s.done() && ctx.Err() == nil; i++ {
		r := run(s.rate)
		if log != nil {
			log(r)
		}
		s.record(r)
	}
	return s.best, s.runs
}

// sweeper is one target's search for its highest rate under a p99 bound,
// a step at a time, so that several targets can be swept in lockstep.
type sweeper struct {
	rate      float64 // the next rate to run
	factor    float64 // growth before the first failure (shrink before the first pass)
	precision float64 // done once the lowest failing rate is this close above the passing one
	good, bad float64 // the highest passing and lowest failing rate so far
	bound     time.Duration
	best      Result // the passing run at the highest rate
	runs      []Result
	// missed is true after a run missed the bound at rate: the rate is
	// run once more before it counts as failing, so that one spike of
	// the machine's (a collection, a neighbour) does not decide a round.
	missed bool
}

// newSweeper starts at start, doubles until a rate fails and then bisects
// to 5%. With a hint (an earlier round's max rate) it starts there,
// steps by a fifth and bisects to 10%, which brackets the max in three
// or four rates: finer would be finer than the noise between rounds.
func newSweeper(start, hint float64, bound time.Duration) *sweeper {
	if hint > 0 {
		return &sweeper{rate: hint, factor: 1.2, precision: 0.10, bound: bound}
	}
	return &sweeper{rate: start, factor: 2, precision: 0.05, bound: bound}
}

func (s *sweeper) done() bool {
	return s.good > 0 && s.bad > 0 && s.bad-s.good < s.precision*s.good
}

// record takes the run at s.rate and chooses the next rate. A rate
// fails only when two runs in a row miss the bound there.
func (s *sweeper) record(r Result) {
	s.runs = append(s.runs, r)
	met := r.meets(s.bound)
	if !met && !s.missed {
		s.missed = true
		return // run the same rate again
	}
	s.missed = false
	if met {
		s.good = max(s.good, s.rate)
		if s.best.Hist == nil || s.rate >= s.best.Plan.Rate {
			s.best = r
		}
	} else if s.bad == 0 || s.rate < s.bad {
		s.bad = s.rate
	}
	switch {
	case s.bad == 0:
		s.rate *= s.factor
	case s.good == 0:
		s.rate /= s.factor
	default:
		s.rate = (s.good + s.bad) / 2
	}
}

// max is the highest rate that met the bound, 0 if none did.
func (s *sweeper) max() float64 {
	if s.best.Hist == nil {
		return 0
	}
	return s.best.Plan.Rate
}

// sweepSide is one target of a joint sweep: run measures it at a rate.
type sweepSide struct {
	run   func(rate float64) Result
	start float64 // where a cold sweep starts, when not at jointSweep's start
	hint  float64 // an earlier round's max rate, 0 for a cold sweep
}

// jointRound is what a joint sweep found in one round.
type jointRound struct {
	max []float64  // each side's highest rate meeting the bound
	at  float64    // the highest rate at which every side met it: the lowest max
	p99 []float64  // each side's p99 (ms) at that rate
	ok  []bool     // whether each side met the bound at that rate
	sw  []*sweeper // every run made
}

// jointSweep sweeps several targets in lockstep: each step runs every
// side that is still searching at its own next rate, one after the
// other (the order turns each step), so every side meets the same
// machine conditions within seconds of the others. Then every side runs
// at the lowest max, the rate at which all of them met the bound, so
// their p99s stand side by side at one rate. A side that passes nowhere
// makes that rate 0 and is not run again.
func jointSweep(ctx context.Context, start float64, steps int, bound time.Duration, sides []sweepSide, log func(side int, r Result)) jointRound {
	out := jointRound{sw: make([]*sweeper, len(sides))}
	for i, sd := range sides {
		out.sw[i] = newSweeper(cmp.Or(sd.start, start), sd.hint, bound)
	}
	for step := 0; step < steps && ctx.Err() == nil; step++ {
		busy := false
		for k := range sides {
			i := (k + step) % len(sides)
			s := out.sw[i]
			if s.done() {
				continue
			}
			busy = true
			r := sides[i].run(s.rate)
			log(i, r)
			s.record(r)
		}
		if !busy {
			break
		}
	}
	out.at = -1
	for _, s := range out.sw {
		out.max = append(out.max, s.max())
		if out.at < 0 || s.max() < out.at {
			out.at = s.max()
		}
	}
	out.p99 = make([]float64, len(sides))
	out.ok = make([]bool, len(sides))
	if out.at <= 0 || ctx.Err() != nil {
		return out
	}
	for i, sd := range sides {
		r := sd.run(out.at)
		log(i, r)
		out.p99[i], out.ok[i] = r.P(99), r.meets(bound)
	}
	return out
}

// runClosedLoop runs conns workers for d, each starting its next
// operation as soon as the previous one answered (wrk's model): it
// measures the most the server does with that many requests in flight.
// Latencies are service times, from each operation's actual start;
// Result.Achieved is successful operations per second.
func runClosedLoop(ctx context.Context, conns int, d time.Duration, op Op) Result {
	if conns <= 0 {
		conns = 64
	}
	rec := newRecorder()
	var wg sync.WaitGroup
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// An operation may finish after the window: its answer still counts,
	// as in wrk, so it has a deadline of its own, not the window's.
	opCtx, opCancel := context.WithTimeout(ctx, d+10*time.Second)
	defer opCancel()
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for runCtx.Err() == nil {
				t := time.Now()
				out := op(opCtx)
				rec.record(time.Since(t).Microseconds(), out)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	done := rec.ok.Load()
	return Result{
		Plan: Plan{Duration: d, Workers: conns}, Elapsed: elapsed, OK: done, Failed: rec.failed, Hist: rec.hist,
		Achieved: float64(done) / elapsed.Seconds(),
	}
}

// add counts closed-loop run o into r, as one run over both windows:
// operations, failures and latencies add up, and the rate is over the
// time both took. r's histogram and failure map take o's in.
func (r *Result) add(o Result) {
	if r.Hist == nil {
		*r = o
		return
	}
	r.Hist.Merge(o.Hist)
	for k, v := range o.Failed {
		r.Failed[k] += v
	}
	r.OK += o.OK
	r.Unsent += o.Unsent
	r.Elapsed += o.Elapsed
	r.Plan.Duration += o.Plan.Duration
	r.Achieved = float64(r.OK) / r.Elapsed.Seconds()
}
