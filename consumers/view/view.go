// Package view keeps a compacted topic in memory: the latest record of
// each key, read from the start of the topic when ferry starts and
// followed live, a tombstone (a null value) removing its key. It serves
// the GET routes of ingress: one key (Get, Wait for a change) or the keys
// in order, page by page (List).
//
// It may import topics and franz-go; never ingress, correlator or Redis.
package view

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultMaxKeys is view.max_keys's default.
const DefaultMaxKeys = 1_000_000

// Entry is the latest record of one key.
type Entry struct {
	Key         string
	Value       []byte
	ContentType string
	Partition   int32
	Offset      int64
	Time        time.Time
}

// ETag is the entry's entity tag: its partition and offset, quoted.
func (e *Entry) ETag() string { return fmt.Sprintf(`"%d-%d"`, e.Partition, e.Offset) }

// ErrFull is Get's and List's error once the topic holds more keys than
// max_keys: the view stopped taking new keys, so it can no longer answer
// for every key.
var ErrFull = errors.New("the view holds max_keys keys; raise view.max_keys")

// ErrNotReady is the error of Ready (and of Get and List) until the view
// has read the topic up to the end offsets it saw at start.
var ErrNotReady = errors.New("the view is still reading its topic")

// View is the latest record of each key of one topic. It is safe for
// concurrent use.
type View struct {
	topic   string
	maxKeys int
	cl      *kgo.Client
	log     *slog.Logger

	mu      sync.RWMutex
	entries map[string]*Entry
	waiters map[string]chan struct{} // closed when their key changes
	order   *btree.BTreeG[string]    // the keys in order, for List
	read    map[int32]int64          // the next offset to read, per partition
	full    bool
	fullLog sync.Once

	caughtUp atomic.Bool
	targets  map[int32]int64 // end offsets at start; read by Run only
}

// New returns a View of topic read with a client built from opts (which
// must not name topics to consume or a group). Run reads it; Close
// closes its client.
func New(topic string, maxKeys int, opts []kgo.Opt, log *slog.Logger) (*View, error) {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", topic, err)
	}
	return &View{topic: topic, maxKeys: maxKeys, cl: cl, log: log.With("component", "view", "topic", topic),
		entries: make(map[string]*Entry), order: btree.NewOrderedG[string](32), waiters: make(map[string]chan struct{})}, nil
}

// Close closes the view's client, once Run has returned (or never ran).
func (v *View) Close() { v.cl.Close() }

// Topic is the topic the view reads.
func (v *View) Topic() string { return v.topic }

// Run reads the topic until ctx ends.
func (v *View) Run(ctx context.Context) error {
	if err := v.loadTargets(ctx); err != nil {
		return nil // ctx ended
	}
	for {
		fs := v.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			v.log.Warn("view fetch", "partition", p, "err", err)
		})
		fs.EachRecord(v.apply)
		if !v.caughtUp.Load() {
			v.checkCaughtUp()
		}
	}
}

// loadTargets notes the end offsets of the topic at start, retrying
// until the topic answers or ctx ends.
func (v *View) loadTargets(ctx context.Context) error {
	adm := kadm.NewClient(v.cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, v.topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			v.targets = make(map[int32]int64)
			ends.Each(func(o kadm.ListedOffset) { v.targets[o.Partition] = o.Offset })
			v.checkCaughtUp()
			return nil
		}
		v.log.Warn("view: listing the topic's end offsets", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// checkCaughtUp marks the view ready once every partition was read up to
// its target.
func (v *View) checkCaughtUp() {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for p, end := range v.targets {
		if end > 0 && v.read[p] < end {
			return
		}
	}
	if !v.caughtUp.Swap(true) {
		v.log.Info("view caught up", "keys", len(v.entries))
	}
}

// apply takes one record into the view.
func (v *View) apply(r *kgo.Record) {
	key := string(r.Key)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.read == nil {
		v.read = make(map[int32]int64)
	}
	v.read[r.Partition] = r.Offset + 1
	old, had := v.entries[key]
	switch {
	case r.Value == nil:
		if !had {
			return
		}
		delete(v.entries, key)
		v.order.Delete(key)
	case !had && len(v.entries) >= v.maxKeys:
		v.full = true
		v.fullLog.Do(func() {
			v.log.Error("view: the topic holds more keys than view.max_keys; GETs answer 503 until it is raised and ferry restarted", "max_keys", v.maxKeys)
		})
		return
	default:
		e := old
		if !had {
			e = &Entry{Key: key}
			v.entries[key] = e
			v.order.ReplaceOrInsert(key)
		}
		// A copy: r.Value points into the fetched batch, which would stay
		// alive as long as any of its records is the latest of its key.
		e.Value, e.Partition, e.Offset, e.Time = bytes.Clone(r.Value), r.Partition, r.Offset, r.Timestamp
		e.ContentType = ""
		for _, h := range r.Headers {
			if strings.EqualFold(h.Key, "content-type") {
				e.ContentType = string(h.Value)
			}
		}
	}
	if ch, ok := v.waiters[key]; ok {
		close(ch)
		delete(v.waiters, key)
	}
}

// CaughtUp reports ErrNotReady until the view has caught up with the end
// offsets the topic had at start: the instance's readiness. A view that
// overflowed is caught up; only its GET routes answer 503 (Ready).
func (v *View) CaughtUp(context.Context) error {
	if !v.caughtUp.Load() {
		return ErrNotReady
	}
	return nil
}

// Capacity reports ErrFull once the view overflowed view.max_keys: an
// advisory check, as only the topic's GET routes are out of service.
func (v *View) Capacity(context.Context) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.full {
		return ErrFull
	}
	return nil
}

// Ready reports ErrNotReady until the view has caught up with the end
// offsets the topic had at start, and ErrFull once it overflowed: whether
// it can answer a GET.
func (v *View) Ready(context.Context) error {
	if !v.caughtUp.Load() {
		return ErrNotReady
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.full {
		return ErrFull
	}
	return nil
}

// Get returns a copy of key's entry, or false when the topic has none.
func (v *View) Get(key string) (Entry, bool, error) {
	if err := v.Ready(context.Background()); err != nil {
		return Entry{}, false, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	e, ok := v.entries[key]
	if !ok {
		return Entry{}, false, nil
	}
	return *e, true, nil
}

// Wait returns when key's entry is no longer the one with etag (changed
// or removed), or ctx ends; it then returns the entry as Get does.
func (v *View) Wait(ctx context.Context, key, etag string) (Entry, bool, error) {
	for {
		v.mu.Lock()
		e, ok := v.entries[key]
		if (ok && e.ETag() != etag) || (!ok && etag != "") {
			v.mu.Unlock()
			return v.Get(key)
		}
		ch, waiting := v.waiters[key]
		if !waiting {
			ch = make(chan struct{})
			v.waiters[key] = ch
		}
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return v.Get(key)
		}
	}
}

// List returns up to limit entries whose keys start with prefix, in key
// order, after the key after (exclusive; "" for the first page), and
// whether more follow.
func (v *View) List(prefix, after string, limit int) ([]Entry, bool, error) {
	if err := v.Ready(context.Background()); err != nil {
		return nil, false, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []Entry
	more := false
	v.order.AscendGreaterOrEqual(max(prefix, after), func(k string) bool {
		switch {
		case k == after:
			return true
		case !strings.HasPrefix(k, prefix):
			return false
		case len(out) == limit:
			more = true
			return false
		}
		out = append(out, *v.entries[k])
		return true
	})
	return out, more, nil
}

// Len returns how many keys the view holds.
func (v *View) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.entries)
}
