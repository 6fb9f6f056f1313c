package correlator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// register registers a waiter for id with ctx, cancelled when the test
// ends.
func register(t *testing.T, ctx context.Context, ws *Waiters, id string) *Waiter {
	t.Helper()
	w, err := ws.Register(ctx, id, "a", noReply)
	if err != nil {
		t.Fatalf("Register(%s) = %v", id, err)
	}
	t.Cleanup(w.Cancel)
	return w
}

// queued returns how many waiters wait in the map's deadline queues, and
// how many queues there are.
func (ws *Waiters) queued() (waiters, queues int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, q := range ws.deadlines {
		for w := q.head; w != nil; w = w.next {
			waiters++
		}
	}
	return waiters, len(ws.deadlines)
}

// TestWaitForSharedDeadline: waiters with equal time limits share one
// queue, and each still times out at its own start plus its limit, in
// whatever order the others leave the queue (a reply, Abandon, a context
// that ends), and with other limits interleaved.
func TestWaitForSharedDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ws := NewWaiters(0, 0)
		type result struct {
			err   error
			after time.Duration
		}
		const n = 12
		results := make([]result, n)
		limit := func(i int) time.Duration { return time.Duration(3+i%2*2) * time.Second } // 3s, 5s, 3s, ...
		var wg sync.WaitGroup
		for i := range n {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := register(t, ctx, ws, fmt.Sprint(i))
			wg.Go(func() {
				start := time.Now()
				_, err := w.WaitFor(ctx, limit(i))
				results[i] = result{err, time.Since(start)}
			})
			switch i % 4 { // some leave the queue early, from its middle or head
			case 1:
				time.AfterFunc(time.Second, func() { ws.Deliver([]byte(fmt.Sprint(i)), Reply{Status: 200, Final: true}) })
			case 2:
				time.AfterFunc(time.Second, w.Abandon)
			}
			if i == 4 {
				time.AfterFunc(500*time.Millisecond, cancel)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(1300 * time.Millisecond) // all that leave early have left; nobody's time is up
		if got, queues := ws.queued(); got != n-n/4-n/4-1 || queues != 2 {
			t.Errorf("%d waiters in %d queues, want %d in 2 (one per limit)", got, queues, n-n/4-n/4-1)
		}
		wg.Wait()
		for i, r := range results {
			want, at := error(context.DeadlineExceeded), limit(i)
			switch {
			case i == 4:
				want, at = context.Canceled, 500*time.Millisecond
			case i%4 == 1:
				want, at = nil, time.Second
			case i%4 == 2:
				want, at = ErrAbandoned, time.Second
			}
			if !errors.Is(r.err, want) || r.after != at {
				t.Errorf("waiter %d: WaitFor(%v) = %v after %v, want %v after %v", i, limit(i), r.err, r.after, want, at)
			}
		}
		if got, _ := ws.queued(); got != 0 {
			t.Errorf("%d waiters still queued after every WaitFor returned", got)
		}
		time.Sleep(10 * time.Second) // the timers find their queues empty
		if _, queues := ws.queued(); queues != 0 {
			t.Errorf("%d queues left once no waiter waits, want 0", queues)
		}
	})
}

// TestWaitForAgain: a waiter whose WaitFor timed out can wait again, for
// a new time limit counted from the new call.
func TestWaitForAgain(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ws := NewWaiters(0, 0)
		w := register(t, context.Background(), ws, "again")
		for _, d := range []time.Duration{2 * time.Second, 2 * time.Second, time.Second} {
			start := time.Now()
			if _, err := w.WaitFor(context.Background(), d); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != d {
				t.Fatalf("WaitFor(%v) = %v after %v, want context.DeadlineExceeded after %v", d, err, time.Since(start), d)
			}
		}
		time.AfterFunc(time.Second, func() { ws.Deliver([]byte("again"), Reply{Status: 200, Final: true}) })
		if _, err := w.WaitFor(context.Background(), 2*time.Second); err != nil {
			t.Errorf("WaitFor after a reply = %v, want the reply", err)
		}
	})
}

// TestCloseEmptiesDeadlines: Close fails the waiters that wait for a time
// limit at once and leaves no queue behind.
func TestCloseEmptiesDeadlines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ws := NewWaiters(0, 0)
		var wg sync.WaitGroup
		for i := range 5 {
			w := register(t, context.Background(), ws, fmt.Sprint(i))
			wg.Go(func() {
				if _, err := w.WaitFor(context.Background(), time.Duration(i+1)*time.Minute); !errors.Is(err, ErrClosed) {
					t.Errorf("WaitFor after Close = %v, want ErrClosed", err)
				}
			})
		}
		synctest.Wait()
		start := time.Now()
		ws.Close()
		wg.Wait()
		if d := time.Since(start); d != 0 {
			t.Errorf("WaitFor returned %v after Close, want at once", d)
		}
		if got, queues := ws.queued(); got != 0 || queues != 0 {
			t.Errorf("%d waiters in %d queues after Close, want none", got, queues)
		}
	})
}

// TestWaitForDeadlinesConcurrent runs many WaitFor calls of a few limits
// at once, each ended by a reply, a context, Abandon, its time or Close,
// for the race detector, and checks that none is left queued.
func TestWaitForDeadlinesConcurrent(t *testing.T) {
	t.Parallel()
	ws := NewWaiters(0, 0)
	var wg sync.WaitGroup
	for i := range 400 {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := ws.Register(ctx, fmt.Sprint(i), "a", noReply)
		if err != nil {
			t.Fatalf("Register() = %v", err)
		}
		d := time.Duration(1+i%3) * time.Millisecond
		wg.Go(func() {
			defer cancel()
			defer w.Cancel()
			_, _ = w.WaitFor(ctx, d)
		})
		wg.Go(func() {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			switch i % 4 {
			case 0:
				ws.Deliver([]byte(fmt.Sprint(i)), Reply{Final: true})
			case 1:
				cancel()
			case 2:
				w.Abandon()
			}
		})
	}
	time.Sleep(time.Millisecond)
	ws.Close()
	wg.Wait()
	if got, _ := ws.queued(); got != 0 {
		t.Errorf("%d waiters still queued after every WaitFor returned", got)
	}
}
