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

	mu      sync.Mutex
	watches map[*watch]struct{}
	running bool // the sweeping goroutine is on
	scratch []*watch
}

// watch is one watched connection.
type watch struct {
	rc   syscall.RawConn
	mu   sync.Mutex // held while gone runs; stop waits for it
	gone func()     // nil once stopped or called
}

// New returns a Watcher that peeks every interval (DefaultInterval when
// zero). Its goroutine runs only while something is watched, and never
// after ctx ends.
func New(ctx context.Context, interval time.Duration) *Watcher {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Watcher{ctx: ctx, every: interval, watches: make(map[*watch]struct{})}
}

// Watch calls gone once if the client of conn hangs up before stop is
// called. gone must not block: it runs on the Watcher's goroutine. After
// stop returns, gone is not running and will not run. A connection that
// cannot be peeked at (not a socket: an in-memory pipe in tests) is not
// watched; a wrapped connection is unwrapped by its NetConn method, as
// *tls.Conn has; over TLS, a client's close_notify alert is data, so a TLS
// client is noticed only when it resets the connection (or when a write
// to it fails, as before).
func (w *Watcher) Watch(conn net.Conn, gone func()) (stop func()) {
	if w == nil {
		return func() {}
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
		return func() {}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	wt := &watch{rc: rc, gone: gone}
	w.mu.Lock()
	w.watches[wt] = struct{}{}
	if !w.running && w.ctx.Err() == nil {
		w.running = true
		go w.sweep()
	}
	w.mu.Unlock()
	return func() {
		wt.mu.Lock()
		wt.gone = nil
		wt.mu.Unlock()
		w.mu.Lock()
		delete(w.watches, wt)
		w.mu.Unlock()
	}
}

// Len returns the number of connections watched.
func (w *Watcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watches)
}

// sweep peeks at every watched connection each interval until nothing
// is watched or the Watcher's context ends.
func (w *Watcher) sweep() {
	t := time.NewTicker(w.every)
	defer t.Stop()
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
		if len(w.watches) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch := w.scratch[:0]
		for wt := range w.watches {
			batch = append(batch, wt)
		}
		w.mu.Unlock()
		for i, wt := range batch {
			if peerGone(wt.rc) {
				wt.fire()
			}
			batch[i] = nil
		}
		w.mu.Lock()
		w.scratch = batch[:0]
		w.mu.Unlock()
	}
}

// fire calls gone unless the watch was stopped, and at most once.
func (wt *watch) fire() {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if wt.gone != nil {
		wt.gone()
		wt.gone = nil
	}
}
