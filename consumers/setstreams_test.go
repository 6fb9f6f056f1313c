package consumers

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestSetStreams changes the streams of a running hub, as a reload does:
// a stream that stays keeps its subscribers and goes on delivering; a
// removed stream, and one that now reads another topic, end their
// subscribers with ErrStreamRemoved; a new stream on a topic no stream
// read before is consumed live; a topic no stream reads any more is no
// longer consumed.
func TestSetStreams(t *testing.T) {
	checkGoroutines(t)
	k := startKafkaHub(t, HubConfig{Buffer: 64, History: 64}, 2,
		topics.StreamConfig{Name: "a", Topic: "t1"}, topics.StreamConfig{Name: "b", Topic: "t1"},
		topics.StreamConfig{Name: "c", Topic: "t2"}, topics.StreamConfig{Name: "e", Topic: "t2"})
	ctx := context.Background()
	if _, err := kadm.NewClient(k.prod).CreateTopic(ctx, 2, 1, nil, "t3"); err != nil {
		t.Fatal(err)
	}
	subs := map[string]*Subscription{}
	for _, name := range []string{"a", "b", "c", "e"} {
		s, err := k.hub.Subscribe(ctx, name, StartLatest(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs[name] = s
	}

	k.hub.SetStreams([]topics.StreamConfig{{Name: "a", Topic: "t1", Scopes: []string{"x"}}, {Name: "d", Topic: "t3"}, {Name: "e", Topic: "t3"}})

	for _, name := range []string{"b", "c", "e"} {
		select {
		case <-subs[name].Done():
		default:
			t.Errorf("subscriber of %s: Done not closed", name)
		}
		if _, err := subs[name].Fetch(ctx, nil); !errors.Is(err, ErrStreamRemoved) {
			t.Errorf("subscriber of %s: Fetch = %v, want ErrStreamRemoved", name, err)
		}
	}
	select {
	case <-subs["a"].Done():
		t.Fatal("the subscriber of a stream that stays was ended")
	default:
	}
	k.produce(t, "t1", "after", 5)
	if m := distinct(t, collect(t, subs["a"], 5, 5*time.Second)); len(m) != 5 {
		t.Errorf("stream a after the change: %v", m)
	}

	var names []string
	for _, sc := range k.hub.Streams() {
		names = append(names, sc.Name)
	}
	if want := []string{"a", "d", "e"}; !slices.Equal(names, want) {
		t.Errorf("Streams() = %v, want %v", names, want)
	}
	if sc, _ := k.hub.Stream("a"); len(sc.Scopes) != 1 {
		t.Errorf("Stream(a) = %+v, want the new config", sc)
	}
	if _, ok := k.hub.Stream("b"); ok {
		t.Error("Stream(b) still found")
	}
	if _, err := k.hub.Subscribe(ctx, "b", StartLatest(), Filter{}); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("Subscribe(b) = %v, want ErrUnknownStream", err)
	}

	// A new topic joins the live consumer's next fetch: after the one in
	// flight, which the broker may hold for kafka's fetch max wait (5 s).
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := k.hub.Subscribe(wctx, "d", StartLatest(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	topicstest.Eventually(t, 15*time.Second, 5*time.Millisecond, func() error { return k.hub.Check(ctx) })
	k.produce(t, "t3", "new", 4)
	if m := distinct(t, collect(t, d, 4, 15*time.Second)); len(m) != 4 {
		t.Errorf("new stream d: %v", m)
	}
	if _, ok := k.hub.set.Load().feeds["t2"]; ok {
		t.Error("topic t2, which no stream reads now, still has a feed")
	}

	// A topic dropped and then read again is consumed afresh.
	k.hub.SetStreams([]topics.StreamConfig{{Name: "a", Topic: "t1"}, {Name: "c", Topic: "t2"}})
	if _, err := d.Fetch(ctx, nil); !errors.Is(err, ErrStreamRemoved) {
		t.Errorf("subscriber of d: Fetch = %v, want ErrStreamRemoved", err)
	}
	c, err := k.hub.Subscribe(wctx, "c", StartLatest(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k.produce(t, "t2", "again", 3)
	if m := distinct(t, collect(t, c, 3, 15*time.Second)); len(m) != 3 {
		t.Errorf("stream c read again: %v", m)
	}
}

// TestSetStreamsFromNone: a hub started without streams (a process whose
// config had none) serves the first streams a reload gives it.
func TestSetStreamsFromNone(t *testing.T) {
	checkGoroutines(t)
	k := startKafkaHub(t, HubConfig{Buffer: 64, History: 64}, 2)
	ctx := context.Background()
	if _, err := kadm.NewClient(k.prod).CreateTopic(ctx, 2, 1, nil, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.hub.Subscribe(ctx, "a", StartLatest(), Filter{}); !errors.Is(err, ErrUnknownStream) {
		t.Fatalf("Subscribe(a) before any stream = %v, want ErrUnknownStream", err)
	}
	k.hub.SetStreams([]topics.StreamConfig{{Name: "a", Topic: "t1"}})
	topicstest.Eventually(t, 15*time.Second, 5*time.Millisecond, func() error { return k.hub.Check(ctx) })
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a, err := k.hub.Subscribe(wctx, "a", StartLatest(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	k.produce(t, "t1", "first", 3)
	if m := distinct(t, collect(t, a, 3, 15*time.Second)); len(m) != 3 {
		t.Errorf("first stream a: %v", m)
	}
}
