package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func rec(key, value string) *kgo.Record {
	r := &kgo.Record{Topic: "state", Key: []byte(key)}
	if value != "" {
		r.Value = []byte(value)
	}
	return r
}

// start runs a view of "state" until the test ends.
func start(t *testing.T, maxKeys int, opts []kgo.Opt) *View {
	t.Helper()
	v, err := New("state", maxKeys, opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; v.Close() })
	return v
}

// TestViewCatchesUpAndFollows: a view reads the topic from its start, is
// ready once it reached the end offsets it saw at start, keeps the latest
// record of each key, drops tombstoned keys, follows new records and
// wakes a waiter when its key changes.
func TestViewCatchesUpAndFollows(t *testing.T) {
	c := topicstest.Cluster(t, 3, "state")
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	var recs []*kgo.Record
	for i := range 1000 {
		recs = append(recs, rec(fmt.Sprintf("k%03d", i%100), fmt.Sprintf(`{"v":%d}`, i)))
	}
	for i := range 10 {
		recs = append(recs, rec(fmt.Sprintf("k%03d", i), "")) // tombstones
	}
	produce(t, cl, recs...)
	v := start(t, 0, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)})
	if _, _, err := v.Get("k050"); err == nil {
		t.Log("the view was ready at once (a fast machine); fine")
	} else if !errors.Is(err, ErrNotReady) {
		t.Fatalf("Get before catch-up: %v", err)
	}
	topicstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error { return v.Ready(context.Background()) })
	if v.Len() != 90 {
		t.Errorf("%d keys, want 90", v.Len())
	}
	e, ok, err := v.Get("k050")
	if err != nil || !ok || string(e.Value) != `{"v":950}` {
		t.Errorf("k050 = %+v %v %v, want the latest value 950", e, ok, err)
	}
	if _, ok, _ := v.Get("k005"); ok {
		t.Errorf("k005 was tombstoned and is still there")
	}
	page, more, err := v.List("k09", "", 5)
	if err != nil || !more || len(page) != 5 || page[0].Key != "k090" || page[4].Key != "k094" {
		t.Errorf("List(k09, 5) = %v more=%v %v", page, more, err)
	}
	page, more, _ = v.List("k09", page[4].Key, 5)
	if more || len(page) != 5 || page[0].Key != "k095" {
		t.Errorf("second page = %v more=%v", page, more)
	}

	waited := make(chan Entry, 1)
	go func() {
		e, _, _ := v.Wait(context.Background(), "k050", e.ETag())
		waited <- e
	}()
	produce(t, cl, rec("k050", `{"v":"new"}`))
	select {
	case e := <-waited:
		if string(e.Value) != `{"v":"new"}` {
			t.Errorf("Wait woke with %s", e.Value)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not wake on the key's change")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	cur, _, _ := v.Get("k050")
	if e, _, _ := v.Wait(ctx, "k050", cur.ETag()); e.ETag() != cur.ETag() {
		t.Errorf("Wait without a change returned %s, want %s", e.ETag(), cur.ETag())
	}
}

// TestViewFull: past max_keys the view refuses to answer (ErrFull)
// rather than answer for some keys only.
func TestViewFull(t *testing.T) {
	c := topicstest.Cluster(t, 1, "state")
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	for i := range 20 {
		produce(t, cl, rec(fmt.Sprint(i), "{}"))
	}
	v := start(t, 10, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)})
	topicstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if err := v.Ready(context.Background()); !errors.Is(err, ErrFull) {
			return fmt.Errorf("Ready = %v, want ErrFull", err)
		}
		return nil
	})
	if _, _, err := v.Get("1"); !errors.Is(err, ErrFull) {
		t.Errorf("Get on a full view: %v", err)
	}
}
