package correlator

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// countingObserver records what an Observer is told.
type countingObserver struct {
	mu      sync.Mutex
	pending int
	min     int // lowest pending seen: a negative one is a double removal
	replies map[string]int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{replies: make(map[string]int)}
}

func (o *countingObserver) CorrelatorPending(delta int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending += delta
	o.min = min(o.min, o.pending)
}

func (o *countingObserver) CorrelatorReply(result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.replies[result]++
}

func (o *countingObserver) state() (pending, low int, replies map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pending, o.min, maps.Clone(o.replies)
}

// TestWaitersObserverPending: every way a waiter leaves the map is counted
// once, so the pending gauge returns to zero, never below.
func TestWaitersObserverPending(t *testing.T) {
	t.Parallel()
	obs := newCountingObserver()
	ws := NewWaiters(0, 0)
	ws.obs = obs
	register := func(ctx context.Context) *Waiter {
		t.Helper()
		w, err := ws.Register(ctx, topics.NewEventID(), "a", noReply)
		if err != nil {
			t.Fatalf("Register() = %v", err)
		}
		return w
	}

	delivered := register(context.Background())
	ws.Deliver([]byte(delivered.ID()), Reply{Final: true})
	delivered.Cancel() // after the reply: no second decrement

	cancelled := register(context.Background())
	cancelled.Cancel()
	cancelled.Cancel()

	detached := register(context.Background())
	ws.detach(detached)
	detached.Cancel()

	// Timeouts: the waiters leave on their own when their context ends.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			defer cancel()
			w := register(ctx)
			_, _ = w.Wait(ctx)
		})
	}
	wg.Wait()
	topicstest.Eventually(t, 2*time.Second, 5*time.Millisecond, func() error {
		if p, _, _ := obs.state(); p != 0 || ws.Len() != 0 {
			return fmt.Errorf("pending = %d, Len() = %d after every waiter timed out, want 0", p, ws.Len())
		}
		return nil
	})

	register(context.Background())
	register(context.Background())
	if p, _, _ := obs.state(); p != 2 {
		t.Fatalf("pending = %d with two waiters, want 2", p)
	}
	ws.Close()
	if p, low, _ := obs.state(); p != 0 || low < 0 {
		t.Errorf("pending = %d (lowest %d) after Close, want 0 (never negative)", p, low)
	}
}

// TestObserverReplies: each consumed reply record is counted once, as
// matched, late or unknown, and the pending gauge ends at zero.
func TestObserverReplies(t *testing.T) {
	r := newRig(t, 1)
	obs := newCountingObserver()
	c := r.start(t, r.config(LayoutShared), WithObserver(obs))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// matched: a progress and a final reply to a waiting request.
	id := topics.NewEventID()
	w, err := c.Register(ctx, id, repliesTopic, "a")
	if err != nil {
		t.Fatal(err)
	}
	r.reply(t, w.ReplyTo(), 0, id, `{"step":1}`, topics.HeaderFinal, "false")
	r.reply(t, w.ReplyTo(), 0, id, `{"done":true}`)
	if _, err := w.Wait(ctx); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	w.Cancel()

	// late: the request stopped waiting; its reply is kept.
	late := topics.NewEventID()
	lw, err := c.Register(ctx, late, repliesTopic, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Detach(ctx, lw, "quote"); err != nil {
		t.Fatalf("Detach() = %v", err)
	}
	lw.Cancel()
	r.reply(t, lw.ReplyTo(), 0, late, `{"late":true}`)

	// unknown: nobody here asked, and a record without a correlation id.
	r.reply(t, lw.ReplyTo(), 0, topics.NewEventID(), `{}`)
	r.reply(t, lw.ReplyTo(), 0, "", `{}`)

	// A request that times out leaves the gauge.
	tctx, tcancel := context.WithTimeout(ctx, 20*time.Millisecond)
	tw, err := c.Register(tctx, topics.NewEventID(), repliesTopic, "a")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Wait(tctx)
	tcancel()

	want := map[string]int{ReplyMatched: 2, ReplyLate: 1, ReplyUnknown: 2}
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		p, low, got := obs.state()
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("replies mismatch (-want +got):\n%s", diff)
		}
		if p != 0 || low < 0 {
			return fmt.Errorf("pending = %d (lowest %d), want 0", p, low)
		}
		return nil
	})
}
