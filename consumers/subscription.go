package consumers

import (
	"context"
	"time"
)

// Subscription is one subscriber's view of a stream: its position, its
// filter, and where it reads next. It starts either on the live feed or,
// when it resumes from an older position, catching up from Kafka; once it
// has caught up with what the hub holds in memory it joins the live feed,
// without a gap or a repeat.
//
// A Subscription is owned by one goroutine (the SSE writer): it is not safe
// for concurrent use, except that Done may be watched from anywhere. The
// owner must call Close.
type Subscription struct {
	f      *feed
	hist   history
	filter Filter
	buffer uint64
	// life is the stream's lifetime (within the hub's): it ends the
	// subscription and its reads.
	life   context.Context
	closed bool
	onEnd  func()
	// note, when not empty, is said to the subscriber first (Note).
	note string

	// cur is the position after everything this subscriber has seen,
	// whether its filter kept it or not.
	cur Cursor
	// live: reading the ring at seq. Otherwise catching up from Kafka.
	live bool
	seq  uint64
	// caughtUp: the subscriber has been within its buffer of the ring's
	// head, so from now on falling further behind makes it a slow
	// consumer. Before, while it catches up, it may lag more.
	caughtUp bool
	// synced: cur equals the feed's position after the last record read,
	// so the record's shared id is this subscriber's id too.
	synced bool
	// pending are caught-up deliveries not handed out yet.
	pending []Delivery
	// notBefore delays the next catch-up read after a failed one.
	notBefore time.Time
}

// maxBatch bounds the records one Fetch reads from the ring.
const maxBatch = 64

// closedChan is always ready.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Position returns the subscriber's Cursor in text form: everything before
// it has been delivered or filtered out. Sending it as an SSE id while the
// stream is idle lets a client resume without re-reading what its filter
// skipped.
func (s *Subscription) Position() string { return s.cur.String() }

// Done is closed when the hub shuts down or the stream is removed; the
// owner should end the stream (Fetch says which).
func (s *Subscription) Done() <-chan struct{} { return s.life.Done() }

// Wait returns a channel that is ready when Fetch may have something new.
func (s *Subscription) Wait() <-chan struct{} {
	if !s.live {
		if len(s.pending) > 0 {
			return closedChan
		}
		if d := time.Until(s.notBefore); d > 0 {
			return timerChan(d)
		}
		return closedChan
	}
	s.f.mu.RLock()
	defer s.f.mu.RUnlock()
	if s.seq < s.f.head {
		return closedChan
	}
	s.f.waiting.Store(true)
	return s.f.wake
}

func timerChan(d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(d, func() { close(c) })
	return c
}

// Fetch appends to dst the next deliveries that pass the filter, without
// blocking on the live feed; while catching up it reads Kafka, bounded by
// ctx. It may return none (everything new was filtered out, or a catch-up
// read failed and will be retried). It returns ErrSlowConsumer when the
// subscriber fell more than its buffer behind, ErrStreamRemoved once a new
// configuration removed the stream, and ErrClosed after Close
// or when the hub shut down.
func (s *Subscription) Fetch(ctx context.Context, dst []Delivery) ([]Delivery, error) {
	if s.closed {
		return dst, ErrClosed
	}
	if s.life.Err() != nil {
		return dst, lifeErr(s.life)
	}
	if !s.live {
		return s.catchUp(ctx, dst)
	}
	return s.readRing(dst)
}

// readRing reads up to maxBatch records from the ring. It works under the
// read lock, which costs less than copying the records out: the publisher
// waits at most for one batch.
func (s *Subscription) readRing(dst []Delivery) ([]Delivery, error) {
	f := s.f
	f.mu.RLock()
	defer f.mu.RUnlock()
	if s.seq < f.tail() && !s.caughtUp {
		// Still catching up and the ring moved past: back to Kafka.
		s.live = false
		return dst, nil
	}
	if s.seq < f.tail() || f.head-s.seq > s.buffer {
		if s.caughtUp {
			return dst, ErrSlowConsumer
		}
	} else {
		s.caughtUp = true
	}
	size := uint64(len(f.ring))
	end := min(f.head, s.seq+maxBatch)
	for ; s.seq < end; s.seq++ {
		e := f.ring[s.seq%size]
		if e.Offset < s.cur[e.Partition] {
			continue // seen while catching up, or before a resume
		}
		s.cur[e.Partition] = e.Offset + 1
		if !s.synced {
			s.synced = s.cur.Equal(e.next)
		}
		if !s.filter.Match(e) {
			continue
		}
		id := e.id
		if !s.synced {
			id = s.cur.String()
		}
		dst = append(dst, Delivery{Event: e, ID: id})
	}
	return dst, nil
}

// catchUp hands out pending deliveries, joins the live feed once the ring
// covers the subscriber's position, and otherwise reads the partitions the
// ring does not cover from Kafka.
func (s *Subscription) catchUp(ctx context.Context, dst []Delivery) ([]Delivery, error) {
	if len(s.pending) > 0 {
		return s.takePending(dst), nil
	}
	if time.Now().Before(s.notBefore) {
		return dst, nil
	}

	f := s.f
	behind := make(map[int32]int64)
	f.mu.RLock()
	if f.covered(s.cur) {
		s.seq = f.seek(s.cur)
		s.live = true
		f.mu.RUnlock()
		return s.readRing(dst)
	}
	for p, b := range f.base {
		if s.cur[p] < b {
			behind[int32(p)] = s.cur[p]
		}
	}
	f.mu.RUnlock()

	rctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)()
	evs, next, err := s.hist.read(rctx, f.topic, behind)
	if err != nil {
		s.notBefore = time.Now().Add(catchUpBackoff)
		return dst, nil
	}
	progress := false
	for _, e := range evs {
		if e.Offset < s.cur[e.Partition] {
			continue
		}
		s.cur[e.Partition] = e.Offset + 1
		progress = true
		if s.filter.Match(e) {
			s.pending = append(s.pending, Delivery{Event: e, ID: s.cur.String()})
		}
	}
	for p, o := range next {
		if o > s.cur[p] {
			s.cur[p] = o
			progress = true
		}
	}
	if !progress {
		s.notBefore = time.Now().Add(catchUpBackoff)
	}
	return s.takePending(dst), nil
}

// takePending moves up to maxBatch pending deliveries to dst.
func (s *Subscription) takePending(dst []Delivery) []Delivery {
	if len(s.pending) == 0 {
		return dst
	}
	n := min(len(s.pending), maxBatch)
	dst = append(dst, s.pending[:n]...)
	clear(s.pending[:n])
	s.pending = s.pending[n:]
	if len(s.pending) == 0 {
		s.pending = nil
	}
	return dst
}

// catchUpTimeout bounds one catch-up read, so that an unreachable broker
// does not keep a stream from its heartbeats.
const catchUpTimeout = 5 * time.Second

// catchUpBackoff spaces catch-up reads that failed or made no progress.
const catchUpBackoff = 250 * time.Millisecond

// Close releases the subscription. It is idempotent.
func (s *Subscription) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.pending = nil
	if s.onEnd != nil {
		s.onEnd()
	}
}

// Note returns what the subscriber should be told before its first event
// (a position that named fewer partitions than the stream has), or "".
func (s *Subscription) Note() string { return s.note }
