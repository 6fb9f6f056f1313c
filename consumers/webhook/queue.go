package webhook

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics"
)

// item is one polled record on its way.
type item struct {
	rec   *kgo.Record
	part  *partition
	id    string // MessageID
	key   string
	keyed bool // a null key keeps no order
	// done: delivered, dead-lettered or filtered out; the commit position
	// may pass it.
	done bool
}

// partition is an owned partition's records in fetch order, from the
// first that is not done. Offsets are committed up to the first record
// that is not done, so a crash redelivers, never skips.
type partition struct {
	items []*item
	// gone is closed when the partition is revoked or lost: its records
	// are abandoned (the new owner delivers them again).
	gone    chan struct{}
	revoked bool
}

// add queues a polled record; w.mu is held. A record that matches no
// filter is done at once. A keyed record waits behind the records of its
// key already queued; the first of a key, and a record without a key,
// start a delivery goroutine (owned by Run through w.wg).
func (w *Webhook) add(rec *kgo.Record) {
	ps := w.parts[rec.Partition]
	if ps == nil {
		ps = &partition{gone: make(chan struct{})}
		w.parts[rec.Partition] = ps
	}
	it := &item{rec: rec, part: ps}
	ps.items = append(ps.items, it)
	w.pending++
	if !w.matches(rec) {
		it.done = true
		w.obs.ObserveOutcome(w.cfg.Name, OutcomeFiltered)
		w.advance(ps)
		return
	}
	it.id = MessageID(rec)
	if rec.Key != nil {
		it.key, it.keyed = string(rec.Key), true
		if chain, busy := w.chains[it.key]; busy {
			w.chains[it.key] = append(chain, it)
			return
		}
		w.chains[it.key] = []*item{it}
	}
	w.wg.Go(func() { w.work(it) })
}

// matches reports whether rec passes the webhook's filters.
func (w *Webhook) matches(rec *kgo.Record) bool {
	if !w.filter.ByKey && len(w.filter.Headers) == 0 {
		return true
	}
	e := consumers.Event{Key: rec.Key}
	if len(w.filter.Headers) > 0 {
		e.Headers = make([]topics.Header, len(rec.Headers))
		for i, h := range rec.Headers {
			e.Headers[i] = topics.Header{Key: h.Key, Value: h.Value}
		}
	}
	return w.filter.Match(&e)
}

// work delivers it, then the records queued behind it on its key, one
// after the other, holding one max_in_flight slot.
func (w *Webhook) work(it *item) {
	select {
	case w.sem <- struct{}{}:
	case <-w.stop.Done():
		for it != nil {
			it = w.finish(it, false)
		}
		return
	}
	defer func() { <-w.sem }()
	for it != nil {
		it = w.finish(it, w.deliver(it))
	}
}

// finish records that it is done with (committable: delivered or
// dead-lettered; otherwise abandoned, uncommitted) and returns the next
// record of its key, which the caller delivers next.
func (w *Webhook) finish(it *item, committable bool) *item {
	w.mu.Lock()
	defer w.mu.Unlock()
	var next *item
	if it.keyed {
		chain := w.chains[it.key]
		chain[0] = nil
		chain = chain[1:]
		if len(chain) == 0 {
			delete(w.chains, it.key)
		} else {
			w.chains[it.key] = chain
			next = chain[0]
		}
	}
	if committable {
		it.done = true
		w.advance(it.part)
	}
	return next
}

// advance drops the done records at the head of ps and marks the offset
// after the last of them for commit; w.mu is held, so that no mark is made
// for a partition after it was given up.
func (w *Webhook) advance(ps *partition) {
	if ps.revoked {
		return
	}
	n := 0
	for n < len(ps.items) && ps.items[n].done {
		n++
	}
	if n == 0 {
		return
	}
	last := ps.items[n-1].rec
	clear(ps.items[:n])
	ps.items = ps.items[n:]
	w.pending -= n
	w.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{
		last.Topic: {last.Partition: {Epoch: last.LeaderEpoch, Offset: last.Offset + 1}},
	})
	w.signalRoom()
}

// drop forgets partitions that were revoked or lost: their queued records
// are abandoned and nothing more is marked for them.
func (w *Webhook) drop(partitions []int32) {
	if len(partitions) == 0 {
		return
	}
	w.mu.Lock()
	for _, p := range partitions {
		if ps := w.parts[p]; ps != nil {
			ps.revoked = true
			close(ps.gone)
			w.pending -= len(ps.items)
			delete(w.parts, p)
		}
	}
	w.mu.Unlock()
	w.signalRoom()
}

func (w *Webhook) signalRoom() {
	select {
	case w.room <- struct{}{}:
	default:
	}
}
