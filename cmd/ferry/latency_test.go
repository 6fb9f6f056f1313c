package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/topics"
)

// BenchmarkReplyLatency measures request/reply latency at a fixed arrival
// rate (open loop: a request starts every 1/rate whether or not earlier ones
// finished) on one kfake broker, in the same run:
//
//   - raw: franz-go only: register a channel, produce the request and wait
//     for its acknowledgement, an echo consumer produces the reply, a reply
//     consumer hands it to the channel;
//   - ferry: HTTP POST to a request/response route, ingress, correlator
//     (shared layout), the consumers SDK echo responder, the HTTP response;
//   - http: GET /healthz on the same server, the share of HTTP itself
//     (net/http client, fasthttp server) in ferry's overhead.
//
// It reports p50/p99/p999 of each in µs and the p99 overhead of ferry.
// FERRY_LATENCY_N (default 3000) and FERRY_LATENCY_RATE (default 1000/s) set
// the load. Run without -race:
//
//	go test -run '^$' -bench ReplyLatency -benchtime 1x ./cmd/ferry/
func BenchmarkReplyLatency(b *testing.B) {
	n := envInt("FERRY_LATENCY_N", 3000)
	rate := envInt("FERRY_LATENCY_RATE", 1000)
	e := newEnv(b)
	in := e.start(b, instanceOpts{layout: correlator.LayoutShared, maxPending: 100000})
	e.echo(b, nil)
	raw := newRawRoundTrip(b, e)

	body := `{"symbol":"ACME","qty":10,"note":"a quote request of about one hundred bytes....."}`
	ferryOnce := func() (time.Duration, error) {
		start := time.Now()
		r, err := doErr("POST", in.url+"/v1/quotes", body)
		if err == nil && (r.status != 200 || r.body != body) {
			err = fmt.Errorf("got %s", r)
		}
		return time.Since(start), err
	}
	rawOnce := func() (time.Duration, error) { return raw.once([]byte(body)) }

	// Warm up both paths: connections, metadata, the responder's group.
	for range 200 {
		if _, err := ferryOnce(); err != nil {
			b.Fatal(err)
		}
		if _, err := rawOnce(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		rawLat := paced(b, n, rate, rawOnce)
		ferryLat := paced(b, n, rate, ferryOnce)
		httpLat := paced(b, n, rate, func() (time.Duration, error) {
			start := time.Now()
			_, err := doErr("GET", in.url+"/healthz", "")
			return time.Since(start), err
		})
		q := func(l []time.Duration, p float64) float64 {
			return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds())
		}
		b.ReportMetric(q(rawLat, 0.50), "raw-p50-µs")
		b.ReportMetric(q(rawLat, 0.99), "raw-p99-µs")
		b.ReportMetric(q(rawLat, 0.999), "raw-p999-µs")
		b.ReportMetric(q(ferryLat, 0.50), "ferry-p50-µs")
		b.ReportMetric(q(ferryLat, 0.99), "ferry-p99-µs")
		b.ReportMetric(q(ferryLat, 0.999), "ferry-p999-µs")
		b.ReportMetric(q(ferryLat, 0.99)-q(rawLat, 0.99), "overhead-p99-µs")
		b.ReportMetric(q(httpLat, 0.50), "http-p50-µs")
		b.ReportMetric(q(httpLat, 0.99), "http-p99-µs")
		b.Logf("%d requests at %d/s: raw p50 %.0fµs p99 %.0fµs p999 %.0fµs | ferry p50 %.0fµs p99 %.0fµs p999 %.0fµs | http only p50 %.0fµs p99 %.0fµs",
			n, rate, q(rawLat, .5), q(rawLat, .99), q(rawLat, .999), q(ferryLat, .5), q(ferryLat, .99), q(ferryLat, .999), q(httpLat, .5), q(httpLat, .99))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// paced starts n calls of f at rate per second and returns their
// latencies, sorted.
func paced(b *testing.B, n, rate int, f func() (time.Duration, error)) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			d, err := f()
			if err != nil {
				b.Error(err)
			}
			lat[i] = d
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat
}

// rawRoundTrip is request/reply with franz-go alone.
type rawRoundTrip struct {
	prod    *kgo.Client
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

func newRawRoundTrip(b testing.TB, e *env) *rawRoundTrip {
	b.Helper()
	rt := &rawRoundTrip{prod: e.client(b), waiting: make(map[string]chan struct{})}
	echo := e.client(b, kgo.ConsumeTopics(rawRequests), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	replies := e.client(b, kgo.ConsumeTopics(rawReplies), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { // the echo consumer
		for {
			fs := echo.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				id, to, _ := topics.ReplyAddress(r.Headers)
				echo.Produce(ctx, &kgo.Record{Topic: to.Topic, Value: r.Value,
					Headers: []kgo.RecordHeader{{Key: topics.HeaderCorrelationID, Value: id}}}, nil)
			})
		}
	})
	wg.Go(func() { // the reply consumer
		for {
			fs := replies.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				id, _, _ := topics.ReplyAddress(append(r.Headers, kgo.RecordHeader{Key: topics.HeaderReplyTopic, Value: []byte("x")}))
				rt.mu.Lock()
				ch := rt.waiting[string(id)]
				delete(rt.waiting, string(id))
				rt.mu.Unlock()
				if ch != nil {
					close(ch)
				}
			})
		}
	})
	b.Cleanup(func() { cancel(); wg.Wait() })
	return rt
}

// once is one round trip, the way ferry does it: register, produce and wait
// for the acknowledgement, then wait for the reply.
func (rt *rawRoundTrip) once(body []byte) (time.Duration, error) {
	start := time.Now()
	id := topics.NewEventID()
	ch := make(chan struct{})
	rt.mu.Lock()
	rt.waiting[id] = ch
	rt.mu.Unlock()
	rec := &kgo.Record{Topic: rawRequests, Value: body, Headers: []kgo.RecordHeader{
		{Key: topics.HeaderCorrelationID, Value: []byte(id)}, {Key: topics.HeaderReplyTopic, Value: []byte(rawReplies)},
	}}
	if err := rt.prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		return 0, err
	}
	select {
	case <-ch:
		return time.Since(start), nil
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("raw: no reply to %s", id)
	}
}
