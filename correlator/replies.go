package correlator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/topics"
)

// poll is the reply consumer: it hands each final reply to its waiter and
// queues every other reply (progress, late, asynchronous, foreign) for the
// store, which keeps those whose result is pending. It returns when ctx
// ends.
func (c *Correlator) poll(ctx context.Context) error {
	var backoff topics.PollBackoff
	for {
		pctx, cancel := backoff.Context(ctx)
		fs := c.cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if fs.IsClientClosed() {
			return fmt.Errorf("reply consumer: %w", kgo.ErrClientClosed)
		}
		var failed error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				failed = fmt.Errorf("%s[%d]: %w", t, p, err)
				c.log.LogAttrs(ctx, slog.LevelWarn, "reading replies failed; retrying",
					slog.String("topic", t), slog.Int("partition", int(p)), slog.Any("err", err))
			}
		})
		if failed != nil {
			c.readErr.Store(&failed)
		} else {
			c.readErr.Store(nil)
		}
		backoff.After(c.cl, fs)
		if recreated := topics.RecreatedTopics(fs); len(recreated) > 0 {
			c.reread(ctx, recreated)
		}
		var batch keepBatch
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				id, rep := decodeReply(r, c.allow)
				if !ValidID(id) {
					c.obs.CorrelatorReply(ReplyUnknown)
					c.log.LogAttrs(ctx, slog.LevelDebug, "reply without a valid correlation id ignored",
						slog.String("topic", r.Topic), slog.Int("partition", int(r.Partition)), slog.Int64("offset", r.Offset))
					continue
				}
				if rep.Final && c.waiters.Deliver(id, rep) {
					c.obs.CorrelatorReply(ReplyMatched)
					continue
				}
				// Queued even when its request waits: a Detach may have
				// just made its result pending. keep counts it.
				batch.pushes = append(batch.pushes, push{id: string(id), reply: rep, waiting: !rep.Final && c.waiters.has(id)})
			}
			if n := len(p.Records); n > 0 {
				batch.next = append(batch.next, readPos{p.Topic, p.Partition, p.Records[n-1].Offset + 1})
			}
		})
		if len(batch.pushes) == 0 && len(batch.next) == 0 {
			continue
		}
		// Through the keeper even without replies to keep: a position
		// moves on only once every reply before it is kept. The keeper
		// runs until poll returns, so this send cannot block forever; it
		// applies back-pressure while Redis is slow or down.
		c.queue <- batch
	}
}

// keepBatch is what one poll hands the keeper: the replies to keep, and
// the positions the reader may record once they are kept.
type keepBatch struct {
	pushes []push
	next   []readPos
}

// readPos is the next offset to read in a reply partition.
type readPos struct {
	topic     string
	partition int32
	offset    int64
}

// keep writes queued replies to the store, then moves the recorded read
// positions past them, until the queue is closed; it counts each reply
// as late (kept), matched (a progress reply to a waiting request) or
// unknown. A batch that cannot be stored (Redis down) is retried until it
// is, with a backoff of up to a second: replies are kept when Redis
// returns, and meanwhile the reader stops (back-pressure). Once ctx ends
// (shutdown) a failing batch is given up after one more try; its replies
// are not lost: the positions stay before them, so the partition's next
// reader reads them again.
func (c *Correlator) keep(ctx context.Context) {
	base := context.WithoutCancel(ctx) // drains the queue after ctx ends
	for batch := range c.queue {
		if len(batch.pushes) > 0 && !c.keepBatch(ctx, base, batch.pushes) {
			continue // given up at shutdown: the positions stay
		}
		c.posMu.Lock()
		for _, p := range batch.next {
			// Only partitions still read here: one released meanwhile
			// has a new reader, whose positions these are not.
			if _, ok := c.next[p.topic][p.partition]; ok {
				c.next[p.topic][p.partition] = p.offset
			}
		}
		c.posMu.Unlock()
	}
}

// keepBatch stores pushes, retrying while the store fails; it reports
// false when it gave up because ctx ended.
func (c *Correlator) keepBatch(ctx, base context.Context, pushes []push) bool {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(base, 5*time.Second)
		kept, err := c.store.pushEach(pctx, pushes)
		cancel()
		if err == nil {
			c.keepErr.Store(nil)
			for i, k := range kept {
				switch {
				case k:
					c.obs.CorrelatorReply(ReplyLate)
				case pushes[i].waiting:
					c.obs.CorrelatorReply(ReplyMatched)
				default:
					c.obs.CorrelatorReply(ReplyUnknown)
				}
			}
			if attempt > 1 {
				c.log.LogAttrs(ctx, slog.LevelInfo, "replies kept after the store came back",
					slog.Int("replies", len(pushes)), slog.Int("attempts", attempt))
			}
			return true
		}
		if ctx.Err() != nil {
			c.log.LogAttrs(base, slog.LevelWarn, "keeping replies failed at shutdown; the partition's next reader reads them again",
				slog.Int("replies", len(pushes)), slog.Any("err", err))
			return false
		}
		c.keepErr.Store(&err)
		if attempt == 1 || attempt%20 == 0 {
			c.log.LogAttrs(ctx, slog.LevelWarn, "keeping replies failed; retrying until the store answers",
				slog.Int("replies", len(pushes)), slog.Int("attempt", attempt), slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// decodeReply reads a reply record by the reply contract. id aliases the
// record's header value.
func decodeReply(r *kgo.Record, allow map[string]string) (id []byte, rep Reply) {
	rep = Reply{Status: 200, Final: true, Body: r.Value, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	for _, h := range r.Headers {
		switch {
		case h.Key == topics.HeaderCorrelationID:
			id = h.Value
		case h.Key == topics.HeaderStatus:
			st, ok := parseStatus(h.Value)
			if !ok {
				rep.Invalid = fmt.Sprintf("%s %q is not an HTTP status from 200 to 599", topics.HeaderStatus, h.Value)
				continue
			}
			rep.Status = st
		case h.Key == topics.HeaderTraceParent:
			if tp := string(h.Value); topics.ValidTraceParent(tp) {
				rep.TraceParent = tp
			}
		case h.Key == topics.HeaderFinal:
			rep.Final = !bytes.EqualFold(bytes.TrimSpace(h.Value), []byte("false"))
		case strings.EqualFold(h.Key, topics.HeaderContentType), h.Key == "contentType": // Spring's MessageHeaders.CONTENT_TYPE
			rep.ContentType = string(h.Value)
		case len(h.Key) > len(topics.HeaderResponsePrefix) && strings.EqualFold(h.Key[:len(topics.HeaderResponsePrefix)], topics.HeaderResponsePrefix):
			name, ok := allow[strings.ToLower(h.Key[len(topics.HeaderResponsePrefix):])]
			if ok && validHeaderValue(h.Value) {
				rep.Header = append(rep.Header, HeaderField{Name: name, Value: string(h.Value)})
			}
		}
	}
	return id, rep
}

// parseStatus reads a ferry-status: exactly three digits, 200 to 599 (the
// pattern /asyncapi.json gives the header).
func parseStatus(v []byte) (int, bool) {
	if len(v) != 3 || v[0] < '2' || v[0] > '5' || v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9' {
		return 0, false
	}
	return int(v[0]-'0')*100 + int(v[1]-'0')*10 + int(v[2]-'0'), true
}

// validHeaderValue accepts visible ASCII, spaces and tabs: nothing that
// could end a header line.
func validHeaderValue(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// partitionCount asks the cluster how many partitions topic has.
func partitionCount(ctx context.Context, cl *kgo.Client, topic string) (int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, fmt.Errorf("reply topic %s: %w", topic, err)
		}
		return int32(len(t.Partitions)), nil
	}
	return 0, fmt.Errorf("reply topic %s: not in metadata", topic)
}

// listOffsets returns the end (ts -1) or start (ts -2) offsets of the
// given partitions of topic.
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, parts []int32, ts int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = ts
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make(map[int32]int64, len(parts))
	var errs []error
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				errs = append(errs, fmt.Errorf("list offsets of %s/%d: %w", topic, p.Partition, err))
				continue
			}
			out[p.Partition] = p.Offset
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("list offsets of %s/%d: no answer", topic, p)
		}
	}
	return out, nil
}

// reread consumes reply topics that were deleted and recreated under the
// client again, from their start: their fetches fail with UNKNOWN_TOPIC_ID
// because franz-go keeps a topic's old ID until it is purged. Replies to
// requests sent since the topic came back are on the new topic.
func (c *Correlator) reread(ctx context.Context, names []string) {
	c.log.LogAttrs(ctx, slog.LevelWarn, "reply topics were recreated; reading them again from their start", slog.Any("topics", names))
	c.cl.PurgeTopicsFromConsuming(names...)
	consume := make(map[string]map[int32]kgo.Offset, len(names))
	c.posMu.Lock()
	for _, t := range names {
		consume[t] = make(map[int32]kgo.Offset, len(c.next[t]))
		for p := range c.next[t] {
			consume[t][p] = kgo.NewOffset().AtStart()
			c.next[t][p] = 0
		}
	}
	c.posMu.Unlock()
	c.cl.AddConsumePartitions(consume)
}
