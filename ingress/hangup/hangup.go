// Package hangup notices clients that close their connection while a
// handler waits for something to send them: a sync request waiting for
// its reply, a long poll, a Server-Sent Events stream. fasthttp cancels
// nothing when a client goes, and a waiting handler writes nothing that
// could fail, so without this a departed client holds its waiter, its
// subscription or its slot until the wait ends on its own.
//
// A Watcher peeks at every watched connection every interval, from one
// goroutine, without reading from it (recv with MSG_PEEK|MSG_DONTWAIT: one
// system call per connection, no goroutine or buffer per connection),
// and calls the watch's callback once when the peer has closed its side
// or reset the connection.
//
// It imports only the standard library: ingress hands it the client's
// net.Conn and a callback.
package hangup

import (
	"context"
	"net"
	"sync"
	"syscall"
	"time"
)

// DefaultInterval is how often a Watcher peeks: a departed client is
// noticed within about this long.
const DefaultInterval = 500 * time.Millisecond

// Watcher peeks at the connections of waiting handlers. Its zero value is
// not usable; make one with New.
type Watcher struct {
	ctx   context.Context
	every time.Duration
	hooks Hooks

	mu      sync.Mutex // guards the list, n, running and each Watch's links
	head    *Watch     // the watches, linked through their prev and next
	n       int
	running bool // the sweeping goroutine is on
	scratch []*Watch
}

// Hooks are told what a Watcher does, for metrics. Either may be nil.
type Hooks struct {
	// Watching gets +1 when a connection is watched and -1 when its
	// watch stops.
	Watching func(delta int)
	// Gone gets the label of a watch whose client hung up.
	Gone func(label string)
}

// Watch is one watched connection; Stop ends it. It is 64 bytes and
// held by a pending request: a list links the watches, not a map.
type Watch struct {
	w          *Watcher
	rc         syscall.RawConn // the socket, peeked at
	gone       func()          // nil once stopped or called; guarded by w.mu
	prev, next *Watch          // guarded by w.mu
	label      string
}

// New returns a Watcher that peeks every interval (DefaultInterval when
// zero) and tells hooks. Its goroutine runs only while something is
// watched, and never after ctx ends.
func New(ctx context.Context, interval time.Duration, hooks Hooks) *Watcher {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Watcher{ctx: ctx, every: interval, hooks: hooks}
}

// Watch calls gone once if the client of conn hangs up before the watch
// is stopped; label names the watch to Hooks.Gone. gone must not block
// nor call the Watcher: it runs on the Watcher's goroutine, under its
// lock. After Stop returns, gone is not running and will not run. A
// connection that cannot be peeked at (not a socket: an in-memory pipe in
// tests) is not watched (a nil *Watch, whose Stop does nothing); a
// wrapped connection is unwrapped by its NetConn method, as *tls.Conn
// has; over TLS, a client's close_notify alert is data, so a TLS client
// is noticed only when it resets the connection (or when a write to it
// fails, as before).
func (w *Watcher) Watch(conn net.Conn, label string, gone func()) *Watch {
	if w == nil {
		return nil
	}
	// *tls.Conn, and wrappers that follow its lead, expose the socket.
	for {
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = u.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	// Taken once here, not at each peek: SyscallConn allocates.
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	wt := &Watch{w: w, rc: rc, label: label, gone: gone}
	w.mu.Lock()
	wt.next = w.head
	if w.head != nil {
		w.head.prev = wt
	}
	w.head = wt
	w.n++
	if !w.running && w.ctx.Err() == nil {
		w.running = true
		go w.sweep()
	}
	w.mu.Unlock()
	if w.hooks.Watching != nil {
		w.hooks.Watching(1)
	}
	return wt
}

// Stop ends the watch; it is safe on a nil *Watch and idempotent.
func (wt *Watch) Stop() {
	if wt == nil {
		return
	}
	w := wt.w
	w.mu.Lock()
	linked := w.unlink(wt)
	w.mu.Unlock()
	if linked && w.hooks.Watching != nil {
		w.hooks.Watching(-1)
	}
}

// unlink takes wt off the list, reporting whether it was on it; under
// w.mu.
func (w *Watcher) unlink(wt *Watch) bool {
	if wt.prev == nil && w.head != wt {
		return false // a linked watch is the head or has one before it
	}
	if wt.prev != nil {
		wt.prev.next = wt.next
	} else if w.head == wt {
		w.head = wt.next
	}
	if wt.next != nil {
		wt.next.prev = wt.prev
	}
	wt.prev, wt.next, wt.gone = nil, nil, nil
	w.n--
	return true
}

// Len returns the number of connections watched.
func (w *Watcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// sweep peeks at every watched connection each interval until nothing
// is watched or the Watcher's context ends. It peeks without the lock,
// so that requests come and go meanwhile.
func (w *Watcher) sweep() {
	t := time.NewTicker(w.every)
	defer t.Stop()
	p := newPeeker()
	for {
		select {
		case <-w.ctx.Done():
			w.mu.Lock()
			w.running = false
			w.mu.Unlock()
			return
		case <-t.C:
		}
		w.mu.Lock()
		if w.n == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch := w.scratch[:0]
		for wt := w.head; wt != nil; wt = wt.next {
			batch = append(batch, wt)
		}
		w.mu.Unlock()
		for i, wt := range batch {
			if p.peerGone(wt.rc) {
				w.fire(wt)
			}
			batch[i] = nil
		}
		w.mu.Lock()
		w.scratch = batch[:0]
		w.mu.Unlock()
	}
}

// fire calls wt's gone, once, unless the watch was stopped meanwhile.
func (w *Watcher) fire(wt *Watch) {
	w.mu.Lock()
	gone := wt.gone
	if gone == nil || !w.unlink(wt) {
		w.mu.Unlock()
		return
	}
	gone()
	w.mu.Unlock()
	if w.hooks.Gone != nil {
		w.hooks.Gone(wt.label)
	}
	if w.hooks.Watching != nil {
		w.hooks.Watching(-1)
	}
}
