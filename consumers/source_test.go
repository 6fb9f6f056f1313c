package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// connCounter counts the broker connections a client opens.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		c.n.Add(1)
	}
}

// kafkaHub runs a hub over a kfake cluster and returns it with a producer
// client.
type kafkaHub struct {
	hub     *Hub
	cluster *kfake.Cluster
	prod    *kgo.Client
	conns   *connCounter
}

func startKafkaHub(tb testing.TB, cfg HubConfig, parts int32, streams ...topics.StreamConfig) *kafkaHub {
	tb.Helper()
	seen := map[string]bool{}
	var names []string
	for _, s := range streams {
		if !seen[s.Topic] {
			seen[s.Topic] = true
			names = append(names, s.Topic)
		}
	}
	c := topicstest.Cluster(tb, parts, names...)
	conns := &connCounter{}
	live := topicstest.Client(tb, c, kgo.WithHooks(conns))
	reader := topicstest.Client(tb, c, kgo.WithHooks(conns))
	h := NewHub(cfg, streams, live, reader, WithLogger(testLogger()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	tb.Cleanup(func() {
		h.Close()
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	topicstest.Eventually(tb, 5*time.Second, 5*time.Millisecond, func() error { return h.Check(ctx) })
	return &kafkaHub{hub: h, cluster: c, prod: topicstest.Client(tb, c, kgo.ProducerLinger(0)), conns: conns}
}

func testLogger() *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return discard().log
}

// waitPublished waits until the hub has published n records of topic.
func (k *kafkaHub) waitPublished(tb testing.TB, topic string, n int64) {
	tb.Helper()
	f := k.hub.set.Load().feeds[topic]
	topicstest.Eventually(tb, 5*time.Second, 5*time.Millisecond, func() error {
		f.mu.RLock()
		defer f.mu.RUnlock()
		var sum int64
		for _, o := range f.pos {
			sum += o
		}
		if sum < n {
			return fmt.Errorf("hub published %d of %d records", sum, n)
		}
		return nil
	})
}

// produce writes n records to topic, spread over its partitions, with
// values "tag-i" and keys "k{i%3}".
func (k *kafkaHub) produce(tb testing.TB, topic, tag string, n int) {
	tb.Helper()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%3)), Value: []byte(fmt.Sprintf("%s-%d", tag, i)),
			Headers: []kgo.RecordHeader{{Key: topics.HeaderType, Value: []byte("t." + tag)}}}
	}
	if err := k.prod.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

// collect reads s until it has n deliveries or timeout passes.
func collect(tb testing.TB, s *Subscription, n int, timeout time.Duration) []Delivery {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []Delivery
	for len(out) < n {
		ds, err := s.Fetch(ctx, nil)
		if err != nil {
			tb.Fatalf("Fetch after %d of %d: %v", len(out), n, err)
		}
		out = append(out, ds...)
		if len(ds) > 0 {
			continue
		}
		select {
		case <-s.Wait():
		case <-ctx.Done():
			tb.Fatalf("got %d of %d deliveries in %v", len(out), n, timeout)
		}
	}
	return out
}

func distinct(tb testing.TB, ds []Delivery) map[string]bool {
	tb.Helper()
	m := make(map[string]bool, len(ds))
	for _, d := range ds {
		if m[string(d.Value)] {
			tb.Errorf("%s delivered twice", d.Value)
		}
		m[string(d.Value)] = true
	}
	return m
}

func TestHubOnKafka(t *testing.T) {
	checkGoroutines(t)
	k := startKafkaHub(t, HubConfig{Buffer: 64, History: 64}, 3,
		topics.StreamConfig{Name: "events", Topic: "events"}, topics.StreamConfig{Name: "k1", Topic: "events"})
	ctx := context.Background()
	k.produce(t, "events", "old", 100) // before anyone subscribed
	k.waitPublished(t, "events", 100)

	live, err := k.hub.Subscribe(ctx, "events", StartLatest(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	onlyK1, err := k.hub.Subscribe(ctx, "k1", StartLatest(), Filter{Key: "k1", ByKey: true})
	if err != nil {
		t.Fatal(err)
	}
	defer onlyK1.Close()
	k.produce(t, "events", "new", 12)
	got := collect(t, live, 12, 5*time.Second)
	if m := distinct(t, got); len(m) != 12 || m["old-99"] {
		t.Errorf("latest subscriber got %v, want new-0..new-11", m)
	}
	if got[0].Type() != "t.new" {
		t.Errorf("Type() = %q, want t.new", got[0].Type())
	}
	for _, d := range collect(t, onlyK1, 4, 5*time.Second) {
		if string(d.Key) != "k1" {
			t.Errorf("key filter passed key %q", d.Key)
		}
	}

	// Earliest: 112 records, more than the ring holds, so they come
	// from Kafka first; then the subscriber joins the live feed.
	early, err := k.hub.Subscribe(ctx, "events", StartEarliest(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	first := collect(t, early, 30, 5*time.Second)
	k.produce(t, "events", "more", 40)
	rest := collect(t, early, 112+40-len(first), 5*time.Second)
	if m := distinct(t, append(first, rest...)); len(m) != 152 {
		t.Errorf("earliest subscriber got %d distinct records, want 152", len(m))
	}

	// Resume from the middle of the earliest subscriber's ids.
	c, err := ParseCursor(first[len(first)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	resumed, err := k.hub.Subscribe(ctx, "events", StartAfter(c), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	again := collect(t, resumed, len(rest), 5*time.Second)
	if diff := setDiff(distinct(t, rest), distinct(t, again)); diff != "" {
		t.Errorf("resumed subscriber: %s", diff)
	}

	// Time: every record is newer than a minute ago.
	recent, err := k.hub.Subscribe(ctx, "events", StartAt(time.Now().Add(-time.Minute)), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer recent.Close()
	if n := len(distinct(t, collect(t, recent, 152, 5*time.Second))); n != 152 {
		t.Errorf("from a minute ago: %d records, want 152", n)
	}
}

func setDiff(want, got map[string]bool) string {
	var missing, extra []string
	for v := range want {
		if !got[v] {
			missing = append(missing, v)
		}
	}
	for v := range got {
		if !want[v] {
			extra = append(extra, v)
		}
	}
	if len(missing)+len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("missing %v, extra %v", missing, extra)
}

// TestConnectionsDoNotGrowWithSubscribers subscribes many clients, live
// and catching up, and checks that the hub's clients opened no more broker
// connections than before.
func TestConnectionsDoNotGrowWithSubscribers(t *testing.T) {
	t.Parallel()
	k := startKafkaHub(t, HubConfig{Buffer: 16, History: 16}, 3, topics.StreamConfig{Name: "s", Topic: "t"})
	k.produce(t, "t", "x", 30)
	k.waitPublished(t, "t", 30)
	warm, _ := k.hub.Subscribe(context.Background(), "s", StartEarliest(), Filter{})
	collect(t, warm, 30, 5*time.Second)
	warm.Close()
	before := k.conns.n.Load()

	var wg sync.WaitGroup
	for i := range 200 {
		start := StartLatest()
		if i%2 == 0 {
			start = StartEarliest()
		}
		s, err := k.hub.Subscribe(context.Background(), "s", start, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		want := 10
		if i%2 == 0 {
			want = 40
		}
		wg.Go(func() {
			defer s.Close()
			collect(t, s, want, 10*time.Second)
		})
	}
	k.produce(t, "t", "y", 10)
	wg.Wait()
	if after := k.conns.n.Load(); after != before {
		t.Errorf("broker connections: %d before 200 subscribers, %d after", before, after)
	}
	if n := k.hub.Subscribers(); n != 0 {
		t.Errorf("Subscribers() = %d after every Close, want 0", n)
	}
}

func TestSubscribeBeforeTheTopicExists(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1)
	c2 := topicstest.Client(t, c)
	h := NewHub(HubConfig{}, []topics.StreamConfig{{Name: "s", Topic: "later"}}, topicstest.Client(t, c), c2, WithLogger(testLogger()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := h.Check(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check before the topic exists = %v, want ErrUnavailable", err)
	}
	sctx, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer scancel()
	if _, err := h.Subscribe(sctx, "s", StartLatest(), Filter{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Subscribe before the topic exists = %v, want ErrUnavailable", err)
	}
	if _, err := topics.NewAdmin(c2).Ensure(ctx, []string{"later"}, topics.TopicSpec{Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error { return h.Check(ctx) })
	h.Close()
	if _, err := h.Subscribe(ctx, "s", StartLatest(), Filter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
}
