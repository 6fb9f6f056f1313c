package consumers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// The fan-out benchmarks publish records in rounds of roundSize and keep
// at most window rounds in flight: the publisher waits until every
// subscriber has received round r-window before it publishes round r. That
// measures throughput (Kafka's latency is hidden, as a busy stream hides
// it) while no subscriber falls a buffer behind.
const (
	roundSize = 64
	window    = 8
	chunk     = 16 // rounds run in turn by the system and by the baseline
)

// BenchmarkFanout measures deliveries per second (records × subscribers)
// with N subscribers, each reading in its own goroutine, against a
// baseline in the same run: a minimal in-process broadcaster, a buffered
// channel per subscriber and a blocking send of every record to each (no
// Kafka, no filters, no positions), the floor any fan-out pays. The system
// and the baseline run in turns of 16 rounds, so that both see the same
// machine (other work on it shifts both alike); "ratio" is the system's
// rate over the baseline's. The systems:
//
//   - hub: the hub's fan-out (ring, positions, ids, wake-ups), records
//     published one at a time, as the baseline sends them;
//   - hub/batch=64: records published 64 at a time, as the live consumer
//     publishes a poll;
//   - hub+filter: every subscriber with a key filter and a header match
//     (tenant isolation) that every record passes;
//   - hub+kafka: records produced to an in-process Kafka (kfake over TCP)
//     and consumed by the hub's live consumer, with those filters.
//
// Run: go test -run '^$' -bench Fanout -benchtime 4000x ./consumers
func BenchmarkFanout(b *testing.B) {
	match := Filter{Key: "k", ByKey: true}.WithHeader("tenant", "a")
	for _, n := range []int{1, 10, 100, 1000} {
		for _, sys := range []struct {
			name  string
			start func(b *testing.B, n int) fanout
		}{
			{"hub", func(b *testing.B, n int) fanout { return startHubFanout(b, n, 1, Filter{}) }},
			{"hub/batch=64", func(b *testing.B, n int) fanout { return startHubFanout(b, n, roundSize, Filter{}) }},
			{"hub+filter", func(b *testing.B, n int) fanout { return startHubFanout(b, n, 1, match) }},
			{"hub+kafka", func(b *testing.B, n int) fanout { return startKafkaFanout(b, n, match) }},
		} {
			b.Run(fmt.Sprintf("subs=%d/%s", n, sys.name), func(b *testing.B) {
				count := max(b.N/roundSize, chunk)
				base := startBaseline(b, n, count)
				defer base.stop()
				f := sys.start(b, n)
				f.prepare(count)
				defer f.stop()
				var tBase, tSys time.Duration
				b.ResetTimer()
				for done := 0; done < count; done += chunk {
					k := min(chunk, count-done)
					t0 := time.Now()
					base.run(b, done, k)
					tBase += time.Since(t0)
					t0 = time.Now()
					f.run(b, done, k)
					tSys += time.Since(t0)
				}
				b.StopTimer()
				deliveries := float64(count * roundSize * n)
				b.ReportMetric(deliveries/tSys.Seconds(), "deliveries/s")
				b.ReportMetric(deliveries/tBase.Seconds(), "baseline-deliveries/s")
				b.ReportMetric(tBase.Seconds()/tSys.Seconds(), "ratio")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// fanout is a system under benchmark: it publishes rounds to subscribers
// that count them in a rounds tracker.
type fanout interface {
	prepare(count int)
	run(b *testing.B, from, k int) // publish rounds [from, from+k) and wait for them
	stop()
}

// rounds tracks, for each round, how many subscribers received all of it.
type rounds struct {
	n      int32
	counts []atomic.Int32
	done   []chan struct{}
}

func newRounds(count, n int) *rounds {
	r := &rounds{n: int32(n), counts: make([]atomic.Int32, count), done: make([]chan struct{}, count)}
	for i := range r.done {
		r.done[i] = make(chan struct{})
	}
	return r
}

// counter returns the per-delivery callback of one subscriber.
func (r *rounds) counter() func() {
	got, round := 0, 0
	return func() {
		if got++; got == roundSize {
			got = 0
			if r.counts[round].Add(1) == r.n {
				close(r.done[round])
			}
			round++
		}
	}
}

func (r *rounds) wait(b *testing.B, i int) {
	select {
	case <-r.done[i]:
	case <-time.After(30 * time.Second):
		b.Fatalf("round %d not received by every subscriber in 30s", i)
	}
}

// publishRounds publishes rounds [from, from+k), keeping at most window
// in flight, and waits for the last.
func publishRounds(b *testing.B, r *rounds, from, k int, publish func()) {
	for i := from; i < from+k; i++ {
		if i-window >= from {
			r.wait(b, i-window)
		}
		publish()
	}
	r.wait(b, from+k-1)
}

func benchEvent(p int32, off int64) *Event {
	return &Event{Partition: p, Offset: off, Key: []byte("k"), Value: []byte(`{"order":42}`),
		Headers: []topics.Header{{Key: "tenant", Value: []byte("a")}}}
}

// baseline is the minimal broadcaster.
type baseline struct {
	r     *rounds
	chans []chan *Event
	off   [3]int64
	done  sync.WaitGroup
}

func startBaseline(b *testing.B, n, count int) *baseline {
	bl := &baseline{r: newRounds(count, n), chans: make([]chan *Event, n)}
	for i := range bl.chans {
		ch := make(chan *Event, roundSize*window)
		bl.chans[i] = ch
		bl.done.Go(func() {
			delivered := bl.r.counter()
			for range ch {
				delivered()
			}
		})
	}
	return bl
}

func (bl *baseline) run(b *testing.B, from, k int) {
	publishRounds(b, bl.r, from, k, func() {
		for i := range roundSize {
			p := int32(i % 3)
			e := benchEvent(p, bl.off[p])
			bl.off[p]++
			for _, ch := range bl.chans {
				ch <- e
			}
		}
	})
}

func (bl *baseline) stop() {
	for _, ch := range bl.chans {
		close(ch)
	}
	bl.done.Wait()
}

// nopHistory is a Kafka with nothing older than the live feed.
type nopHistory struct{}

func (nopHistory) offsets(context.Context, string, int64) (Cursor, error) {
	return Cursor{0, 0, 0}, nil
}

func (nopHistory) read(context.Context, string, map[int32]int64) ([]*Event, map[int32]int64, error) {
	return nil, nil, nil
}

// hubFanout runs subscribers of a hub, fed directly or through Kafka.
type hubFanout struct {
	hub     *Hub
	n       int
	filter  Filter
	r       *rounds
	publish func()
	flush   func() // waits for what publish started, if anything
	done    sync.WaitGroup
}

func (hf *hubFanout) prepare(count int) {
	hf.r = newRounds(count, hf.n)
	for range hf.n {
		s, err := hf.hub.Subscribe(context.Background(), "s", StartLatest(), hf.filter)
		if err != nil {
			panic(err)
		}
		hf.done.Go(func() {
			defer s.Close()
			delivered := hf.r.counter()
			buf := make([]Delivery, 0, maxBatch)
			for {
				ds, err := s.Fetch(context.Background(), buf[:0])
				if err != nil {
					if err != ErrClosed {
						panic(err)
					}
					return
				}
				for range ds {
					delivered()
				}
				if len(ds) == 0 {
					select {
					case <-s.Wait():
					case <-s.Done():
					}
				}
			}
		})
	}
}

func (hf *hubFanout) run(b *testing.B, from, k int) { publishRounds(b, hf.r, from, k, hf.publish) }

func (hf *hubFanout) stop() {
	if hf.flush != nil {
		hf.flush()
	}
	hf.hub.Close()
	hf.done.Wait()
}

func startHubFanout(_ *testing.B, n, batch int, filter Filter) fanout {
	h := newHub(HubConfig{Buffer: 4096, History: 4096}, []topics.StreamConfig{{Name: "s", Topic: "t"}}, nopHistory{}, discard())
	f := h.set.Load().feeds["t"]
	f.start(Cursor{0, 0, 0})
	var off [3]int64
	evs := make([]*Event, 0, batch)
	return &hubFanout{hub: h, n: n, filter: filter, publish: func() {
		for i := range roundSize {
			p := int32(i % 3)
			evs = append(evs, benchEvent(p, off[p]))
			off[p]++
			if len(evs) == batch {
				f.publish(evs)
				evs = evs[:0]
			}
		}
	}}
}

func startKafkaFanout(b *testing.B, n int, filter Filter) fanout {
	k := startKafkaHub(b, HubConfig{Buffer: 4096, History: 4096}, 3, topics.StreamConfig{Name: "s", Topic: "t"})
	ctx := context.Background()
	return &hubFanout{hub: k.hub, n: n, filter: filter, flush: func() { _ = k.prod.Flush(ctx) }, publish: func() {
		for i := range roundSize {
			rec := &kgo.Record{Topic: "t", Partition: int32(i % 3), Key: []byte("k"), Value: []byte(`{"order":42}`),
				Headers: []kgo.RecordHeader{{Key: "tenant", Value: []byte("a")}}}
			k.prod.Produce(ctx, rec, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Errorf("produce: %v", err)
				}
			})
		}
	}}
}
