package correlator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

var noReply = topics.ReplyTo{Topic: "replies", Partition: topics.NoPartition}

func TestWaitersDeliver(t *testing.T) {
	t.Parallel()
	ws := NewWaiters(0, 0)
	id := "0190c0de-0000-7000-8000-000000000001"
	w, err := ws.Register(context.Background(), id, "anonymous", noReply)
	if err != nil {
		t.Fatalf("Register() = %v", err)
	}
	defer w.Cancel()
	if ws.Deliver([]byte("0190c0de-0000-7000-8000-000000000002"), Reply{}) {
		t.Errorf("Deliver(other id) = true, want false")
	}
	want := Reply{Status: 201, Body: []byte(`{"ok":true}`), Final: true}
	if !ws.Deliver([]byte(id), want) {
		t.Fatalf("Deliver(%q) = false, want true", id)
	}
	if ws.Deliver([]byte(id), Reply{Status: 500}) {
		t.Errorf("second Deliver(%q) = true, want false: one reply per waiter", id)
	}
	if n := ws.Len(); n != 0 {
		t.Errorf("Len() after Deliver = %d, want 0", n)
	}
	got, err := w.Wait(context.Background())
	if err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Wait() mismatch (-want +got):\n%s", diff)
	}
}

func TestWaitersReplyBeforeWait(t *testing.T) {
	t.Parallel()
	// The reply may beat the produce acknowledgement: it waits in the
	// channel until the request gets round to Wait, even past its deadline.
	ws := NewWaiters(0, 0)
	id := "0190c0de-0000-7000-8000-000000000003"
	w, _ := ws.Register(context.Background(), id, "a", noReply)
	defer w.Cancel()
	ws.Deliver([]byte(id), Reply{Status: 200, Final: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Wait(ctx); err != nil {
		t.Errorf("Wait(done ctx) with a reply waiting = %v, want the reply", err)
	}
}

func TestWaitersCaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		max    int
		maxPer int
		owners []string // registered in order; the last one must fail
	}{
		{name: "global", max: 2, maxPer: 0, owners: []string{"a", "b", "c"}},
		{name: "per principal", max: 10, maxPer: 2, owners: []string{"a", "b", "a", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := NewWaiters(tt.max, tt.maxPer)
			var last *Waiter
			for i, o := range tt.owners {
				w, err := ws.Register(context.Background(), fmt.Sprintf("id-%d", i), o, noReply)
				if i < len(tt.owners)-1 {
					if err != nil {
						t.Fatalf("Register(%d, %q) = %v", i, o, err)
					}
					last = w
					continue
				}
				if !errors.Is(err, ErrTooManyPending) {
					t.Fatalf("Register(%d, %q) = %v, want ErrTooManyPending", i, o, err)
				}
			}
			// Freeing one slot of the last owner makes room again.
			last.Cancel()
			o := tt.owners[len(tt.owners)-1]
			if tt.maxPer > 0 {
				o = tt.owners[len(tt.owners)-2]
			}
			if _, err := ws.Register(context.Background(), "again", o, noReply); err != nil {
				t.Errorf("Register after Cancel = %v, want nil", err)
			}
		})
	}
}

func TestWaitersContextRemoves(t *testing.T) {
	t.Parallel()
	ws := NewWaiters(0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 10 {
		if _, err := ws.Register(ctx, fmt.Sprintf("id-%d", i), "a", noReply); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	topicstest.Eventually(t, 2*time.Second, time.Millisecond, func() error {
		if n := ws.Len(); n != 0 {
			return fmt.Errorf("Len() = %d after the context ended, want 0", n)
		}
		return nil
	})
	if ws.Deliver([]byte("id-3"), Reply{}) {
		t.Errorf("Deliver to a removed waiter = true, want false")
	}
}

func TestWaitersClose(t *testing.T) {
	t.Parallel()
	ws := NewWaiters(0, 0)
	const n = 50
	errc := make(chan error, n)
	var registered sync.WaitGroup
	for i := range n {
		registered.Add(1)
		go func() {
			w, err := ws.Register(context.Background(), fmt.Sprintf("id-%d", i), "a", noReply)
			registered.Done()
			if err != nil {
				errc <- err
				return
			}
			defer w.Cancel()
			_, err = w.Wait(context.Background()) // no deadline: only Close ends it
			errc <- err
		}()
	}
	registered.Wait()
	start := time.Now()
	ws.Close()
	for range n {
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("Wait() after Close = %v, want ErrClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("a waiter was still waiting 2s after Close")
		}
	}
	t.Logf("%d waiters failed %v after Close", n, time.Since(start))
	if got := ws.Len(); got != 0 {
		t.Errorf("Len() after Close = %d, want 0", got)
	}
	if _, err := ws.Register(context.Background(), "late", "a", noReply); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close = %v, want ErrClosed", err)
	}
	ws.Close() // idempotent
}

func TestWaitersDetach(t *testing.T) {
	t.Parallel()
	ws := NewWaiters(0, 0)
	w1, _ := ws.Register(context.Background(), "one", "a", noReply)
	w2, _ := ws.Register(context.Background(), "two", "a", noReply)
	ws.Deliver([]byte("two"), Reply{Status: 200, Final: true})
	if got, _ := ws.detach(w1); got != stateWaiting {
		t.Errorf("detach(waiting) = %v, want stateWaiting", got)
	}
	if ws.Deliver([]byte("one"), Reply{}) {
		t.Errorf("Deliver after detach = true, want false: the store takes it")
	}
	got, rep := ws.detach(w2)
	if got != stateTaken {
		t.Errorf("detach(delivered) = %v, want stateTaken", got)
	}
	if rep == nil || rep.Status != 200 {
		t.Errorf("detach reported stateTaken with reply %+v, want the delivered one", rep)
	}
}

// TestWaitersConcurrent races registration, delivery, cancellation and
// context ends; run it with -race. Every waiter gets its own reply or none.
func TestWaitersConcurrent(t *testing.T) {
	t.Parallel()
	ws := NewWaiters(0, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := fmt.Sprintf("%d-%d", g, i)
				ctx, cancel := context.WithCancel(context.Background())
				w, err := ws.Register(ctx, id, fmt.Sprint(g), noReply)
				if err != nil {
					t.Errorf("Register(%s) = %v", id, err)
					cancel()
					return
				}
				switch i % 3 {
				case 0:
					ws.Deliver([]byte(id), Reply{Body: []byte(id), Final: true})
					r, err := w.Wait(context.Background())
					if err != nil || string(r.Body) != id {
						t.Errorf("Wait(%s) = %q, %v", id, r.Body, err)
					}
				case 1:
					cancel()
					go ws.Deliver([]byte(id), Reply{Body: []byte(id)})
				case 2:
					go ws.Deliver([]byte(id), Reply{Body: []byte(id)})
				}
				w.Cancel()
				cancel()
			}
		})
	}
	wg.Wait()
	topicstest.Eventually(t, 2*time.Second, time.Millisecond, func() error {
		if n := ws.Len(); n != 0 {
			return fmt.Errorf("Len() = %d, want 0", n)
		}
		return nil
	})
}

// TestWaitForTimeout: WaitFor returns context.DeadlineExceeded when its
// time runs out, and the waiter stays registered, so that a reply that
// arrives after the timeout is still there for Detach.
func TestWaitForTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ws := NewWaiters(0, 0)
		w, err := ws.Register(context.Background(), "slow", "a", noReply)
		if err != nil {
			t.Fatalf("Register() = %v", err)
		}
		defer w.Cancel()
		start := time.Now()
		if _, err := w.WaitFor(context.Background(), 5*time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFor(5s) with no reply = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("WaitFor(5s) returned after %v, want 5s", d)
		}
		if n := ws.Len(); n != 1 {
			t.Errorf("Len() after the timeout = %d, want 1: the waiter stays until Detach or Cancel", n)
		}
		if !ws.Deliver([]byte("slow"), Reply{Status: 201, Final: true}) {
			t.Fatalf("Deliver after the timeout = false, want true")
		}
		if st, rep := ws.detach(w); st != stateTaken || rep == nil || rep.Status != 201 {
			t.Errorf("detach after a late reply = %v, %+v; want stateTaken and the reply", st, rep)
		}
	})
}

// TestWaitForOutcomes: what ends a WaitFor, and which outcome wins when
// several are there at once.
func TestWaitForOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before runs before WaitFor, during while it blocks (at 1s).
		before, during func(ws *Waiters, cancel context.CancelFunc)
		want           error // nil: the reply
		at             time.Duration
	}{
		{name: "reply while waiting", during: deliver, at: time.Second},
		{name: "reply before waiting, context ended", before: func(ws *Waiters, cancel context.CancelFunc) { deliver(ws, cancel); cancel() }},
		{name: "reply before waiting, closed", before: func(ws *Waiters, cancel context.CancelFunc) { deliver(ws, cancel); ws.Close() }},
		{name: "context ends", during: func(_ *Waiters, cancel context.CancelFunc) { cancel() }, want: context.Canceled, at: time.Second},
		{name: "close", during: func(ws *Waiters, _ context.CancelFunc) { ws.Close() }, want: ErrClosed, at: time.Second},
		{name: "context ended and closed", before: func(ws *Waiters, cancel context.CancelFunc) { cancel(); ws.Close() }, want: context.Canceled},
		{name: "time is up", want: context.DeadlineExceeded, at: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ws := NewWaiters(0, 0)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w, err := ws.Register(ctx, "id", "a", noReply)
				if err != nil {
					t.Fatalf("Register() = %v", err)
				}
				defer w.Cancel()
				if tt.before != nil {
					tt.before(ws, cancel)
				}
				if tt.during != nil {
					go func() {
						time.Sleep(time.Second)
						tt.during(ws, cancel)
					}()
				}
				start := time.Now()
				got, err := w.WaitFor(ctx, 5*time.Second)
				if !errors.Is(err, tt.want) || (tt.want == nil && got.Status != 202) {
					t.Errorf("WaitFor() = %+v, %v; want %v", got, err, tt.want)
				}
				if d := time.Since(start); d != tt.at {
					t.Errorf("WaitFor() returned after %v, want %v", d, tt.at)
				}
			})
		})
	}
}

func deliver(ws *Waiters, _ context.CancelFunc) {
	ws.Deliver([]byte("id"), Reply{Status: 202, Final: true})
}

// TestWaitForAbandoned: Abandon ends a WaitFor at once with ErrAbandoned,
// and the waiter stays registered, so that on_timeout: accept can still
// Detach it and keep a reply that arrives later.
func TestWaitForAbandoned(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ws := NewWaiters(0, 0)
		w, err := ws.Register(context.Background(), "left", "a", noReply)
		if err != nil {
			t.Fatalf("Register() = %v", err)
		}
		defer w.Cancel()
		start := time.Now()
		time.AfterFunc(time.Second, w.Abandon)
		if _, err := w.WaitFor(context.Background(), 30*time.Second); !errors.Is(err, ErrAbandoned) {
			t.Fatalf("WaitFor after Abandon = %v, want ErrAbandoned", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("WaitFor returned after %v, want 1s (when Abandon was called)", d)
		}
		if n := ws.Len(); n != 1 {
			t.Errorf("Len() after Abandon = %d, want 1: the waiter stays until Detach or Cancel", n)
		}
		w.Cancel()
		if n := ws.Len(); n != 0 {
			t.Errorf("Len() after Cancel = %d, want 0", n)
		}
	})
}

// TestWaiterSize: a pending Waiter, what every blocked sync request holds
// in the correlator, stays in the allocator's 128-byte class.
func TestWaiterSize(t *testing.T) {
	if n := unsafe.Sizeof(Waiter{}); n > 128 {
		t.Errorf("a Waiter is %d bytes, want <= 128", n)
	}
}
