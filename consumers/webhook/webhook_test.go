package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

const (
	topic = "orders.events"
	dlq   = "orders.webhooks.dlq"
)

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("k%02d", i)
	}
	return out
}

// checkKeyOrder fails unless, per key, the endpoint saw the records in
// produce order and a record's first attempt came only after the previous
// record of its key was answered 2xx.
func checkKeyOrder(t *testing.T, hits []hit) {
	t.Helper()
	type state struct {
		seq int
		ok  bool
	}
	last := make(map[string]state)
	for _, h := range hits {
		s, seen := last[h.key]
		switch {
		case !seen && h.seq != 0:
			t.Errorf("key %s: first request was seq %d, want 0", h.key, h.seq)
		case seen && h.seq < s.seq:
			t.Errorf("key %s: seq %d after seq %d", h.key, h.seq, s.seq)
		case seen && h.seq > s.seq && (!s.ok || h.seq != s.seq+1):
			t.Errorf("key %s: seq %d sent after seq %d (delivered: %v)", h.key, h.seq, s.seq, s.ok)
		}
		if !seen || h.seq != s.seq {
			s = state{seq: h.seq}
		}
		s.ok = s.ok || h.status/100 == 2
		last[h.key] = s
	}
}

// TestDeliversEveryRecordInKeyOrder: a real HTTP endpoint that fails the
// first two attempts of every fifth record and checks every signature gets
// every record at least once, each key's records in order (a key's next
// record waits for the previous one), different keys concurrently; every
// offset is committed in the end, and a record's attempts share one
// webhook-id.
func TestDeliversEveryRecordInKeyOrder(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 3, topic)
	var inFlight, most atomic.Int32
	ep := newEndpoint(t, func(h hit) int {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond) // let deliveries overlap
		if h.seq%5 == 0 && h.n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	n := produce(t, c, topic, keys(20), 15)
	obs := newCounter()
	start(t, c, Config{Name: "billing", Topic: topic, URL: ep.srv.URL + "/hooks/orders", MaxInFlight: 8,
		Retry:          RetryConfig{MaxAttempts: 5, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		CircuitBreaker: BreakerConfig{Failures: 1000}}, WithObserver(obs))

	awaitCommitted(t, c, "ferry-webhook-billing", topic)
	got := ep.delivered()
	if len(got) != n {
		t.Fatalf("%d records delivered, want %d", len(got), n)
	}
	checkKeyOrder(t, ep.snapshot())
	for _, h := range ep.snapshot() {
		if h.seq%5 == 0 && h.n == 3 && h.status != http.StatusOK {
			t.Errorf("record %s: third attempt answered %d", h.id, h.status)
		}
	}
	failing := 20 * 3 // seq 0, 5, 10 of 20 keys
	if obs.outcome(OutcomeDelivered) != n || obs.retries != 2*failing || obs.failures[FailureHTTP5xx] != 2*failing {
		t.Errorf("observed delivered=%d retries=%d 5xx=%d, want %d, %d, %d", obs.outcome(OutcomeDelivered), obs.retries, obs.failures[FailureHTTP5xx], n, 2*failing, 2*failing)
	}
	if m := most.Load(); m < 2 || m > 8 {
		t.Errorf("at most %d requests at once, want between 2 and max_in_flight 8", m)
	}
}

// TestBreakerOpensAndPauses: an endpoint that is down opens the breaker
// after circuit_breaker.failures attempts in a row; the topic's fetching
// is paused, /readyz's check reports it, and only probes reach the
// endpoint, which cost the record no attempt: with max_attempts 3 and a
// dead-letter topic, nothing is dead-lettered however long the outage.
// When the endpoint answers again the probe closes the breaker, fetching
// resumes, and every record is delivered.
func TestBreakerOpensAndPauses(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 1, topic, dlq)
	ep, down := downEndpoint(t, http.StatusServiceUnavailable)
	n := produce(t, c, topic, keys(3), 2)
	w := start(t, c, Config{Name: "billing", Topic: topic, URL: ep.srv.URL, MaxInFlight: 1, DeadLetterTopic: dlq,
		Retry:          RetryConfig{MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		CircuitBreaker: BreakerConfig{Failures: 2, OpenFor: 100 * time.Millisecond}})

	// Open, fetching paused, and /readyz's check saying why, all at once
	// (the breaker half-opens every open_for, to probe).
	topicstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if w.Breaker() != BreakerOpen {
			return fmt.Errorf("breaker %d, want open", w.Breaker())
		}
		if paused := w.cl.PauseFetchTopics(); !slices.Equal(paused, []string{topic}) {
			return fmt.Errorf("paused topics = %v, want [%s]", paused, topic)
		}
		if err := w.Check(context.Background()); !errors.Is(err, ErrEndpointDown) || !strings.Contains(err.Error(), "503 Service Unavailable") {
			return fmt.Errorf("Check = %v, want ErrEndpointDown naming the last failure", err)
		}
		return nil
	})
	// Wait out six probes: with max_attempts 3 a counted retry would
	// dead-letter the record.
	opened := time.Now()
	topicstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if k := len(ep.snapshot()); k < 2+6 {
			return fmt.Errorf("%d requests, want 2 failures and 6 probes", k)
		}
		return nil
	})
	probes := len(ep.snapshot()) - 2
	if most := int(time.Since(opened)/(100*time.Millisecond)) + 2; probes > most {
		t.Errorf("%d probes in %v, want at most one per open_for (100ms): %d", probes, time.Since(opened), most)
	}
	down.Store(false)
	awaitCommitted(t, c, "ferry-webhook-billing", topic)
	if got := len(ep.delivered()); got != n {
		t.Errorf("%d records delivered, want %d", got, n)
	}
	if k := topicstest.Count(t, c, dlq); k != 0 {
		t.Errorf("%d records dead-lettered during the outage, want 0", k)
	}
	if w.Breaker() != BreakerClosed || w.Check(context.Background()) != nil {
		t.Errorf("breaker %d, Check %v; want closed, nil", w.Breaker(), w.Check(context.Background()))
	}
	if paused := w.cl.PauseFetchTopics(); len(paused) != 0 {
		t.Errorf("paused topics = %v after the breaker closed", paused)
	}
	checkKeyOrder(t, ep.snapshot())
}

// TestDeadLetterAfterMaxAttempts: a record the endpoint keeps refusing is
// written to the dead-letter topic after retry.max_attempts, one answered
// 410 Gone at once, each with headers saying why and where it came from;
// the others are delivered and every offset is committed.
func TestDeadLetterAfterMaxAttempts(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 3, topic, dlq)
	ep := newEndpoint(t, func(h hit) int {
		switch h.key {
		case "bad":
			return http.StatusBadRequest
		case "gone":
			return http.StatusGone
		}
		return http.StatusOK
	})
	produce(t, c, topic, []string{"good", "bad", "gone"}, 2, kgo.RecordHeader{Key: "ce_type", Value: []byte("order.created")})
	obs := newCounter()
	start(t, c, Config{Name: "billing", Topic: topic, URL: ep.srv.URL, DeadLetterTopic: dlq,
		Retry: RetryConfig{MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}}, WithObserver(obs))

	awaitCommitted(t, c, "ferry-webhook-billing", topic)
	recs := topicstest.Read(t, c, dlq, 4, 10*time.Second)
	if len(recs) != 4 {
		t.Fatalf("%d dead-letter records, want 4", len(recs))
	}
	src := topicstest.Read(t, c, topic, 6, 30*time.Second)
	if len(src) != 6 {
		t.Fatalf("read %d source records, want 6", len(src))
	}
	for _, r := range recs {
		h := make(map[string]string)
		for _, rh := range r.Headers {
			h[rh.Key] = string(rh.Value)
		}
		want := map[string]string{HeaderDLQWebhook: "billing", HeaderDLQReason: ReasonExhausted, HeaderDLQAttempts: "3",
			HeaderDLQStatus: "400", HeaderDLQError: "400 Bad Request: nope", HeaderDLQTopic: topic, "ce_type": "order.created"}
		if string(r.Key) == "gone" {
			want[HeaderDLQReason], want[HeaderDLQAttempts], want[HeaderDLQStatus], want[HeaderDLQError] = ReasonGone, "1", "410", "410 Gone"
		}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("dead-letter record %s: header %s = %q, want %q", r.Key, k, h[k], v)
			}
		}
		// The original position names the source record: same key, same value.
		found := false
		for _, s := range src {
			if fmt.Sprint(s.Partition) == h[HeaderDLQPartition] && fmt.Sprint(s.Offset) == h[HeaderDLQOffset] {
				found = string(s.Key) == string(r.Key) && string(s.Value) == string(r.Value)
			}
		}
		if !found {
			t.Errorf("dead-letter record %s names %s/%s, which is not the same record", r.Key, h[HeaderDLQPartition], h[HeaderDLQOffset])
		}
	}
	if got := ep.delivered(); len(got) != 2 {
		t.Errorf("%d records delivered, want the 2 good ones", len(got))
	}
	if obs.outcome(OutcomeDeadLettered) != 4 || obs.failures[FailureGone] != 2 || obs.failures[FailureHTTP4xx] != 6 {
		t.Errorf("observed %+v %+v", obs.outcomes, obs.failures)
	}
}

// TestNoDeadLetterTopicKeepsRetrying: without a dead-letter topic a record
// whose attempts are exhausted is not skipped: it is retried until the
// endpoint takes it, its offset stays uncommitted meanwhile (the lag shows
// it), and nothing is lost.
func TestNoDeadLetterTopicKeepsRetrying(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 1, topic)
	ep, refuse := downEndpoint(t, http.StatusBadRequest)
	produce(t, c, topic, []string{"k"}, 1)
	w := start(t, c, Config{Name: "billing", Topic: topic, URL: ep.srv.URL,
		Retry: RetryConfig{MaxAttempts: 2, Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}})
	topicstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if k := len(ep.snapshot()); k < 5 {
			return fmt.Errorf("%d attempts, want more than max_attempts", k)
		}
		if w.Lag() != 1 {
			return fmt.Errorf("Lag() = %d, want 1", w.Lag())
		}
		return nil
	})
	refuse.Store(false)
	awaitCommitted(t, c, "ferry-webhook-billing", topic)
	if got := ep.delivered(); len(got) != 1 {
		t.Errorf("delivered %v, want the record once", got)
	}
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if w.Lag() != 0 {
			return fmt.Errorf("Lag() = %d, want 0", w.Lag())
		}
		return nil
	})
}

// TestFiltersCommitWithoutDelivery: a record that matches no filter is
// committed without a request.
func TestFiltersCommitWithoutDelivery(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 1, topic)
	ep := newEndpoint(t, nil)
	cl := topicstest.Client(t, c)
	for i, typ := range []string{"order.created", "order.cancelled", "order.created"} {
		rec := &kgo.Record{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, `{"key":"k","seq":%d}`, i),
			Headers: []kgo.RecordHeader{{Key: "ce_type", Value: []byte(typ)}}}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	obs := newCounter()
	start(t, c, Config{Name: "billing", Topic: topic, URL: ep.srv.URL, Filters: []string{"header.ce_type=order.created"}}, WithObserver(obs))
	awaitCommitted(t, c, "ferry-webhook-billing", topic)
	var seqs []int
	for _, h := range ep.snapshot() {
		seqs = append(seqs, h.seq)
	}
	if !slices.Equal(seqs, []int{0, 2}) {
		t.Errorf("delivered seqs %v, want [0 2]", seqs)
	}
	if obs.outcome(OutcomeFiltered) != 1 || obs.outcome(OutcomeDelivered) != 2 {
		t.Errorf("outcomes %v, want 1 filtered, 2 delivered", obs.outcomes)
	}
}

// TestShutdownAbandonsWithoutCommit: a delivery still in flight when the
// grace period ends is cut short and left uncommitted, so the next member
// of the group delivers the record again.
func TestShutdownAbandonsWithoutCommit(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 1, topic)
	release := make(chan struct{})
	var hang atomic.Bool
	hang.Store(true)
	ep := newEndpoint(t, func(hit) int {
		if hang.Load() {
			<-release
		}
		return http.StatusOK
	})
	defer close(release)
	produce(t, c, topic, []string{"k"}, 1)
	cfg := Config{Name: "billing", Topic: topic, URL: ep.srv.URL, SecretFile: secretFile(t)}
	w, err := New(cfg, base(c), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	topicstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if ep.requests() == 0 {
			return errors.New("no request yet")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := w.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("Shutdown took %v with a 100ms grace period", d)
	}
	if l, err := lag(t, c, cfg.GroupID(), topic); err != nil || l != 1 {
		t.Errorf("lag after an abandoned delivery = %d, %v; want 1 (uncommitted)", l, err)
	}
	hang.Store(false)
	start(t, c, cfg)
	awaitCommitted(t, c, cfg.GroupID(), topic)
	if got := ep.delivered(); len(got) != 1 {
		t.Errorf("delivered %v, want the record by the second member", got)
	}
}

// TestTwoMembersShareTheRecords: two webhooks of the same name (two ferry
// instances) form one group: each record is delivered once, by one of
// them.
func TestTwoMembersShareTheRecords(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 4, topic)
	ep := newEndpoint(t, nil)
	cfg := Config{Name: "billing", Topic: topic, URL: ep.srv.URL, SecretFile: secretFile(t)}
	start(t, c, cfg)
	start(t, c, cfg)
	adm := kadm.NewClient(topicstest.Client(t, c))
	topicstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		gs, err := adm.DescribeGroups(context.Background(), cfg.GroupID())
		if err != nil {
			return err
		}
		g := gs[cfg.GroupID()]
		if g.State != "Stable" || len(g.Members) != 2 {
			return fmt.Errorf("group %s with %d members, want Stable with 2", g.State, len(g.Members))
		}
		for _, m := range g.Members {
			if a, ok := m.Assigned.AsConsumer(); !ok || len(a.Topics) == 0 || len(a.Topics[0].Partitions) != 2 {
				return fmt.Errorf("member %s assigned %v, want 2 partitions", m.MemberID, m.Assigned)
			}
		}
		return nil
	})
	n := produce(t, c, topic, keys(10), 20)
	awaitCommitted(t, c, cfg.GroupID(), topic)
	got := ep.delivered()
	if len(got) != n {
		t.Fatalf("%d records delivered, want %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Errorf("record %s delivered %d times, want once", id, k)
		}
	}
}

// TestBreakerRecoversWithNothingPending: the breaker opens on the last
// record's final attempt, which is dead-lettered, so no delivery is left
// to probe the endpoint; once open_for has passed, fetching resumes anyway
// and the next record probes and closes the breaker.
func TestBreakerRecoversWithNothingPending(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/consumers/webhook.")
	c := topicstest.Cluster(t, 1, topic, dlq)
	ep, down := downEndpoint(t, http.StatusServiceUnavailable)
	produce(t, c, topic, []string{"a"}, 1)
	w := start(t, c, Config{Name: "billing", Topic: topic, URL: ep.srv.URL, DeadLetterTopic: dlq,
		Retry:          RetryConfig{MaxAttempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
		CircuitBreaker: BreakerConfig{Failures: 2, OpenFor: 100 * time.Millisecond}})
	awaitCommitted(t, c, "ferry-webhook-billing", topic)
	if k := topicstest.Count(t, c, dlq); k != 1 {
		t.Fatalf("%d records dead-lettered, want 1", k)
	}
	down.Store(false)
	produce(t, c, topic, []string{"b"}, 1)
	awaitCommitted(t, c, "ferry-webhook-billing", topic)
	if got := ep.delivered(); len(got) != 1 {
		t.Errorf("delivered %v, want the second record", got)
	}
	if w.Breaker() != BreakerClosed {
		t.Errorf("breaker %d, want closed", w.Breaker())
	}
}
