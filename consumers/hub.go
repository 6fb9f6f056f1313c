package consumers

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-gw/ferry/topics"
)

// This file is the hub's fan-out logic, free of Kafka: a feed holds the
// recent records of one topic in a ring that every subscriber of the topic
// reads at its own pace. Publishing a record costs the same whether one or
// ten thousand clients are subscribed; a subscriber that falls more than its
// buffer behind the head of the ring is a slow consumer.

// Event is one record of a stream's topic. The hub shares one Event between
// every subscriber that receives it, so it must not be modified.
type Event struct {
	Partition int32
	Offset    int64
	// Key is nil for a null key.
	Key       []byte
	Value     []byte
	Headers   []topics.Header
	Timestamp time.Time

	// next is the feed's position after this record and id its text form;
	// both are set by publish and shared by every synced subscriber.
	next Cursor
	id   string
	// typ caches the ce_type header, converted once for all subscribers.
	typ string
}

// Type returns the record's ce_type header, or "" when it has none.
func (e *Event) Type() string {
	if e.typ != "" {
		return e.typ
	}
	v, _ := header(e, topics.HeaderType)
	return string(v)
}

// Delivery is an Event as one subscriber receives it.
type Delivery struct {
	*Event
	// ID is the subscriber's Cursor after this event, in text form:
	// resuming from it loses nothing and repeats nothing.
	ID string
}

// feed is the live state of one topic: the position the hub has consumed
// up to, and a ring of the most recent records. Only the source goroutine
// publishes; subscribers read under the read lock.
type feed struct {
	topic string
	// ready is closed by start, once the partitions and the live position
	// are known; nothing else is read before.
	ready chan struct{}
	// pub is the publisher's own copy of the position, touched only by
	// publish, so that the costly part of publishing runs unlocked; idBuf
	// is its scratch space for ids.
	pub   Cursor
	idBuf []byte
	// waiting is set by a subscriber that is about to wait on wake, so
	// that publish replaces the channel only when someone waits on it.
	waiting atomic.Bool

	mu sync.RWMutex
	// parts is the topic's partition count, fixed at start.
	parts int
	// ring holds the records with sequence numbers [head-len, head), the
	// record with sequence s at ring[s%len(ring)].
	ring []*Event
	head uint64
	// base[p]: the ring holds every record of partition p from base[p] up
	// to pos[p]; older ones are only in Kafka.
	base Cursor
	// pos[p] is the offset of the next record of partition p the hub will
	// publish.
	pos Cursor
	// wake is closed (and replaced) by every publish.
	wake chan struct{}
}

func newFeed(topic string, history int) *feed {
	return &feed{
		topic: topic,
		ready: make(chan struct{}),
		ring:  make([]*Event, history),
		wake:  make(chan struct{}),
	}
}

// start sets the topic's partitions and the live position, then lets
// subscribers in. It is called once.
func (f *feed) start(pos Cursor) {
	f.mu.Lock()
	f.parts = len(pos)
	f.pos = pos.Clone()
	f.base = pos.Clone()
	f.pub = pos.Clone()
	f.mu.Unlock()
	close(f.ready)
}

// started reports whether start was called.
func (f *feed) started() bool {
	select {
	case <-f.ready:
		return true
	default:
		return false
	}
}

// tail is the sequence number of the oldest record in the ring. The caller
// holds mu.
func (f *feed) tail() uint64 {
	return f.head - min(f.head, uint64(len(f.ring)))
}

// publish appends records, in offset order within each partition, to the
// ring and wakes every waiting subscriber. Records of partitions outside
// the topic's partition count at start are dropped.
func (f *feed) publish(evs []*Event) {
	if len(evs) == 0 {
		return
	}
	// Give every record the position after it, and its text: one
	// allocation per batch holds all positions, one all their texts.
	p := len(f.pub)
	nexts := make([]int64, 0, p*len(evs))
	ids := f.idBuf[:0]
	kept := evs[:0]
	for _, e := range evs {
		if int(e.Partition) >= p || e.Partition < 0 {
			continue
		}
		f.pub[e.Partition] = e.Offset + 1
		nexts = append(nexts, f.pub...)
		e.next = Cursor(nexts[len(nexts)-p : len(nexts) : len(nexts)])
		ids = e.next.Append(ids)
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		return
	}
	all, at := string(ids), 0
	for _, e := range kept {
		n := e.next.textLen()
		e.id = all[at : at+n]
		at += n
	}
	f.idBuf = ids[:0]

	f.mu.Lock()
	n := uint64(len(f.ring))
	for _, e := range kept {
		slot := f.head % n
		if old := f.ring[slot]; old != nil && f.head >= n {
			f.base[old.Partition] = max(f.base[old.Partition], old.Offset+1)
		}
		f.ring[slot] = e
		f.head++
	}
	copy(f.pos, f.pub)
	var wake chan struct{}
	if f.waiting.Swap(false) {
		wake = f.wake
		f.wake = make(chan struct{})
	}
	f.mu.Unlock()
	if wake != nil {
		close(wake)
	}
}

// covered reports whether the ring holds every record from c on, so a
// subscriber at c can read the ring without a gap. The caller holds mu.
func (f *feed) covered(c Cursor) bool {
	for p, b := range f.base {
		if c[p] < b {
			return false
		}
	}
	return true
}

// seek returns the sequence number of the first record in the ring that a
// subscriber at c has not seen. The caller holds mu and has checked that
// the ring covers c.
func (f *feed) seek(c Cursor) uint64 {
	atHead := true
	for p, o := range f.pos {
		if c[p] < o {
			atHead = false
			break
		}
	}
	if atHead {
		return f.head
	}
	n := uint64(len(f.ring))
	for seq := f.tail(); seq < f.head; seq++ {
		e := f.ring[seq%n]
		if e.Offset >= c[e.Partition] {
			return seq
		}
	}
	return f.head
}
