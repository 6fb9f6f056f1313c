package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rawRoundTrip is the request/response floor, in this process, on ferry's
// broker: a producer sends a request record, an echo consumer answers it
// on the reply topic with the same correlation header, and a reply
// consumer hands the reply to the waiting caller. It is what ferry's sync
// route does minus HTTP, the correlator's bookkeeping, and the SDK.
type rawRoundTrip struct {
	prod, echo, replies *kgo.Client
	reqTopic, repTopic  string

	next    atomic.Uint64
	waiters replyWaiters
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// replyWaiters are the callers waiting for a reply, by correlation id.
type replyWaiters struct {
	mu sync.Mutex
	m  map[string]chan []byte
}

// add registers a caller waiting for id's reply; the channel receives the
// reply's value once.
func (w *replyWaiters) add(id string) chan []byte {
	ch := make(chan []byte, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = make(map[string]chan []byte)
	}
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

// forget drops id's caller, who no longer waits.
func (w *replyWaiters) forget(id string) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// consume polls cl's reply records until ctx ends and hands each to the
// caller named by its header, if one waits.
func (w *replyWaiters) consume(ctx context.Context, cl *kgo.Client, header string) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key != header {
					continue
				}
				w.mu.Lock()
				ch := w.m[string(h.Value)]
				delete(w.m, string(h.Value))
				w.mu.Unlock()
				if ch != nil {
					ch <- r.Value
				}
			}
		})
	}
}

// corrHeader carries the correlation id of the raw round trip.
const corrHeader = "corr"

func newRawRoundTrip(ctx context.Context, brokers, reqTopic, repTopic string) (*rawRoundTrip, error) {
	rt := &rawRoundTrip{reqTopic: reqTopic, repTopic: repTopic}
	base := producerOpts(brokers)
	var err error
	if rt.prod, err = kgo.NewClient(base...); err != nil {
		return nil, err
	}
	for _, t := range []string{reqTopic, repTopic} {
		if err := ensureTopic(ctx, rt.prod, t, 3); err != nil {
			rt.prod.Close()
			return nil, err
		}
	}
	atEnd := kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd())
	if rt.echo, err = kgo.NewClient(append(base, kgo.ConsumeTopics(reqTopic), atEnd)...); err != nil {
		rt.prod.Close()
		return nil, err
	}
	if rt.replies, err = kgo.NewClient(append(base, kgo.ConsumeTopics(repTopic), atEnd)...); err != nil {
		rt.prod.Close()
		rt.echo.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	rt.done.Add(2)
	go rt.echoLoop(runCtx)
	go rt.replyLoop(runCtx)
	// The consumers start at the end once they have resolved it: wait
	// until a round trip makes it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		out := rt.op(c)
		cancel()
		if out == "" {
			return rt, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			rt.close()
			return nil, fmt.Errorf("raw round trip not answering: %s", out)
		}
	}
}

// echoLoop answers every request on the reply topic.
func (rt *rawRoundTrip) echoLoop(ctx context.Context) {
	defer rt.done.Done()
	for ctx.Err() == nil {
		fs := rt.echo.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			rep := &kgo.Record{Topic: rt.repTopic, Key: r.Key, Value: r.Value, Headers: r.Headers}
			rt.echo.Produce(ctx, rep, nil)
		})
	}
}

// replyLoop wakes the caller of every reply.
func (rt *rawRoundTrip) replyLoop(ctx context.Context) {
	defer rt.done.Done()
	rt.waiters.consume(ctx, rt.replies, corrHeader)
}

var rawRequestBody = []byte(`{"customer_id":"c-1","amount":42}`)

// op is one round trip: register, produce (acked), wait for the reply.
func (rt *rawRoundTrip) op(ctx context.Context) string {
	id := strconv.FormatUint(rt.next.Add(1), 10)
	ch := rt.waiters.add(id)
	forget := func() { rt.waiters.forget(id) }
	r := &kgo.Record{Topic: rt.reqTopic, Value: rawRequestBody, Headers: []kgo.RecordHeader{{Key: corrHeader, Value: []byte(id)}}}
	if err := rt.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		forget()
		return "produce error"
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-ch:
		return ""
	case <-t.C:
		forget()
		return "timeout"
	case <-ctx.Done():
		forget()
		return "timeout"
	}
}

func (rt *rawRoundTrip) close() {
	rt.cancel()
	rt.done.Wait()
	rt.replies.Close()
	rt.echo.Close()
	rt.prod.Close()
}

// replyScenarios measures ferry's sync route: at 1,000 req/s against the
// raw round trip (latency deltas), and its highest rate with p99 under
// 10 ms against the minimal Fiber + franz-go publish handler's at the
// same bound, swept in lockstep; the raw round trip's max is swept once
// for information.
func (e *benchEnv) replyScenarios(ctx context.Context) ([]row, []string, error) {
	rt, err := newRawRoundTrip(ctx, e.brokers, "bench.raw.requests", "bench.raw.replies")
	if err != nil {
		return nil, nil, err
	}
	defer rt.close()
	ht, err := newHTTPTarget("POST", e.ferry.url+"/v1/quotes", rawRequestBody, 200, 512, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	if err := warmUp(ctx, ht); err != nil {
		return nil, nil, fmt.Errorf("sync route: %w", err)
	}

	const rate = 1000
	var d50, d99, ferry50, ferry99, raw50, raw99 spread
	var ferryErrors int64
	var details []string
	for round := range e.rounds {
		fmt.Fprintf(e.stderr, "request-reply at %d/s, round %d\n", rate, round+1)
		p := Plan{Rate: rate, Duration: 2 * e.step, Workers: 512}
		// The order turns each round: neither side always runs first.
		var f, r Result
		for k := range 2 {
			if (k+round)%2 == 0 {
				f = runOpenLoop(ctx, p, ht.op)
				fmt.Fprintf(e.stderr, "  %-16s %s\n", "ferry", f)
			} else {
				r = runOpenLoop(ctx, p, rt.op)
				fmt.Fprintf(e.stderr, "  %-16s %s\n", "raw round trip", r)
			}
		}
		ferryErrors += f.Errors()
		ferry50, ferry99, raw50, raw99 = append(ferry50, f.P(50)), append(ferry99, f.P(99)), append(raw50, r.P(50)), append(raw99, r.P(99))
		d50, d99 = append(d50, f.P(50)-r.P(50)), append(d99, f.P(99)-r.P(99))
		details = append(details, fmt.Sprintf("  round %d: ferry          %s", round+1, f), fmt.Sprintf("           raw round trip %s", r))
	}

	// The max rate at p99 < 10 ms is swept in lockstep against the issue's
	// baseline, the minimal Fiber + franz-go publish handler, given the
	// same body at the same bound: what an HTTP front end producing the
	// request costs before any reply comes back. A third side, the
	// minimal Fiber + franz-go request/reply handler answered by the same
	// responder, shows how much of the gap the round trip itself is.
	const p99 = 10 * time.Millisecond
	const ferry, kafka, rr = 0, 1, 2
	names := []string{ferry: "ferry", kafka: "Fiber+franz-go", rr: "Fiber+franz-go r/r"}
	kt, err := newHTTPTarget("POST", e.kafka.url+"/v1/orders", rawRequestBody, 202, 512, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	rrs, err := startBaseline(ctx, "kafka-reply", "--brokers", e.brokers, "--topic", "bench.quotes", "--reply-topic", "bench.baseline.replies")
	if err != nil {
		return nil, nil, err
	}
	defer rrs.stopProcess()
	rrt, err := newHTTPTarget("POST", rrs.url+"/v1/quotes", rawRequestBody, 200, 512, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	if err := warmUp(ctx, rrt); err != nil {
		return nil, nil, fmt.Errorf("request/reply baseline: %w", err)
	}
	run := func(op Op) func(float64) Result {
		return func(rate float64) Result {
			return runOpenLoop(ctx, Plan{Rate: rate, Duration: e.step, Workers: 512, Grace: 2 * time.Second}, op)
		}
	}
	rounds := e.jointRounds(ctx, "request-reply sweep", 1000, p99, names, []sweepSide{
		ferry: {run: run(ht.op), start: 2000},
		kafka: {run: run(kt.op), start: 2000},
		rr:    {run: run(rrt.op), start: 2000},
	})
	if err := rrs.gone(); err != nil {
		return nil, nil, err
	}
	ratio, ferryMax, kafkaMax := ratios(rounds, ferry, kafka), maxes(rounds, ferry), maxes(rounds, kafka)
	rrMax, rrShare, ofRR := maxes(rounds, rr), ratios(rounds, rr, kafka), ratios(rounds, ferry, rr)

	// For information only: the raw round trip's max at the same bound,
	// the Kafka part of a request-reply without HTTP, swept as many
	// rounds as the others (the first cold, the later ones from the
	// median max before them), after them: one sweep alone is as likely
	// to meet a stall of the shared machine as not.
	var rawMax spread
	for round := range e.rounds {
		fmt.Fprintf(e.stderr, "raw round trip sweep (information), round %d\n", round+1)
		sw := newSweeper(16000, rawMax.median(), p99)
		for i := 0; i < e.steps && !sw.done() && ctx.Err() == nil; i++ {
			r := run(rt.op)(sw.rate)
			fmt.Fprintf(e.stderr, "  %-16s %s\n", "raw round trip", r)
			sw.record(r)
			if !r.meets(p99) {
				time.Sleep(settle)
			}
		}
		rawMax = append(rawMax, sw.max())
	}
	if ratio.median() < 0.70 {
		e.bounds = append(e.bounds, replyBound(ferryMax.median(), kafkaMax.median(), rrMax.median(), rrShare, ofRR.median(), rawMax))
	}
	fixedVerdict := all(judge(d50, 0.3, true), judge(d99, 1, true))
	note := ""
	if ferryErrors > 0 {
		fixedVerdict, note = notMet, fmt.Sprintf("; ferry failed %d requests", ferryErrors)
	}
	rows := []row{
		{"request-reply at 1,000 req/s", "raw franz-go round trip: producer → echo consumer → reply consumer", "Δp50 ≤ 0.3 ms, Δp99 ≤ 1 ms",
			fmt.Sprintf("Δp50 %s, Δp99 %s (p50 %s vs %s, p99 %s vs %s)%s",
				d50.format("%+.2f", " ms"), d99.format("%+.2f", " ms"), ferry50.brief("%.2f", ""), raw50.brief("%.2f", " ms"), ferry99.brief("%.2f", ""), raw99.brief("%.2f", " ms"), note),
			fixedVerdict},
		{"request-reply max rate at p99 < 10 ms", "minimal Fiber handler calling franz-go on the same broker (publish, same body, same bound)", "≥ 0.70x its max rate",
			fmt.Sprintf("%s; max %s vs %s. For information, a minimal Fiber + franz-go request/reply handler answered by the same responder: max %s, %s of the publish handler; ferry %s of it",
				ratio.format("%.2f", "x"), ferryMax.brief("%.0f", "/s"), kafkaMax.brief("%.0f", "/s"), rrMax.brief("%.0f", "/s"), rrShare.brief("%.2f", "x"), ofRR.brief("%.2f", "x")),
			judge(ratio, 0.70, false)},
	}
	details = append([]string{fmt.Sprintf("request-reply at %d/s, interleaved rounds:", rate)}, details...)
	details = append(details, "request-reply max rate at p99 < 10 ms, ferry's sync route and the Fiber + franz-go publish handler swept in lockstep:", "  "+jointSummary(rounds, names, p99))
	details = append(details, roundLines(rounds, names)...)
	details = append(details, fmt.Sprintf("raw franz-go round trip (no HTTP, in the load tool), swept after them, for information: max %s at p99 < 10 ms", rawMax.format("%.0f", "/s")))
	return rows, details, nil
}

// warmUp sends requests to a request/reply route until one is answered:
// its responder's and its reply consumer's first fetches take a moment.
func warmUp(ctx context.Context, t *httpTarget) error {
	deadline := time.Now().Add(15 * time.Second)
	for out := t.op(ctx); out != ""; out = t.op(ctx) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not answering: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// replyBound says what bounds the request-reply max rate, from the
// sweep's medians (ferry's, the publish handler's and the request/reply
// handler's max, and ferry's share of the latter), the request/reply
// handler's share of the publish handler's max in each round, and the
// raw round trip's max in each of its rounds.
func replyBound(ferryMax, kafkaMax, rrMax float64, rrShare spread, ofRR float64, rawMax spread) string {
	s := fmt.Sprintf("request-reply max rate: ferry's sync route (%.0f/s at p99 < 10 ms, median) does what the Fiber + franz-go publish handler does (%.0f/s at the same bound): HTTP and one acked produce; then the reply comes back: the echo responder (`ferry respond --echo`, a process of its own on the same cores) consumes the request and produces the reply, and ferry consumes it and wakes the waiting request, which the publish handler never pays for.",
		ferryMax, kafkaMax)
	if len(rrShare) > 0 && kafkaMax > 0 {
		rr := fmt.Sprintf(" A minimal Fiber + franz-go request/reply handler doing only that, answered by the same responder on the same broker, reaches %.0f/s (median), %s of the publish handler", rrMax, rrShare.brief("%.2f", "x"))
		switch {
		case rrShare.max() < 0.70:
			s += rr + fmt.Sprintf(", under 0.70x in every round: no request/reply gateway reaches the goal on this machine, and ferry's sync route reaches %.2fx of that handler.", ofRR)
		case rrShare.min() >= 0.70:
			s += rr + fmt.Sprintf(", 0.70x or more in every round: the round trip leaves room for the goal, and ferry's sync route, at %.2fx of that handler, is the gap.", ofRR)
		default:
			s += rr + fmt.Sprintf(", on both sides of 0.70x over the rounds: whether any request/reply gateway reaches the goal here is within noise; ferry's sync route reaches %.2fx of that handler.", ofRR)
		}
	}
	raw := fmt.Sprintf(" The Kafka round trip alone, with no HTTP (raw franz-go round trip in the load tool), reaches %s", rawMax.brief("%.0f", "/s"))
	switch {
	case len(rawMax) == 0 || kafkaMax <= 0:
		return s
	case rawMax.max() < 0.70*kafkaMax:
		// Even its best round: a request-reply includes that round trip.
		return s + raw + fmt.Sprintf(", under 0.70x of the publish handler in every round (%.2fx at the median): no HTTP gateway in front of it reaches the goal on this machine.", rawMax.median()/kafkaMax)
	case rawMax.min() >= 0.70*kafkaMax:
		return s + raw + fmt.Sprintf(", %.2fx of the publish handler at the median and above 0.70x in every round: the round trip without HTTP leaves room for the goal.", rawMax.median()/kafkaMax)
	}
	return s + raw + fmt.Sprintf(", %.2fx of the publish handler at the median, on both sides of 0.70x over its rounds: whether the round trip itself leaves room for the goal is within noise here.", rawMax.median()/kafkaMax)
}
