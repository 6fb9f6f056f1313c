package consumers

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// startRetry spaces attempts to start consuming a topic that is missing or
// whose broker is unreachable.
const startRetry = time.Second

// Run drives the hub's one live consumer until ctx ends or Close is
// called: it finds each stream topic's partitions and end offsets, consumes
// every partition from there, and publishes each record to the topic's
// feed. A topic that is missing is retried every second; the others are
// served meanwhile. Topics that SetStreams adds are started the same way,
// and those it retires are no longer consumed. Run returns nil when
// stopped.
func (h *Hub) Run(ctx context.Context) error {
	if h.live == nil {
		return errors.New("hub: Run needs the live client given to NewHub")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.life, cancel)()

	h.mu.Lock()
	pending := append([]*feed(nil), h.set.Load().order...)
	h.changes = feedChanges{} // already in the set's feeds
	h.mu.Unlock()
	warned := make(map[string]bool)
	var backoff topics.PollBackoff
	for {
		pending = h.startFeeds(ctx, pending, warned)
		pctx, bcancel := backoff.Context(ctx)
		pcancel := context.CancelFunc(func() {})
		if len(pending) > 0 {
			pctx, pcancel = context.WithTimeout(pctx, startRetry)
		}
		pctx, wake := context.WithCancel(pctx)
		h.mu.Lock()
		if len(h.changes.added)+len(h.changes.retired) > 0 {
			wake() // take them in first
		}
		h.wake = wake
		h.mu.Unlock()
		fs := h.live.PollRecords(pctx, 4096)
		h.mu.Lock()
		h.wake = nil
		ch := h.changes
		h.changes = feedChanges{}
		h.mu.Unlock()
		wake()
		pcancel()
		bcancel()
		if ctx.Err() != nil {
			return nil
		}
		if fs.IsClientClosed() {
			return errors.New("hub: the live Kafka client was closed before the hub")
		}
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			h.log.LogAttrs(ctx, slog.LevelWarn, "stream fetch failed; retrying",
				slog.String("topic", topic), slog.Int("partition", int(p)), slog.Any("err", err))
		})
		feeds := h.set.Load().feeds
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if f := feeds[fp.Topic]; f != nil && f.started() && len(fp.Records) > 0 {
				f.publish(toEvents(fp.Records))
			}
		})
		backoff.After(h.live, fs)
		pending = h.apply(ctx, pending, ch)
	}
}

// apply stops consuming the topics of the retired feeds (their feeds are
// out of the set, so nothing more is published to them) and adds the new
// feeds to pending, to be started.
func (h *Hub) apply(ctx context.Context, pending []*feed, ch feedChanges) []*feed {
	for _, f := range ch.retired {
		pending = slices.DeleteFunc(pending, func(p *feed) bool { return p == f })
		if !f.started() {
			continue
		}
		// Also drops what the client buffered of the topic, and its
		// metadata: a later feed of the same topic starts afresh.
		h.live.PurgeTopicsFromClient(f.topic)
		h.log.LogAttrs(ctx, slog.LevelInfo, "stopped consuming stream topic", slog.String("topic", f.topic))
	}
	return append(pending, ch.added...)
}

// startFeeds starts consuming the pending feeds' topics from their end and
// returns those that could not be started yet.
func (h *Hub) startFeeds(ctx context.Context, pending []*feed, warned map[string]bool) []*feed {
	var still []*feed
	for _, f := range pending {
		end, err := h.hist.offsets(ctx, f.topic, -1)
		if err != nil || len(end) == 0 {
			if ctx.Err() == nil && !warned[f.topic] {
				warned[f.topic] = true
				h.log.LogAttrs(ctx, slog.LevelWarn, "stream topic not available; retrying every second",
					slog.String("topic", f.topic), slog.Any("err", err))
			}
			still = append(still, f)
			continue
		}
		offsets := make(map[int32]kgo.Offset, len(end))
		for p, o := range end {
			offsets[int32(p)] = kgo.NewOffset().At(o)
		}
		f.start(end)
		h.live.AddConsumePartitions(map[string]map[int32]kgo.Offset{f.topic: offsets})
		h.log.LogAttrs(ctx, slog.LevelInfo, "consuming stream topic",
			slog.String("topic", f.topic), slog.Int("partitions", len(end)))
	}
	return still
}

// toEvents converts fetched records. The records' slices are not reused by
// the client (no pools are configured), so they are kept as they are.
func toEvents(rs []*kgo.Record) []*Event {
	evs := make([]*Event, len(rs))
	all := make([]Event, len(rs))
	for i, r := range rs {
		e := &all[i]
		e.Partition, e.Offset, e.Key, e.Value, e.Timestamp = r.Partition, r.Offset, r.Key, r.Value, r.Timestamp
		if len(r.Headers) > 0 {
			e.Headers = make([]topics.Header, len(r.Headers))
			for j, rh := range r.Headers {
				e.Headers[j] = topics.Header{Key: rh.Key, Value: rh.Value}
			}
			if v, ok := header(e, topics.HeaderType); ok {
				e.typ = string(v)
			}
		}
		evs[i] = e
	}
	return evs
}
