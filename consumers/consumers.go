// Package consumers reads Kafka for clients: the stream hub that fans one
// shared consumer per topic out to many SSE subscribers, and the replay
// reader for bounded history reads and redrives. (The SDK for responders
// is consumers/respond.)
//
// It may import topics and franz-go, and never correlator, ingress or an
// HTTP library: it knows nothing about HTTP.
//
// The hub's files split the pure fan-out from the I/O: hub.go (the ring of
// recent records per topic), subscription.go (one subscriber's position and
// filter), filter.go, cursor.go and start.go are free of Kafka; source.go
// is the poll loop of the one live consumer and history.go the catch-up
// reads for subscribers that resume from further back than the ring holds.
package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// Hub serves the configured streams: one shared consumer per topic fans
// every record out to all the topic's subscribers, however many there are,
// and subscribers that resume from an older position catch up from Kafka
// first. Build it with NewHub, run its consumer with Run, change its
// streams with SetStreams, and end every stream with Close. It is safe for
// concurrent use.
type Hub struct {
	cfg  HubConfig
	log  *slog.Logger
	live *kgo.Client
	hist history

	// set is the streams now configured; SetStreams replaces it whole.
	set atomic.Pointer[streamSet]
	// mu serialises SetStreams and guards what it hands to Run.
	mu      sync.Mutex
	changes feedChanges
	// wake ends Run's current poll, so that it takes changes in; nil
	// while Run is not polling.
	wake context.CancelFunc

	subs atomic.Int64
	// life is the hub's own lifetime, ended by Close: it ends every
	// subscription and bounds their catch-up reads.
	life context.Context
	stop context.CancelFunc
}

// streamSet is the hub's streams at one time, and the feeds of their
// topics. It is not changed once stored.
type streamSet struct {
	byName map[string]*stream
	feeds  map[string]*feed // by topic
	order  []*feed          // feeds in configuration order
}

// stream is one configured stream. Its life ends with the hub, or when a
// new configuration removes the stream or points it at another topic
// (cause ErrStreamRemoved); its subscriptions end with it.
type stream struct {
	cfg  topics.StreamConfig
	feed *feed
	life context.Context
	end  context.CancelCauseFunc
}

// feedChanges are the feeds SetStreams added and retired since Run last
// looked: Run starts and stops consuming their topics.
type feedChanges struct {
	added, retired []*feed
}

// NewHub returns a hub for streams. live is the client whose consumer the
// hub drives (Run adds the streams' partitions to it, so it must not
// consume anything else); reader serves the catch-up reads and offset
// lookups of resuming subscribers, on connections apart from the live
// consumer's long polls. The caller owns both clients and closes them after
// Run has returned.
func NewHub(cfg HubConfig, streams []topics.StreamConfig, live, reader *kgo.Client, opts ...Option) *Hub {
	h := newHub(cfg, streams, &kafkaHistory{cl: reader}, buildOptions(opts))
	h.live = live
	return h
}

func newHub(cfg HubConfig, streams []topics.StreamConfig, hist history, o options) *Hub {
	h := &Hub{
		cfg:  cfg.WithDefaults(),
		log:  o.log.With("component", "hub"),
		hist: hist,
	}
	h.life, h.stop = context.WithCancel(context.Background())
	set, _ := h.nextSet(&streamSet{}, streams)
	h.set.Store(set)
	return h
}

// nextSet builds the set for streams from cur. A stream whose name and
// topic are unchanged keeps its lifetime (its subscribers stay), with its
// new settings; a topic that cur already reads keeps its feed. It returns
// the changes: the feeds of new topics and those of topics no stream
// reads any more.
func (h *Hub) nextSet(cur *streamSet, streams []topics.StreamConfig) (*streamSet, feedChanges) {
	next := &streamSet{byName: make(map[string]*stream, len(streams)), feeds: make(map[string]*feed)}
	var ch feedChanges
	for _, sc := range streams {
		f, ok := next.feeds[sc.Topic]
		if !ok {
			if f, ok = cur.feeds[sc.Topic]; !ok {
				f = newFeed(sc.Topic, max(h.cfg.History, h.cfg.Buffer))
				ch.added = append(ch.added, f)
			}
			next.feeds[sc.Topic] = f
			next.order = append(next.order, f)
		}
		st := &stream{cfg: sc, feed: f}
		if old, ok := cur.byName[sc.Name]; ok && old.feed == f {
			st.life, st.end = old.life, old.end
		} else {
			st.life, st.end = context.WithCancelCause(h.life)
		}
		next.byName[sc.Name] = st
	}
	for _, f := range cur.order {
		if next.feeds[f.topic] != f {
			ch.retired = append(ch.retired, f)
		}
	}
	return next, ch
}

// SetStreams makes streams the hub's streams, as a reload of the config
// does. A stream whose name and topic stay keeps its subscribers; they
// see its new settings only where they are read per record (none today:
// auth, scopes and filters are checked when subscribing). A stream that
// is gone, or now reads another topic, ends its subscribers: their Fetch
// returns ErrStreamRemoved. Run starts consuming the topics no stream
// read before, from their end, and stops consuming those no stream reads
// any more.
func (h *Hub) SetStreams(streams []topics.StreamConfig) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.set.Load()
	next, ch := h.nextSet(cur, streams)
	h.set.Store(next)
	for name, st := range cur.byName {
		if ns, ok := next.byName[name]; !ok || ns.life != st.life {
			st.end(ErrStreamRemoved)
		}
	}
	if len(ch.added)+len(ch.retired) == 0 {
		return
	}
	h.changes.added = append(h.changes.added, ch.added...)
	h.changes.retired = append(h.changes.retired, ch.retired...)
	if h.wake != nil {
		h.wake()
	}
}

// Stream returns the configuration of the named stream.
func (h *Hub) Stream(name string) (topics.StreamConfig, bool) {
	st, ok := h.set.Load().byName[name]
	if !ok {
		return topics.StreamConfig{}, false
	}
	return st.cfg, true
}

// Streams returns the configured streams, sorted by name.
func (h *Hub) Streams() []topics.StreamConfig {
	set := h.set.Load()
	out := make([]topics.StreamConfig, 0, len(set.byName))
	for _, st := range set.byName {
		out = append(out, st.cfg)
	}
	slices.SortFunc(out, func(a, b topics.StreamConfig) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int { return int(h.subs.Load()) }

// Subscribe opens a subscription to the named stream, starting at from and
// keeping the records that pass filter. It waits, bounded by ctx, until the
// hub knows the stream's topic. Errors wrap ErrUnknownStream,
// ErrBadPosition (a cursor naming more partitions than the topic has),
// ErrUnavailable or ErrClosed. The caller must Close the subscription.
func (h *Hub) Subscribe(ctx context.Context, stream string, from Start, filter Filter) (*Subscription, error) {
	st, ok := h.set.Load().byName[stream]
	if !ok {
		return nil, fmt.Errorf("subscribe %q: %w", stream, ErrUnknownStream)
	}
	sc, f := st.cfg, st.feed
	select {
	case <-f.ready:
	case <-st.life.Done():
		return nil, fmt.Errorf("subscribe %q: %w", stream, lifeErr(st.life))
	case <-ctx.Done():
		return nil, fmt.Errorf("subscribe %q: topic %s is not being consumed yet: %w (%w)", stream, sc.Topic, ErrUnavailable, ctx.Err())
	}
	if st.life.Err() != nil {
		return nil, fmt.Errorf("subscribe %q: %w", stream, lifeErr(st.life))
	}

	s := &Subscription{f: f, hist: h.hist, filter: filter, buffer: uint64(h.cfg.Buffer), life: st.life}
	switch from.kind {
	case startLatest:
		f.mu.RLock()
		s.cur = f.pos.Clone()
		s.seq = f.head
		s.live = true
		s.caughtUp = true
		f.mu.RUnlock()
	case startCursor:
		if len(from.cursor) > f.parts {
			return nil, fmt.Errorf("subscribe %q: %w: the position names %d partitions; the stream has %d", stream, ErrBadPosition, len(from.cursor), f.parts)
		}
		if err := h.checkCursorEnd(ctx, sc.Topic, f, from.cursor); err != nil {
			return nil, fmt.Errorf("subscribe %q: %w", stream, err)
		}
		s.cur = make(Cursor, f.parts) // partitions the cursor lacks start at 0: the earliest
		copy(s.cur, from.cursor)
		if n := len(from.cursor); n < f.parts {
			// Partitions added since the id was issued: said, not silent.
			s.note = fmt.Sprintf("the position names %d of the stream's %d partitions: partitions %d-%d are read from their start", n, f.parts, n, f.parts-1)
		}
	case startEarliest, startTime:
		ts := int64(-2)
		if from.kind == startTime {
			ts = from.time.UnixMilli()
		}
		c, err := h.hist.offsets(ctx, sc.Topic, ts)
		if err != nil {
			return nil, fmt.Errorf("subscribe %q: %w: %w", stream, ErrUnavailable, err)
		}
		f.mu.RLock()
		s.cur = make(Cursor, f.parts)
		for p := range s.cur {
			switch {
			case p < len(c) && c[p] >= 0:
				s.cur[p] = c[p]
			default:
				s.cur[p] = f.pos[p] // no record that recent: from the live end
			}
		}
		f.mu.RUnlock()
	}
	h.subs.Add(1)
	s.onEnd = func() { h.subs.Add(-1) }
	return s, nil
}

// Check reports whether every stream's topic is being consumed, for
// /readyz.
func (h *Hub) Check(context.Context) error {
	var waiting []string
	for _, f := range h.set.Load().order {
		if !f.started() {
			waiting = append(waiting, f.topic)
		}
	}
	if len(waiting) > 0 {
		slices.Sort(waiting)
		return fmt.Errorf("%w: stream topics not consumed yet: %s", ErrUnavailable, strings.Join(waiting, ", "))
	}
	return nil
}

// Close ends every subscription (their Done channels close) and refuses new
// ones; Run returns soon after. It does not close the Kafka clients. It is
// idempotent and returns nil.
func (h *Hub) Close() error {
	h.stop()
	return nil
}

// lifeErr is why a stream's life ended: ErrStreamRemoved, or ErrClosed
// when the hub closed.
func lifeErr(life context.Context) error {
	if errors.Is(context.Cause(life), ErrStreamRemoved) {
		return ErrStreamRemoved
	}
	return ErrClosed
}

// checkCursorEnd refuses a cursor that names an offset past the end of
// its partition (an id kept from before the topic was recreated, or made
// up): the subscriber would silently get nothing there. The hub's own
// position is checked first; only an offset past it costs a look at the
// broker's end offsets (another instance's hub may be a little ahead).
func (h *Hub) checkCursorEnd(ctx context.Context, topic string, f *feed, c Cursor) error {
	f.mu.RLock()
	ahead := false
	for p, o := range c {
		if p < len(f.pos) && o > f.pos[p] {
			ahead = true
		}
	}
	f.mu.RUnlock()
	if !ahead {
		return nil
	}
	end, err := h.hist.offsets(ctx, topic, -1)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	for p, o := range c {
		if p < len(end) && o > end[p] {
			return fmt.Errorf("%w: partition %d: offset %d is past its end (%d); the id may be from before the topic was recreated: reconnect without it", ErrBadPosition, p, o, end[p])
		}
	}
	return nil
}
