package topics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

func testMessage(topic string) *topics.Message {
	return &topics.Message{Topic: topic, Key: []byte("k"), Value: []byte(`{}`), ID: topics.NewEventID(), Time: time.Now()}
}

func TestProduceStoresAndReportsPosition(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1, "orders")
	p := topics.NewProducer(topicstest.Client(t, c, kgo.ProducerLinger(0)), time.Second)
	for want := int64(0); want < 3; want++ {
		pos, err := p.Produce(context.Background(), testMessage("orders"))
		if err != nil {
			t.Fatalf("Produce: %v", err)
		}
		if pos.Topic != "orders" || pos.Partition != 0 || pos.Offset != want || pos.Timestamp.IsZero() {
			t.Errorf("Produce = %+v, want orders/0 at offset %d", pos, want)
		}
	}
	if n := topicstest.Count(t, c, "orders"); n != 3 {
		t.Errorf("topic holds %d records, want 3", n)
	}
}

func TestProduceErrorsAreClassified(t *testing.T) {
	t.Parallel()
	t.Run("broker refuses until the deadline", func(t *testing.T) {
		t.Parallel()
		c := topicstest.Cluster(t, 1, "orders")
		topicstest.FailProduce(c, kerr.NotEnoughReplicas)
		p := topics.NewProducer(topicstest.Client(t, c, kgo.ProducerLinger(0)), 300*time.Millisecond)
		_, err := p.Produce(context.Background(), testMessage("orders"))
		if !errors.Is(err, topics.ErrTimeout) && !errors.Is(err, topics.ErrUnavailable) {
			t.Fatalf("Produce = %v, want ErrTimeout or ErrUnavailable", err)
		}
		if n := topicstest.Count(t, c, "orders"); n != 0 {
			t.Errorf("topic holds %d records after a failed produce, want 0", n)
		}
	})
	t.Run("record too large", func(t *testing.T) {
		t.Parallel()
		c := topicstest.Cluster(t, 1, "orders")
		m := testMessage("orders")
		m.Value = bytes.Repeat([]byte("a"), 1_000_100) // over franz-go's batch limit (1,000,012)
		_, err := topics.NewProducer(topicstest.Client(t, c), time.Second).Produce(context.Background(), m)
		if !errors.Is(err, topics.ErrTooLarge) || !errors.Is(err, topics.ErrRejected) {
			t.Fatalf("Produce of a record over the batch limit = %v, want ErrTooLarge and ErrRejected", err)
		}
		topicstest.FailProduce(c, kerr.MessageTooLarge) // the broker's own limit
		if _, err := topics.NewProducer(topicstest.Client(t, c), time.Second).Produce(context.Background(), testMessage("orders")); !errors.Is(err, topics.ErrTooLarge) {
			t.Fatalf("Produce refused by the broker as too large = %v, want ErrTooLarge", err)
		}
	})
	t.Run("client closed", func(t *testing.T) {
		t.Parallel()
		c := topicstest.Cluster(t, 1, "orders")
		cl := topicstest.Client(t, c)
		cl.Close()
		_, err := topics.NewProducer(cl, time.Second).Produce(context.Background(), testMessage("orders"))
		if !errors.Is(err, topics.ErrUnavailable) {
			t.Fatalf("Produce on a closed client = %v, want ErrUnavailable", err)
		}
	})
	t.Run("caller gave up", func(t *testing.T) {
		t.Parallel()
		c := topicstest.Cluster(t, 1, "orders")
		topicstest.FailProduce(c, kerr.NotEnoughReplicas)
		p := topics.NewProducer(topicstest.Client(t, c), time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := p.Produce(ctx, testMessage("orders")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Produce with a canceled context = %v, want context.Canceled", err)
		}
	})
}

func TestAdminEnsureAndMissing(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1)
	a := topics.NewAdmin(topicstest.Client(t, c))
	ctx := context.Background()
	missing, err := a.Missing(ctx, []string{"b", "a"})
	if err != nil || len(missing) != 2 || missing[0] != "a" {
		t.Fatalf("Missing = %v, %v; want [a b]", missing, err)
	}
	created, err := a.Ensure(ctx, []string{"a", "b"}, topics.TopicSpec{Partitions: 2, ReplicationFactor: 1, Retention: time.Hour})
	if err != nil || len(created) != 2 {
		t.Fatalf("Ensure = %v, %v; want both created", created, err)
	}
	if missing, err := a.Missing(ctx, []string{"a", "b"}); err != nil || len(missing) != 0 {
		t.Fatalf("Missing after Ensure = %v, %v; want none", missing, err)
	}
	if created, err := a.Ensure(ctx, []string{"a"}, topics.TopicSpec{Partitions: 2, ReplicationFactor: 1}); err != nil || len(created) != 0 {
		t.Fatalf("second Ensure = %v, %v; want nothing created", created, err)
	}
}

// TestProduceToRecreatedTopic: a topic deleted and recreated under a
// running gateway takes its records again. franz-go keeps the old topic
// ID, so without a purge every record fails with UNKNOWN_TOPIC_ID until a
// restart; concurrent requests that fail together purge once and all
// succeed, and each record is written once.
func TestProduceToRecreatedTopic(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 3, "orders")
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	p := topics.NewProducer(cl, 5*time.Second)
	ctx := context.Background()
	if _, err := p.Produce(ctx, testMessage("orders")); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(topicstest.Client(t, c))
	if _, err := adm.DeleteTopics(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := p.Produce(ctx, testMessage("orders"))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Produce after the topic was recreated = %v, want it stored", err)
		}
	}
	if got := topicstest.Count(t, c, "orders"); got != n {
		t.Errorf("recreated topic holds %d records, want %d (each once)", got, n)
	}
}

// TestProduceEach: the messages of a batch are written together, each
// with its own position in order (nil ones skipped); a broker that refuses
// until the deadline fails each of them, classified as Produce does.
func TestProduceEach(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1, "orders")
	p := topics.NewProducer(topicstest.Client(t, c, kgo.ProducerLinger(0)), time.Second)
	msgs := []*topics.Message{testMessage("orders"), nil, testMessage("orders"), testMessage("orders")}
	pos, errs := p.ProduceEach(context.Background(), msgs)
	for i, want := range []int64{0, -1, 1, 2} {
		switch {
		case want < 0 && (errs[i] != nil || pos[i] != (topics.Position{})):
			t.Errorf("nil message %d: %+v, %v", i, pos[i], errs[i])
		case want >= 0 && (errs[i] != nil || pos[i].Topic != "orders" || pos[i].Offset != want || pos[i].Timestamp.IsZero()):
			t.Errorf("message %d: %+v, %v; want orders/0 at offset %d", i, pos[i], errs[i], want)
		}
	}
	if n := topicstest.Count(t, c, "orders"); n != 3 {
		t.Errorf("topic holds %d records, want 3", n)
	}

	failing := topicstest.Cluster(t, 1, "orders")
	topicstest.FailProduce(failing, kerr.NotEnoughReplicas)
	p = topics.NewProducer(topicstest.Client(t, failing, kgo.ProducerLinger(0)), 300*time.Millisecond)
	_, errs = p.ProduceEach(context.Background(), []*topics.Message{testMessage("orders"), testMessage("orders")})
	for i, err := range errs {
		if !errors.Is(err, topics.ErrTimeout) && !errors.Is(err, topics.ErrUnavailable) {
			t.Errorf("message %d against a refusing broker: %v, want ErrTimeout or ErrUnavailable", i, err)
		}
	}
}

// TestProduceUnresolved: a record the broker acknowledges only after the
// producer's timeout is answered ErrTimeout with an Unresolved, whose
// Wait then gives the position the broker stored it at; a record failed
// before it was sent (its request never went out) is ErrNotStored.
func TestProduceUnresolved(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1, "orders")
	var once sync.Once
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.DropControl()
		once.Do(func() { c.SleepControl(func() { time.Sleep(time.Second) }) })
		return nil, nil, false
	})
	p := topics.NewProducer(topicstest.Client(t, c, kgo.ProducerLinger(0)), 200*time.Millisecond)
	_, err := p.Produce(context.Background(), testMessage("orders"))
	var u *topics.Unresolved
	if !errors.Is(err, topics.ErrTimeout) || !errors.As(err, &u) {
		t.Fatalf("Produce with a late acknowledgement = %v, want ErrTimeout with an Unresolved", err)
	}
	// Sent behind the first, past its own deadline: failed unsent.
	_, err = p.Produce(context.Background(), testMessage("orders"))
	var second *topics.Unresolved
	if !errors.As(err, &second) {
		t.Fatalf("the second Produce = %v, want an Unresolved", err)
	}
	pos, err := u.Wait(t.Context())
	if err != nil || pos.Topic != "orders" || pos.Offset != 0 {
		t.Errorf("Wait = %+v %v, want the first record at offset 0", pos, err)
	}
	if pos, err := second.Wait(t.Context()); !errors.Is(err, topics.ErrNotStored) {
		t.Errorf("the second record's Wait = %+v %v, want ErrNotStored", pos, err)
	}
	if n := topicstest.Count(t, c, "orders"); n != 1 {
		t.Errorf("topic holds %d records, want 1", n)
	}
}

// TestProduceReusesRecordsSafely: Produce reuses a record, its headers
// and their values once franz-go is done with it. Concurrent produces of
// messages of different shapes (reply headers, extra headers, tombstones)
// must each store exactly their own record: what Message.Record encodes,
// with no header or value of another.
func TestProduceReusesRecordsSafely(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 3, "orders")
	p := topics.NewProducer(topicstest.Client(t, c, kgo.ProducerLinger(time.Millisecond)), 5*time.Second)
	const workers, each = 8, 40
	want := make(map[string]*kgo.Record, workers*each) // by event id
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m := &topics.Message{Topic: "orders", Key: fmt.Appendf(nil, "k-%d-%d", w, i), Value: fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i),
					ID: topics.NewEventID(), Source: fmt.Sprintf("/ferry/routes/r%d", w), Type: "t", Time: time.Now(), ContentType: "application/json",
					TraceParent: topics.NewTraceParent()}
				switch i % 4 {
				case 1:
					m.Reply = &topics.ReplyTo{Topic: fmt.Sprintf("replies.%d", w), Partition: int32(i)}
				case 2:
					m.Extra = []topics.Header{{Key: "x-worker", Value: fmt.Appendf(nil, "%d", w)}, {Key: "x-item", Value: fmt.Appendf(nil, "%d", i)}}
				case 3:
					m.Value, m.ContentType, m.AuthType, m.AuthID = nil, "", "app_user", fmt.Sprintf("user-%d", w)
				}
				rec := m.Record()
				mu.Lock()
				want[m.ID] = rec
				mu.Unlock()
				if _, err := p.Produce(t.Context(), m); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := topicstest.Read(t, c, "orders", workers*each, 10*time.Second)
	if len(got) != workers*each {
		t.Fatalf("read %d records, want %d", len(got), workers*each)
	}
	for _, r := range got {
		var id string
		for _, h := range r.Headers {
			if h.Key == topics.HeaderID {
				id = string(h.Value)
			}
		}
		w, ok := want[id]
		if !ok {
			t.Fatalf("record with event id %q: not produced", id)
		}
		delete(want, id)
		if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || !slices.EqualFunc(r.Headers, w.Headers, func(a, b kgo.RecordHeader) bool {
			return a.Key == b.Key && bytes.Equal(a.Value, b.Value)
		}) {
			t.Errorf("record %s: key %q value %q headers %v, want key %q value %q headers %v", id, r.Key, r.Value, r.Headers, w.Key, w.Value, w.Headers)
		}
	}
}
