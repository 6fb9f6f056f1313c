package correlator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/topics"
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
	checkFor(t, 2*time.Second, time.Millisecond, func() error {
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
	if got := ws.detach(w1); got != stateWaiting {
		t.Errorf("detach(waiting) = %v, want stateWaiting", got)
	}
	if ws.Deliver([]byte("one"), Reply{}) {
		t.Errorf("Deliver after detach = true, want false: the store takes it")
	}
	if got := ws.detach(w2); got != stateTaken {
		t.Errorf("detach(delivered) = %v, want stateTaken", got)
	}
	select {
	case <-w2.ch:
	default:
		t.Errorf("detach reported stateTaken with no reply in the channel")
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
	checkFor(t, 2*time.Second, time.Millisecond, func() error {
		if n := ws.Len(); n != 0 {
			return fmt.Errorf("Len() = %d, want 0", n)
		}
		return nil
	})
}
