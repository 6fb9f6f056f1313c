package correlator

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-gw/ferry/topics"
)

// Reply is one reply record, decoded by the reply contract.
type Reply struct {
	// Status is the HTTP status from ferry-status; 200 when absent.
	Status int
	// ContentType is the reply's content-type header, or "".
	ContentType string
	// Header holds the response headers from ferry-header-NAME that are on
	// the allowlist, in record order.
	Header []HeaderField
	// Body is the record's value.
	Body []byte
	// Final is false for a progress reply (ferry-final: false).
	Final bool
	// Invalid, when not empty, says why the reply breaks the contract;
	// Err then wraps ErrBadReply.
	Invalid string
	// TraceParent is the reply record's W3C traceparent header, or "" when
	// it has none or a malformed one: the responder's trace, which the
	// waiting request links to. It is not kept in the store.
	TraceParent string

	// Where the reply was read, for logs and for storing it only once.
	Topic     string
	Partition int32
	Offset    int64
}

// HeaderField is one response header.
type HeaderField struct {
	Name, Value string
}

// Err returns nil for a usable reply, else an error wrapping ErrBadReply.
func (r *Reply) Err() error {
	if r.Invalid == "" {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrBadReply, r.Invalid)
}

// Waiters is the pending map of synchronous requests, after nats.go's
// respMap: a request registers its waiter before it is produced, the reply
// consumer delivers at most one final reply per waiter without ever
// blocking, and a waiter leaves the map when its reply arrives, when its
// context ends, when it is cancelled or detached, or when the map closes.
// Waiters does no I/O. It is safe for concurrent use.
type Waiters struct {
	mu     sync.Mutex
	m      map[string]*Waiter
	owners map[string]int // pending waiters per owner
	max    int
	maxPer int
	closed bool
	obs    Observer // told of every change to len(m), under mu
	// The time limits of WaitFor: a queue and a timer per distinct limit,
	// timed from epoch.
	deadlines deadlines
	epoch     time.Time
}

// waiterState is where a Waiter is in its life; guarded by Waiters.mu.
type waiterState uint8

const (
	stateWaiting  waiterState = iota // in the map
	stateTaken                       // a reply was sent on ch
	stateDetached                    // left the map by Detach; replies go to the store
	stateRemoved                     // cancelled or its context ended
	stateFailed                      // the map was closed
)

// Waiter is one registered request. Its owner calls Wait or WaitFor, then
// Cancel (always, typically deferred). A Waiter is safe for concurrent use.
//
// A pending Waiter is what one blocked sync request holds in the
// correlator, so it is kept small: the reply is kept by pointer once it
// arrives, wake carries no value, so that it needs no buffer of its own,
// and a WaitFor's time limit is a place in a queue shared with the
// waiters of the same limit (deadlines), not a timer of its own.
type Waiter struct {
	id      string
	owner   string
	replyTo topics.ReplyTo
	ws      *Waiters
	// wake (buffer 1) is signalled, without blocking, when there is news
	// for Wait: a reply, Close, or the end of a WaitFor's time.
	wake  chan struct{}
	reply *Reply      // the final reply once state is stateTaken; guarded by ws.mu
	state waiterState // guarded by ws.mu
	// expired is set when a WaitFor's time ran out; guarded by ws.mu.
	expired bool
	// gather, when > 0, makes the waiter collect final replies (Gather)
	// until it has that many (at most 65,535); next to state, in its
	// padding, like abandoned: a Waiter stays 128 bytes.
	gather uint16
	// abandoned is set by Abandon: the client that waits has gone.
	abandoned atomic.Bool
	// rare holds what few waiters need (a context that can end, a
	// gather), so that the usual one stays 128 bytes; set before w is in
	// the map or under ws.mu.
	rare *waiterRare
	// While a WaitFor waits: its queue, its neighbours there, and when
	// its time runs out (since ws.epoch); guarded by ws.mu.
	queue      *deadlineQueue
	prev, next *Waiter
	at         time.Duration
}

// waiterRare is the part of a Waiter that few need.
type waiterRare struct {
	stop func() bool // stops the context.AfterFunc of Register's context
	// until is the end of the gather window in Unix milliseconds
	// (GatherFor); guarded by ws.mu, like gathered.
	until    int64
	gathered []Reply
}

// rarePart returns w.rare, made if w has none; ws.mu must be held.
func (w *Waiter) rarePart() *waiterRare {
	if w.rare == nil {
		w.rare = new(waiterRare)
	}
	return w.rare
}

// Abandon tells a pending Wait that its client has gone: Wait returns
// ErrAbandoned, and the waiter stays registered until Cancel or Detach,
// as after a WaitFor's time ran out. It never blocks.
func (w *Waiter) Abandon() {
	w.abandoned.Store(true)
	w.notify()
}

// Gather makes w collect every final reply that arrives (scatter-gather:
// several responders answer one request) until it has max of them, when
// Wait returns the last one; Gathered returns them all. max is capped at
// 65,535. Call it after Register and before the request is produced.
func (w *Waiter) Gather(max int) {
	w.ws.mu.Lock()
	defer w.ws.mu.Unlock()
	w.gather = uint16(min(max, math.MaxUint16))
}

// GatherFor is Gather for at most window from now: a Detach then keeps
// the gathered set (at most max final replies, until the window ends) as
// the request's result.
func (w *Waiter) GatherFor(max int, window time.Duration) {
	w.ws.mu.Lock()
	defer w.ws.mu.Unlock()
	w.gather = uint16(min(max, math.MaxUint16))
	w.rarePart().until = time.Now().Add(window).UnixMilli()
}

// gatherSpec is what Detach records of a gathering waiter.
func (w *Waiter) gatherSpec() GatherSpec {
	w.ws.mu.Lock()
	defer w.ws.mu.Unlock()
	if w.gather == 0 || w.rare == nil || w.rare.until == 0 {
		return GatherSpec{}
	}
	return GatherSpec{Max: int(w.gather), Until: time.UnixMilli(w.rare.until)}
}

// Gathered returns the final replies a gathering waiter has collected.
func (w *Waiter) Gathered() []Reply {
	w.ws.mu.Lock()
	defer w.ws.mu.Unlock()
	if w.rare == nil {
		return nil
	}
	return slices.Clone(w.rare.gathered)
}

// NewWaiters returns an empty map that holds at most max waiters, and at
// most maxPer per owner. Zero means no cap.
func NewWaiters(max, maxPer int) *Waiters {
	return &Waiters{
		m:      make(map[string]*Waiter),
		owners: make(map[string]int),
		max:    max,
		maxPer: maxPer,
		obs:    nopObserver{},
		epoch:  time.Now(),
	}
}

// Register adds a waiter for id on behalf of owner, whose reply is asked
// for at to. The waiter removes itself when ctx ends. It fails with
// ErrTooManyPending over a cap, with ErrClosed after Close, and when id is
// already waiting.
func (ws *Waiters) Register(ctx context.Context, id, owner string, to topics.ReplyTo) (*Waiter, error) {
	w := &Waiter{id: id, owner: owner, replyTo: to, wake: make(chan struct{}, 1), ws: ws}
	if ctx.Done() != nil { // context.Background never ends: save three allocations
		w.rare = new(waiterRare) // before w is in the map: Cancel reads stop
	}
	ws.mu.Lock()
	switch {
	case ws.closed:
		ws.mu.Unlock()
		return nil, ErrClosed
	case ws.max > 0 && len(ws.m) >= ws.max:
		ws.mu.Unlock()
		return nil, fmt.Errorf("%w: %d pending on this instance", ErrTooManyPending, ws.max)
	case ws.maxPer > 0 && ws.owners[owner] >= ws.maxPer:
		ws.mu.Unlock()
		return nil, fmt.Errorf("%w: %d pending for this principal", ErrTooManyPending, ws.maxPer)
	}
	if _, dup := ws.m[id]; dup {
		ws.mu.Unlock()
		return nil, fmt.Errorf("register %s: already waiting", id)
	}
	ws.m[id] = w
	ws.owners[owner]++
	ws.obs.CorrelatorPending(1)
	ws.mu.Unlock()
	if w.rare != nil {
		stop := context.AfterFunc(ctx, w.remove)
		ws.mu.Lock()
		w.rare.stop = stop
		ws.mu.Unlock()
	}
	return w, nil
}

// Deliver hands a final reply to the waiter of id and removes the waiter.
// It never blocks. It reports false when no waiter has that id (a foreign,
// late or asynchronous reply). id is not retained.
func (ws *Waiters) Deliver(id []byte, r Reply) bool {
	ws.mu.Lock()
	w, ok := ws.m[string(id)]
	if ok && w.gather > 0 {
		g := w.rarePart()
		g.gathered = append(g.gathered, r)
		if len(g.gathered) < int(w.gather) {
			ws.mu.Unlock()
			return true // gathered; the waiter waits for more
		}
	}
	if ok {
		ws.drop(w, stateTaken)
		// Kept under the lock, so Detach never sees stateTaken without
		// the reply.
		w.reply = &r
		w.notify()
	}
	ws.mu.Unlock()
	return ok
}

// drop removes w from the map; ws.mu must be held.
func (ws *Waiters) drop(w *Waiter, to waiterState) {
	delete(ws.m, w.id)
	if n := ws.owners[w.owner]; n <= 1 {
		delete(ws.owners, w.owner)
	} else {
		ws.owners[w.owner] = n - 1
	}
	w.state = to
	ws.obs.CorrelatorPending(-1)
}

// detach takes w out of the map so that its reply goes elsewhere, and
// returns the state it was in; with stateTaken, also the reply that
// arrived.
func (ws *Waiters) detach(w *Waiter) (waiterState, *Reply) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	prev := w.state
	if prev == stateWaiting {
		ws.drop(w, stateDetached)
	}
	if prev == stateTaken {
		return prev, w.reply
	}
	return prev, nil
}

// has reports whether a waiter for id is pending.
func (ws *Waiters) has(id []byte) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	_, ok := ws.m[string(id)]
	return ok
}

// Len returns the number of pending waiters.
func (ws *Waiters) Len() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.m)
}

// Close fails every pending waiter with ErrClosed, at once, and refuses new
// ones. It is idempotent.
func (ws *Waiters) Close() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return
	}
	ws.closed = true
	ws.stopDeadlines()
	for _, w := range ws.m {
		w.state = stateFailed
		w.notify()
	}
	if n := len(ws.m); n > 0 {
		ws.obs.CorrelatorPending(-n)
	}
	clear(ws.m)
	clear(ws.owners)
}

// ID returns the waiter's correlation id.
func (w *Waiter) ID() string { return w.id }

// ReplyTo returns where responders should send the reply.
func (w *Waiter) ReplyTo() topics.ReplyTo { return w.replyTo }

// Wait blocks until the final reply arrives, ctx ends (its error is
// returned) or the map closes (ErrClosed). A reply that is already there
// wins over the other two.
func (w *Waiter) Wait(ctx context.Context) (Reply, error) { return w.wait(ctx, 0) }

// WaitFor is Wait with a time limit: when d passes first it returns
// context.DeadlineExceeded, and the waiter stays registered, so that a reply
// arriving just after is still there for Detach. d <= 0 means no limit.
//
// It is what a request that waits for its reply should call, rather than
// Wait with a context.WithTimeout: while it blocks, it holds a place in
// the queue of the waiters with the same limit, which share one timer,
// where the derived context adds its own timer, done channel and one more
// blocked channel operation per pending request.
func (w *Waiter) WaitFor(ctx context.Context, d time.Duration) (Reply, error) {
	return w.wait(ctx, d)
}

func (w *Waiter) wait(ctx context.Context, d time.Duration) (Reply, error) {
	if d > 0 {
		w.ws.mu.Lock()
		w.expired = false
		if !w.ws.closed && w.queue == nil {
			w.ws.enqueue(w, d)
		}
		w.ws.mu.Unlock()
		defer w.leaveQueue()
	}
	for {
		// In the order Wait with a derived context had: the reply, then
		// the contexts, then Close.
		r, closed, expired := w.outcome()
		switch {
		case r != nil:
			return *r, nil
		case ctx.Err() != nil:
			return Reply{}, ctx.Err()
		case expired:
			return Reply{}, context.DeadlineExceeded
		case w.abandoned.Load():
			return Reply{}, ErrAbandoned
		case closed:
			return Reply{}, ErrClosed
		}
		// ctx.Done() is nil for a context that never ends (the usual
		// request context): then this blocks on wake alone.
		select {
		case <-w.wake:
		case <-ctx.Done():
		}
	}
}

// outcome returns the reply once it arrived, whether the map is closed,
// and whether a WaitFor's time ran out.
func (w *Waiter) outcome() (*Reply, bool, bool) {
	w.ws.mu.Lock()
	defer w.ws.mu.Unlock()
	if w.state == stateTaken {
		return w.reply, false, false
	}
	return nil, w.ws.closed, w.expired
}

// leaveQueue ends a WaitFor's time limit: w leaves its deadline queue
// if it is still there.
func (w *Waiter) leaveQueue() {
	w.ws.mu.Lock()
	w.ws.dequeue(w)
	w.ws.mu.Unlock()
}

// notify wakes Wait without blocking; wake's buffer keeps the news for a
// Wait that has not blocked yet.
func (w *Waiter) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Cancel removes the waiter if it is still pending. It is idempotent and
// safe to call after a reply, a Detach or Close.
func (w *Waiter) Cancel() {
	w.ws.mu.Lock()
	if w.state == stateWaiting {
		w.ws.drop(w, stateRemoved)
	}
	var stop func() bool
	if w.rare != nil {
		stop = w.rare.stop
	}
	w.ws.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (w *Waiter) remove() {
	w.ws.mu.Lock()
	if w.state == stateWaiting {
		w.ws.drop(w, stateRemoved)
	}
	w.ws.mu.Unlock()
}
