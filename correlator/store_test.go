package correlator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

func reply(body string, final bool, offset int64) Reply {
	return Reply{Status: 200, Body: []byte(body), Final: final, Topic: "t", Partition: 0, Offset: offset}
}

func TestStorePush(t *testing.T) {
	tr := newTestRedis(t)
	s := NewStore(tr.rdb, tr.prefix, time.Minute, quiet)
	ctx := context.Background()
	pending, foreign := topics.NewEventID(), topics.NewEventID()
	if err := s.Pending(ctx, pending, "service_account:ci", "quote", GatherSpec{}); err != nil {
		t.Fatal(err)
	}
	kept, err := s.Push(ctx, []push{
		{id: pending, reply: reply(`1`, false, 1)},
		{id: foreign, reply: reply(`x`, true, 2)},  // a synchronous or foreign request: not kept
		{id: pending, reply: reply(`1`, false, 1)}, // the same record again (another instance): kept once
		{id: pending, reply: reply(`2`, true, 3)},
		{id: pending, reply: reply(`3`, true, 4)}, // after the final reply: ignored
	})
	if err != nil || kept != 2 {
		t.Fatalf("Push() = %d, %v, want 2 kept", kept, err)
	}
	res, err := s.Get(ctx, pending)
	if err != nil {
		t.Fatal(err)
	}
	want := &Result{ID: pending, Owner: "service_account:ci", Route: "quote", Replies: []Reply{reply(`1`, false, 1), reply(`2`, true, 3)}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Get() mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.Get(ctx, foreign); !errors.Is(err, ErrUnknownID) {
		t.Errorf("Get(foreign) = %v, want ErrUnknownID", err)
	}
	// Pending again must not reset a finished result.
	if err := s.Pending(ctx, pending, "someone:else", "quote", GatherSpec{}); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.Get(ctx, pending); res.Owner != "service_account:ci" || len(res.Replies) != 2 {
		t.Errorf("Pending() over a finished result changed it: %+v", res)
	}
}

func TestStoreProgressCap(t *testing.T) {
	tr := newTestRedis(t)
	s := NewStore(tr.rdb, tr.prefix, time.Minute, quiet)
	ctx := context.Background()
	id := topics.NewEventID()
	if err := s.Pending(ctx, id, "a", "quote", GatherSpec{}); err != nil {
		t.Fatal(err)
	}
	var batch []push
	for i := range maxReplies + 10 {
		batch = append(batch, push{id: id, reply: reply(fmt.Sprint(i), false, int64(i))})
	}
	batch = append(batch, push{id: id, reply: reply("final", true, 9999)})
	if _, err := s.Push(ctx, batch); err != nil {
		t.Fatal(err)
	}
	res, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != maxReplies {
		t.Errorf("kept %d replies, want %d", len(res.Replies), maxReplies)
	}
	if f, ok := res.Final(); !ok || string(f.Body) != "final" {
		t.Errorf("final reply lost past the progress cap: %+v", f)
	}
}

func TestStoreExpiry(t *testing.T) {
	tr := newTestRedis(t)
	s := NewStore(tr.rdb, tr.prefix, time.Second, quiet)
	ctx := context.Background()
	id := topics.NewEventID()
	if err := s.Pending(ctx, id, "a", "quote", GatherSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, []push{{id: id, reply: reply("done", true, 1)}}); err != nil {
		t.Fatal(err)
	}
	if tr.mr != nil {
		tr.mr.FastForward(2 * time.Second) // miniredis has no clock of its own
	}
	topicstest.Eventually(t, 3*time.Second, 50*time.Millisecond, func() error {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrUnknownID) {
			return fmt.Errorf("Get() after the TTL = %v, want ErrUnknownID", err)
		}
		return nil
	})
}

func TestStoreAwait(t *testing.T) {
	topicstest.NoLeaks(t, "ferry/correlator.")
	tr := newTestRedis(t)
	s := NewStore(tr.rdb, tr.prefix, time.Minute, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.closePubSub()
	go s.listen(ctx)
	id := topics.NewEventID()
	if err := s.Pending(ctx, id, "a", "quote", GatherSpec{}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *Result, 1)
	go func() {
		// A recheck period far beyond the test: only pub/sub can wake it.
		res, err := s.Await(ctx, id, 0, time.Hour)
		if err != nil {
			t.Errorf("Await() = %v", err)
		}
		got <- res
	}()
	topicstest.Eventually(t, 2*time.Second, time.Millisecond, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.watchers[id]) == 0 {
			return errors.New("Await is not watching yet")
		}
		return nil
	})
	if _, err := s.Push(ctx, []push{{id: id, reply: reply("progress", false, 1)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-got:
		if len(res.Replies) != 1 || string(res.Replies[0].Body) != "progress" {
			t.Errorf("Await() = %+v, want the progress reply", res)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Await() not woken by the published change")
	}
	// With nothing new, Await returns the current state when ctx ends.
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	res, err := s.Await(short, id, 1, time.Hour)
	if err != nil || len(res.Replies) != 1 {
		t.Errorf("Await(seen=1) at the deadline = %+v, %v; want the unchanged result", res, err)
	}
}

// TestAdoptedLeases: an adopter takes only a free lease; a starting
// instance leases a free partition first and, when none is free, takes
// over an adopted one (never one an instance holds for itself); the
// adopter's renewal then reports it lost, and it never takes it back.
func TestAdoptedLeases(t *testing.T) {
	t.Parallel()
	tr := newTestRedis(t)
	s := NewStore(tr.rdb, tr.prefix, time.Minute, quiet)
	ctx := context.Background()
	const topic, ttl = "replies", time.Minute
	if p, err := s.acquire(ctx, topic, 2, "a", ttl); err != nil || p != 0 {
		t.Fatalf("a acquires %d, %v; want 0", p, err)
	}
	if ok, _ := s.adoptLease(ctx, topic, 0, adoptPrefix+"b", ttl); ok {
		t.Fatal("b adopted a partition a holds")
	}
	if ok, err := s.adoptLease(ctx, topic, 1, adoptPrefix+"b", ttl); !ok || err != nil {
		t.Fatalf("b adopts the free partition 1: %v %v", ok, err)
	}
	if p, err := s.acquire(ctx, topic, 2, "c", ttl); err != nil || p != 1 {
		t.Fatalf("c acquires %d, %v; want the adopted partition 1", p, err)
	}
	if ok, err := s.renewHeld(ctx, topic, 1, adoptPrefix+"b", ttl); ok || err != nil {
		t.Errorf("b renews partition 1 after c took it: %v %v, want false", ok, err)
	}
	if _, err := s.acquire(ctx, topic, 2, "d", ttl); !errors.Is(err, ErrNoPartition) {
		t.Errorf("d acquires with both partitions held for themselves: %v, want ErrNoPartition", err)
	}
}

// TestStoreGather: a gathering result (a scatter-gather request asked for
// asynchronously) keeps final replies until it holds Gather of them, then
// is done and keeps no more; one whose window has passed takes no reply
// and is done with what it has.
func TestStoreGather(t *testing.T) {
	tr := newTestRedis(t)
	s := NewStore(tr.rdb, tr.prefix, time.Minute, quiet)
	ctx := context.Background()
	id := topics.NewEventID()
	if err := s.Pending(ctx, id, "a", "quote", GatherSpec{Max: 3, Until: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	kept, err := s.Push(ctx, []push{
		{id: id, reply: reply(`"a"`, true, 1)},
		{id: id, reply: reply(`"p"`, false, 2)}, // progress: kept, not counted
		{id: id, reply: reply(`"b"`, true, 3)},
	})
	if err != nil || kept != 3 {
		t.Fatalf("Push() = %d, %v, want 3 kept", kept, err)
	}
	res, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if reps, done := res.Gathered(); done || len(reps) != 2 || res.Done() {
		t.Fatalf("after 2 of 3 finals: %d gathered, done %v; want 2, not done", len(reps), done)
	}
	if kept, err := s.Push(ctx, []push{{id: id, reply: reply(`"c"`, true, 4)}, {id: id, reply: reply(`"d"`, true, 5)}}); err != nil || kept != 1 {
		t.Fatalf("Push(third, fourth) = %d, %v; want the third kept, the fourth not", kept, err)
	}
	res, _ = s.Get(ctx, id)
	reps, done := res.Gathered()
	if !done || !res.Done() || len(reps) != 3 || string(reps[2].Body) != `"c"` {
		t.Fatalf("after 3 of 3 finals: %+v, done %v; want a, b, c and done", reps, done)
	}
	if final, ok := res.Final(); !ok || string(final.Body) != `"c"` {
		t.Errorf("Final() = %s, %v; want the last one gathered", final.Body, ok)
	}

	late := topics.NewEventID()
	if err := s.Pending(ctx, late, "a", "quote", GatherSpec{Max: 3, Until: time.Now().Add(-time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if kept, err := s.Push(ctx, []push{{id: late, reply: reply(`"x"`, true, 6)}}); err != nil || kept != 0 {
		t.Fatalf("Push after the window = %d, %v; want dropped", kept, err)
	}
	res, _ = s.Get(ctx, late)
	if reps, done := res.Gathered(); !done || len(reps) != 0 {
		t.Errorf("after the window: %d gathered, done %v; want 0, done", len(reps), done)
	}
}
