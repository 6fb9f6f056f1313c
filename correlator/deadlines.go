package correlator

import "time"

// deadlines keeps the waiters that wait with a time limit (WaitFor) in one
// queue per distinct limit, instead of one runtime timer each: requests of
// one route all wait the same time, so waiters with the same limit run out
// in the order they started waiting, and each queue needs one timer only,
// for its head. Waiters unlink themselves in O(1) when their wait ends
// otherwise (a reply, their context, Abandon).
//
// A deadlines is part of its Waiters, guarded by Waiters.mu. Its timers
// run no goroutine of their own while idle, and Close stops them all.
type deadlines map[time.Duration]*deadlineQueue

// deadlineQueue is the FIFO of the waiters with one time limit, linked
// through Waiter.prev and Waiter.next, ordered by Waiter.at.
type deadlineQueue struct {
	limit      time.Duration
	head, tail *Waiter
	timer      *time.Timer // runs expire at head.at; nil until first armed
	armed      bool        // timer is set and has not run yet
}

// now is the monotonic time since the map was made, the clock of
// Waiter.at.
func (ws *Waiters) now() time.Duration { return time.Since(ws.epoch) }

// enqueue makes w run out at d from now: it appends w to the queue of
// limit d and arms the queue's timer if it is not. ws.mu must be held.
func (ws *Waiters) enqueue(w *Waiter, d time.Duration) {
	if ws.deadlines == nil {
		ws.deadlines = make(deadlines)
	}
	q := ws.deadlines[d]
	if q == nil {
		q = &deadlineQueue{limit: d}
		ws.deadlines[d] = q
	}
	// Read under the lock, so that the times in a queue never go back.
	w.at = ws.now() + d
	w.queue, w.prev, w.next = q, q.tail, nil
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	if !q.armed {
		ws.arm(q, d)
	}
}

// arm sets q's timer to run in d. ws.mu must be held.
func (ws *Waiters) arm(q *deadlineQueue, d time.Duration) {
	q.armed = true
	if q.timer == nil {
		q.timer = time.AfterFunc(d, func() { ws.expire(q) })
		return
	}
	q.timer.Reset(d)
}

// dequeue takes w out of its queue, if it is in one. The queue's timer
// stays as it is: when it runs it finds the next head, or an empty queue.
// ws.mu must be held.
func (ws *Waiters) dequeue(w *Waiter) {
	q := w.queue
	if q == nil {
		return
	}
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.queue, w.prev, w.next = nil, nil, nil
}

// expire is q's timer: it tells every waiter at the head of q whose time
// has come, then sets the timer for the next one, or drops q when it is
// empty (a limit nobody waits with any more holds nothing).
func (ws *Waiters) expire(q *deadlineQueue) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	q.armed = false
	if ws.closed {
		return
	}
	now := ws.now()
	for w := q.head; w != nil && w.at <= now; w = q.head {
		ws.dequeue(w)
		w.expired = true
		w.notify()
	}
	if q.head != nil {
		ws.arm(q, q.head.at-now)
		return
	}
	if ws.deadlines[q.limit] == q {
		delete(ws.deadlines, q.limit)
	}
}

// stopDeadlines stops every queue's timer and forgets the queues, at
// Close; the waiters in them are failed by Close. ws.mu must be held.
func (ws *Waiters) stopDeadlines() {
	for _, q := range ws.deadlines {
		if q.timer != nil {
			q.timer.Stop()
		}
		for w := q.head; w != nil; w = q.head {
			ws.dequeue(w)
		}
	}
	clear(ws.deadlines)
}
