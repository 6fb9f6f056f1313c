package correlator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

const repliesTopic = "test.replies"

// rig is one kfake broker and one Redis shared by the correlators of a
// test, plus a producer that plays the responder.
type rig struct {
	addrs []string
	redis *testRedis
	prod  *kgo.Client
}

func newRig(t *testing.T, partitions int32) *rig {
	t.Helper()
	topicstest.NoLeaks(t, "ferry/correlator.")
	r := &rig{addrs: newCluster(t, partitions, repliesTopic), redis: newTestRedis(t)}
	r.prod = newClient(t, r.addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	return r
}

func (r *rig) config(layout string) Config {
	return Config{Layout: layout, KeyPrefix: r.redis.prefix, LeaseTTL: time.Second}.WithDefaults()
}

// start builds, starts and runs a correlator; it is closed at the end of
// the test unless the test closes it first.
func (r *rig) start(t *testing.T, cfg Config, opts ...Option) *Correlator {
	t.Helper()
	cl := newClient(t, r.addrs)
	c := New(cfg, cl, r.redis.rdb, []string{repliesTopic}, append([]Option{WithRecheck(50 * time.Millisecond), WithLogger(quiet)}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	return c
}

// reply produces a reply record the way a responder does: to the waiter's
// reply partition when it has one, else to partition p.
func (r *rig) reply(t *testing.T, to topics.ReplyTo, p int32, id string, body string, kv ...string) {
	t.Helper()
	rec := replyRecord(id, []byte(body), kv...)
	rec.Topic, rec.Partition, rec.Offset = to.Topic, p, 0
	if to.Partition >= 0 {
		rec.Partition = to.Partition
	}
	if err := r.prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatalf("produce reply: %v", err)
	}
}

// quiet drops the correlator's logs in tests.
var quiet = slog.New(slog.DiscardHandler)

var ignorePosition = cmpopts.IgnoreFields(Reply{}, "Topic", "Partition", "Offset")

func TestRoundTrip(t *testing.T) {
	for _, layout := range []string{LayoutShared, LayoutPartition} {
		t.Run(layout, func(t *testing.T) {
			r := newRig(t, 3)
			c := r.start(t, r.config(layout))
			id := topics.NewEventID()
			w, err := c.Register(context.Background(), id, repliesTopic, "app_user:alice")
			if err != nil {
				t.Fatalf("Register() = %v", err)
			}
			defer w.Cancel()
			to := w.ReplyTo()
			if (layout == LayoutPartition) != (to.Partition >= 0) || to.Topic != repliesTopic {
				t.Fatalf("ReplyTo() = %+v with layout %s", to, layout)
			}
			// A progress reply does not end a synchronous wait; the final one does.
			r.reply(t, to, 1, id, `{"step":1}`, topics.HeaderFinal, "false")
			r.reply(t, to, 1, id, `{"price":12.5}`, topics.HeaderStatus, "201", "ferry-header-ETag", `"7"`)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := w.Wait(ctx)
			if err != nil {
				t.Fatalf("Wait() = %v", err)
			}
			want := Reply{Status: 201, Final: true, Body: []byte(`{"price":12.5}`), Header: []HeaderField{{Name: "ETag", Value: `"7"`}}}
			if diff := cmp.Diff(want, got, ignorePosition); diff != "" {
				t.Errorf("Wait() mismatch (-want +got):\n%s", diff)
			}
			if n := c.Pending(); n != 0 {
				t.Errorf("Pending() = %d after the reply, want 0", n)
			}
		})
	}
}

func TestDetachKeepsLaterReplies(t *testing.T) {
	r := newRig(t, 3)
	c := r.start(t, r.config(LayoutShared))
	id := topics.NewEventID()
	w, err := c.Register(context.Background(), id, repliesTopic, "app_user:alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Detach(context.Background(), w, "quote"); err != nil || ok {
		t.Fatalf("Detach() = %v, %v; want no reply yet", ok, err)
	}
	w.Cancel()
	res, err := c.Result(context.Background(), id)
	if err != nil || len(res.Replies) != 0 || res.Owner != "app_user:alice" {
		t.Fatalf("Result() before any reply = %+v, %v; want pending for app_user:alice", res, err)
	}
	r.reply(t, w.ReplyTo(), 0, id, `{"step":1}`, topics.HeaderFinal, "false")
	r.reply(t, w.ReplyTo(), 2, id, `{"done":true}`)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen := 0
	var bodies []string
	for {
		res, err := c.Await(ctx, id, seen)
		if err != nil {
			t.Fatalf("Await() = %v", err)
		}
		for _, rep := range res.Replies[seen:] {
			bodies = append(bodies, string(rep.Body))
		}
		seen = len(res.Replies)
		if _, done := res.Final(); done || ctx.Err() != nil {
			break
		}
	}
	// Partitions are read independently; the final reply can overtake a
	// progress reply on another partition, after which progress is ignored.
	if diff := cmp.Diff([]string{`{"step":1}`, `{"done":true}`}, bodies); diff != "" && !cmp.Equal(bodies, []string{`{"done":true}`}) {
		t.Errorf("replies mismatch (-want +got):\n%s", diff)
	}
	if _, err := c.Result(context.Background(), topics.NewEventID()); !errors.Is(err, ErrUnknownID) {
		t.Errorf("Result(unknown) = %v, want ErrUnknownID", err)
	}
}

func TestDetachAfterReply(t *testing.T) {
	r := newRig(t, 1)
	c := r.start(t, r.config(LayoutShared))
	id := topics.NewEventID()
	w, err := c.Register(context.Background(), id, repliesTopic, "anonymous")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	r.reply(t, w.ReplyTo(), 0, id, `{"fast":true}`)
	topicstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := c.Pending(); n != 0 {
			return fmt.Errorf("Pending() = %d, want the reply delivered", n)
		}
		return nil
	})
	got, ok, err := c.Detach(context.Background(), w, "quote")
	if err != nil || !ok || string(got.Body) != `{"fast":true}` {
		t.Fatalf("Detach() = %q, %v, %v; want the delivered reply", got.Body, ok, err)
	}
	res, err := c.Result(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rep, done := res.Final(); !done || string(rep.Body) != `{"fast":true}` {
		t.Errorf("Result() = %+v, want the reply kept", res)
	}
}

func TestPendingReturnsToZero(t *testing.T) {
	r := newRig(t, 1)
	c := r.start(t, r.config(LayoutShared))
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			w, err := c.Register(ctx, topics.NewEventID(), repliesTopic, "anonymous")
			if err != nil {
				t.Errorf("Register() = %v", err)
				return
			}
			// No Cancel: the waiter must leave on its own when ctx ends.
			if _, err := w.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait() = %v, want DeadlineExceeded", err)
			}
		})
	}
	wg.Wait()
	topicstest.Eventually(t, 2*time.Second, 5*time.Millisecond, func() error {
		if n := c.Pending(); n != 0 {
			return fmt.Errorf("Pending() = %d after every request timed out, want 0", n)
		}
		return nil
	})
}

func TestCloseFailsWaitersPromptly(t *testing.T) {
	r := newRig(t, 1)
	cl := newClient(t, r.addrs)
	c := New(r.config(LayoutShared), cl, r.redis.rdb, []string{repliesTopic}, WithLogger(quiet))
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(context.Background()) }()
	const n = 100
	errc := make(chan error, n)
	for range n {
		w, err := c.Register(context.Background(), topics.NewEventID(), repliesTopic, "anonymous")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer w.Cancel()
			_, err := w.Wait(context.Background())
			errc <- err
		}()
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	for range n {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Errorf("Wait() = %v, want ErrClosed", err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("waiters failed %v after Close, want promptly", d)
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run() = %v, want nil after Close", err)
	}
	if n := c.Pending(); n != 0 {
		t.Errorf("Pending() after Close = %d", n)
	}
	if _, err := c.Register(context.Background(), topics.NewEventID(), repliesTopic, "anonymous"); !errors.Is(err, ErrClosed) {
		t.Errorf("Register() after Close = %v, want ErrClosed", err)
	}
}

func TestPartitionLeases(t *testing.T) {
	r := newRig(t, 3)
	cfg := r.config(LayoutPartition)
	seen := map[int32]bool{}
	var cs []*Correlator
	for range 3 {
		c := r.start(t, cfg)
		to, _ := c.ReplyTo(repliesTopic)
		if seen[to.Partition] || to.Partition < 0 {
			t.Fatalf("instance got partition %d; already leased: %v", to.Partition, seen)
		}
		seen[to.Partition] = true
		cs = append(cs, c)
	}
	extra := New(cfg, newClient(t, r.addrs), r.redis.rdb, []string{repliesTopic}, WithLogger(quiet))
	if err := extra.Start(context.Background()); !errors.Is(err, ErrNoPartition) {
		t.Fatalf("Start() of a fourth instance = %v, want ErrNoPartition", err)
	}
	extra.Close()
	// Closing an instance releases its lease at once.
	freed, _ := cs[1].ReplyTo(repliesTopic)
	if err := cs[1].Close(); err != nil {
		t.Fatal(err)
	}
	again := r.start(t, cfg)
	if to, _ := again.ReplyTo(repliesTopic); to.Partition != freed.Partition {
		t.Errorf("new instance got partition %d, want the released %d", to.Partition, freed.Partition)
	}
}

// TestRestartKeepsResults: replies that arrive while no instance reads their
// partition are kept by the next instance that reads it.
func TestRestartKeepsResults(t *testing.T) {
	for _, layout := range []string{LayoutShared, LayoutPartition} {
		t.Run(layout, func(t *testing.T) {
			r := newRig(t, 2)
			cfg := r.config(layout)
			cl := newClient(t, r.addrs)
			first := New(cfg, cl, r.redis.rdb, []string{repliesTopic}, WithLogger(quiet))
			if err := first.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			go first.Run(context.Background())
			id := topics.NewEventID()
			w, err := first.Register(context.Background(), id, repliesTopic, "app_user:alice")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := first.Detach(context.Background(), w, "quote"); err != nil {
				t.Fatal(err)
			}
			to := w.ReplyTo()
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			r.reply(t, to, 1, id, `{"while":"down"}`) // nobody reads it now

			second := r.start(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := second.Await(ctx, id, 0)
			if err != nil {
				t.Fatal(err)
			}
			if rep, done := res.Final(); !done || string(rep.Body) != `{"while":"down"}` {
				t.Errorf("Await() after restart = %+v, want the reply kept", res)
			}
		})
	}
}

// TestForeignRepliesIgnored: in the shared layout every instance reads every
// reply; only the one with the waiter answers, and nothing is stored for a
// synchronous request.
func TestForeignRepliesIgnored(t *testing.T) {
	r := newRig(t, 2)
	a := r.start(t, r.config(LayoutShared))
	b := r.start(t, r.config(LayoutShared))
	const n = 50
	ids := make([]string, n)
	ws := make([]*Waiter, n)
	for i := range n {
		ids[i] = topics.NewEventID()
		c := a
		if i%2 == 1 {
			c = b
		}
		w, err := c.Register(context.Background(), ids[i], repliesTopic, "anonymous")
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	for i := range n {
		r.reply(t, ws[i].ReplyTo(), int32(i%2), ids[i], ids[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, w := range ws {
		got, err := w.Wait(ctx)
		if err != nil || string(got.Body) != ids[i] {
			t.Fatalf("Wait(%d) = %q, %v, want its own reply", i, got.Body, err)
		}
		w.Cancel()
	}
	if _, err := a.Result(context.Background(), ids[0]); !errors.Is(err, ErrUnknownID) {
		t.Errorf("Result() of a synchronous request = %v, want ErrUnknownID", err)
	}
}

// TestCrashRecovery: an instance that dies without Close keeps its lease
// until the lease TTL; the next instance waits for it, takes the partition
// over and resumes where the dead one last recorded its position, so the
// reply that arrived meanwhile is kept.
func TestCrashRecovery(t *testing.T) {
	r := newRig(t, 1)
	cfg := r.config(LayoutPartition) // LeaseTTL 1s: positions every 333ms
	dead := New(cfg, newClient(t, r.addrs), r.redis.rdb, []string{repliesTopic}, WithLogger(quiet))
	if err := dead.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, crash := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- dead.Run(ctx) }()
	id := topics.NewEventID()
	w, err := dead.Register(context.Background(), id, repliesTopic, "anonymous")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dead.Detach(context.Background(), w, "quote"); err != nil {
		t.Fatal(err)
	}
	r.reply(t, w.ReplyTo(), 0, topics.NewEventID(), `{"other":1}`) // moves the position on
	topicstest.Eventually(t, 3*time.Second, 20*time.Millisecond, func() error {
		pos, err := dead.store.loadPositions(context.Background(), repliesTopic)
		if err != nil || pos[0].offset != 1 {
			return fmt.Errorf("recorded positions = %v, %v; want offset 1", pos, err)
		}
		return nil
	})
	crash() // no Close: the lease stays, nothing more is recorded
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	r.reply(t, w.ReplyTo(), 0, id, `{"kept":true}`)

	start := time.Now()
	next := r.start(t, cfg) // waits for the dead instance's lease to expire
	if to, _ := next.ReplyTo(repliesTopic); to.Partition != 0 {
		t.Fatalf("next instance got partition %d, want 0", to.Partition)
	}
	t.Logf("took the partition over after %v", time.Since(start))
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := next.Await(actx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep, done := res.Final(); !done || string(rep.Body) != `{"kept":true}` {
		t.Errorf("Await() = %+v, want the reply that arrived while nobody read", res)
	}
}

// TestReplyTopicRecreated: a reply topic deleted and recreated under a
// running correlator is read again from its start, so the replies to
// requests sent since it came back reach their waiters. Without that, the
// reply consumer would keep the topic's old ID and never read it again.
func TestReplyTopicRecreated(t *testing.T) {
	r := newRig(t, 3)
	c := r.start(t, r.config(LayoutShared))
	ctx := context.Background()
	adm := kadm.NewClient(newClient(t, r.addrs))
	if _, err := adm.DeleteTopics(ctx, repliesTopic); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, repliesTopic); err != nil {
		t.Fatal(err)
	}
	// A responder that started after the recreate.
	r.prod = newClient(t, r.addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))

	id := topics.NewEventID()
	w, err := c.Register(ctx, id, repliesTopic, "app_user:alice")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	r.reply(t, w.ReplyTo(), 2, id, `{"price":1}`)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := w.Wait(wctx)
	if err != nil {
		t.Fatalf("Wait() after the reply topic was recreated = %v, want the reply", err)
	}
	if string(got.Body) != `{"price":1}` {
		t.Errorf("reply body = %s", got.Body)
	}
}

// TestCheck: the correlator's readiness check fails before Start, passes
// once replies are read, fails while the replies it reads cannot be kept
// (the results store refuses them), and passes again once they are.
func TestCheck(t *testing.T) {
	r := newRig(t, 1)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	r.redis = &testRedis{rdb: rdb, mr: mr, prefix: "ferrytest:check:"}
	cfg := r.config(LayoutShared)

	idle := New(cfg, newClient(t, r.addrs), rdb, []string{repliesTopic}, WithLogger(quiet))
	if err := idle.Check(t.Context()); err == nil {
		t.Error("Check before Start = nil, want an error")
	}
	c := r.start(t, cfg)
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("Check once started = %v", err)
	}
	await := func(what string, ok func(error) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for err := c.Check(t.Context()); !ok(err); err = c.Check(t.Context()) {
			if time.Now().After(deadline) {
				t.Fatalf("Check never %s: %v", what, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	mr.SetError("LOADING Redis is loading the dataset in memory")
	// A reply nobody waits for is kept for GET /v1/results: the store
	// refuses it.
	r.reply(t, topics.ReplyTo{Topic: repliesTopic, Partition: topics.NoPartition}, 0, topics.NewEventID(), `{}`)
	await("failed while the store refuses replies", func(err error) bool { return err != nil && strings.Contains(err.Error(), "keeping replies failed") })
	mr.SetError("")
	await("passed once the store takes them again", func(err error) bool { return err == nil })
}
