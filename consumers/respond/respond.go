// Package respond is the Go SDK for backends that answer ferry's
// request/response routes: a Responder consumes request topics in a
// consumer group, calls a Handler for each request that asks for a reply,
// and produces the reply by ferry's reply contract (Spring Kafka's
// request/reply headers, plus ferry-status and ferry-header-*), committing
// a request only after its reply is acknowledged.
//
// It may import topics (the header names and the reply address) and
// franz-go, and never consumers, correlator, ingress or an HTTP library: a
// backend links it without the rest of ferry.
package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// Request is one request record handed to a Handler.
type Request struct {
	// Where the record was read.
	Topic     string
	Partition int32
	Offset    int64
	// Key and Value are the record's; Value is the HTTP request body.
	Key   []byte
	Value []byte
	// Headers are all record headers.
	Headers []topics.Header
	// ID, Type, Source and ContentType are the CloudEvents attributes
	// (ce_id, ce_type, ce_source, content-type), "" when absent.
	ID, Type, Source, ContentType string
	// Time is the record's timestamp.
	Time time.Time
	// CorrelationID is copied into every reply (kafka_correlationId).
	CorrelationID []byte
	// ReplyTo is where replies go (kafka_replyTopic, kafka_replyPartition).
	ReplyTo topics.ReplyTo

	progress func(ctx context.Context, r Reply) error
}

// Header returns the value of the record header name, or "".
func (r Request) Header(name string) string {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}

// Progress sends a progress reply (ferry-final: false) ahead of the final
// one and waits until the broker acknowledged it. Clients see it on
// GET /v1/results/{id} with Accept: text/event-stream.
func (r Request) Progress(ctx context.Context, rep Reply) error {
	if r.progress == nil {
		return errors.New("progress: the request asks for no reply")
	}
	return r.progress(ctx, rep)
}

// Reply is what a Handler answers.
type Reply struct {
	// Status is the HTTP status the client gets (ferry-status); zero
	// means 200.
	Status int
	// ContentType of Body (content-type); empty leaves ferry's default.
	ContentType string
	// Header are response headers (ferry-header-NAME). ferry passes on
	// only those on its allowlist.
	Header map[string]string
	// Body is the response body, the reply record's value.
	Body []byte
}

// Handler answers one request. A returned error (or a panic) becomes a
// reply with status 500 and a problem+json body that reveals nothing of
// the error, which is logged instead. ctx ends when the Responder stops.
type Handler func(ctx context.Context, req Request) (Reply, error)

// ProblemResponderFailed is the problem type of the reply sent for a
// Handler error; ferry lists it with its own problem types
// (ingress/problem.ResponderFailed).
const ProblemResponderFailed = "urn:ferry:problem:responder-failed"

// Config says what a Responder consumes.
type Config struct {
	// Topics are the request topics. Required.
	Topics []string
	// Group is the consumer group; members of one group share the
	// requests. Required.
	Group string
}

// Validate reports every problem of the config.
func (c Config) Validate() error {
	var errs []error
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("topics: at least one request topic is required"))
	}
	for i, t := range c.Topics {
		if err := topics.ValidTopic(t); err != nil {
			errs = append(errs, fmt.Errorf("topics[%d]: %w", i, err))
		}
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group: required"))
	}
	return errors.Join(errs...)
}

// Responder is a backend written in Go: it consumes request topics in a
// consumer group, calls its Handler for each request that asks for a reply,
// produces the reply by ferry's reply contract (which is Spring Kafka's),
// and commits a request only after its reply is acknowledged. Requests of
// one partition are handled in order; partitions in parallel. Polling does
// not wait for acknowledgements, so replies do not queue behind them.
//
// Build it with New, run it with Run, and Close it when Run has
// returned. It owns its Kafka client.
type Responder struct {
	cl  *kgo.Client
	h   Handler
	log *slog.Logger

	// inflight counts markers still awaiting acknowledgements; tails holds
	// each partition's last marker, so that the next one waits for it.
	inflight sync.WaitGroup
	mu       sync.Mutex
	tails    map[topicPartition]chan struct{}
	failed   atomic.Bool // a reply failed: mark nothing more
	fatal    chan error  // a reply failed for good: Run stops
	// recreated resends replies to reply topics recreated under cl.
	recreated topics.Recreated

	closeOnce sync.Once
	closeErr  error
}

// New returns a Responder for cfg. base are the client options
// that reach the cluster (seeds, TLS, SASL, logger); the Responder adds
// its group settings. A group without committed offsets starts at the
// earliest request, so that no request produced before the group first
// joined goes unanswered (override with kgo.ConsumeResetOffset in base).
// Replies are produced uncompressed, as ferry's own records, so that any
// client reads them, one without a snappy library too (override with
// kgo.ProducerBatchCompression in base).
func New(cfg Config, base []kgo.Opt, h Handler, opts ...Option) (*Responder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("responder: %w", err)
	}
	if h == nil {
		return nil, errors.New("responder: a Handler is required")
	}
	o := options{log: slog.Default()}
	for _, f := range opts {
		f(&o)
	}
	r := &Responder{
		h: h, log: o.log.With("component", "responder", "group", cfg.Group),
		tails: make(map[topicPartition]chan struct{}), fatal: make(chan error, 1),
	}
	all := []kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression())}
	all = append(all, base...)
	all = append(all,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			// Rebalances wait for AllowRebalance, after which no marker
			// starts until the next poll: wait for the running ones.
			r.inflight.Wait()
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				r.log.Warn("commit before losing partitions failed; their last requests may be answered twice", "err", err)
			}
		}),
		kgo.RecordPartitioner(replyPartitioner{}),
	)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("responder: %w", err)
	}
	r.cl = cl
	return r, nil
}

// Run handles requests until ctx ends. It returns nil then, or an error
// wrapping ErrReplyFailed when a reply could not be produced at all. Either
// way it returns only after every reply it produced was acknowledged (or
// failed) and marked for commit.
func (r *Responder) Run(ctx context.Context) error {
	defer r.inflight.Wait()
	var backoff topics.PollBackoff
	for {
		select {
		case err := <-r.fatal:
			r.cl.AllowRebalance()
			return err
		default:
		}
		pctx, cancel := backoff.Context(ctx)
		fs := r.cl.PollRecords(pctx, 1000)
		cancel()
		if ctx.Err() != nil || fs.IsClientClosed() {
			r.cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				r.log.Warn("fetching requests failed; retrying", "topic", t, "partition", p, "err", err)
			}
		})
		backoff.After(r.cl, fs)
		// Handlers of one partition run in order, partitions in parallel.
		// The next poll does not wait for the replies' acknowledgements:
		// markers do, in order per partition.
		var wg sync.WaitGroup
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				wg.Go(func() { r.partition(ctx, p.Records) })
			}
		})
		wg.Wait()
		r.cl.AllowRebalance()
		if recreated := topics.RecreatedTopics(fs); len(recreated) > 0 {
			r.resubscribe(ctx, recreated)
		}
	}
}

// resubscribe purges request topics that were deleted and recreated
// under the client (their fetches fail with UNKNOWN_TOPIC_ID: franz-go
// keeps the old topic ID until the topic is purged) and consumes them
// again, under their new IDs, from the group's committed offsets or the
// start.
func (r *Responder) resubscribe(ctx context.Context, names []string) {
	r.log.LogAttrs(ctx, slog.LevelWarn, "request topics were recreated; consuming them again", slog.Any("topics", names))
	r.cl.PurgeTopicsFromConsuming(names...)
	r.cl.AddConsumeTopics(names...)
}

// partition handles the records of one partition, in order, producing each
// reply without waiting for it, then leaves a marker goroutine (owned by
// Run through r.inflight) that awaits the acknowledgements in order and
// marks the partition for commit up to the last answered request. Markers
// of one partition run one after the other.
func (r *Responder) partition(ctx context.Context, recs []*kgo.Record) {
	results := make([]chan error, len(recs))
	reqs := make([]Request, len(recs))
	reps := make([]Reply, len(recs))
	gens := make([]uint64, len(recs))
	for i, rec := range recs {
		done := make(chan error, 1)
		results[i] = done
		req, ok := newRequest(rec)
		if !ok {
			r.log.LogAttrs(ctx, slog.LevelDebug, "request asks for no reply; skipped",
				slog.String("topic", rec.Topic), slog.Int("partition", int(rec.Partition)), slog.Int64("offset", rec.Offset))
			done <- nil
			continue
		}
		req.progress = func(ctx context.Context, rep Reply) error {
			out := replyRecord(req, rep, false)
			if err := r.cl.ProduceSync(ctx, out).FirstErr(); err != nil {
				return fmt.Errorf("progress reply to %s: %w", out.Topic, err)
			}
			return nil
		}
		reqs[i] = req
		rep := r.call(ctx, req)
		reps[i] = rep
		gens[i] = r.recreated.Gen(req.ReplyTo.Topic)
		// Promises run one at a time: this one only reports.
		r.cl.Produce(ctx, replyRecord(req, rep, true), func(_ *kgo.Record, err error) { done <- err })
	}

	key := topicPartition{recs[0].Topic, recs[0].Partition}
	r.mu.Lock()
	prev := r.tails[key]
	mine := make(chan struct{})
	r.tails[key] = mine
	r.mu.Unlock()
	r.inflight.Add(1)
	go func() {
		defer r.inflight.Done()
		defer close(mine)
		if prev != nil {
			<-prev
		}
		var last *kgo.Record
		for i, done := range results {
			err := <-done
			if err != nil && r.recreated.Retry(r.cl, reqs[i].ReplyTo.Topic, gens[i], err) {
				// The reply topic was recreated under the client: send
				// the reply again, under the topic's new ID.
				err = r.cl.ProduceSync(ctx, replyRecord(reqs[i], reps[i], true)).FirstErr()
			}
			if err != nil && ctx.Err() == nil && !errors.Is(err, kgo.ErrClientClosed) {
				// kgo retries what can be retried, so the reply itself was
				// refused (too large, say): tell the client instead.
				req := reqs[i]
				r.log.LogAttrs(ctx, slog.LevelError, "reply refused; sending an error reply instead",
					slog.String("topic", req.ReplyTo.Topic), slog.String("correlation_id", string(req.CorrelationID)), slog.Any("err", err))
				if err = r.cl.ProduceSync(ctx, replyRecord(req, failedReply(), true)).FirstErr(); err != nil && ctx.Err() == nil {
					select {
					case r.fatal <- fmt.Errorf("%w: to %s: %w", ErrReplyFailed, req.ReplyTo.Topic, err):
					default:
					}
				}
			}
			if err != nil {
				r.failed.Store(true)
			}
			if r.failed.Load() {
				break // never commit past a request without an answer
			}
			last = recs[i]
		}
		if last != nil {
			r.cl.MarkCommitRecords(last)
		}
	}()
}

type topicPartition struct {
	topic     string
	partition int32
}

// call runs the handler, turning an error or a panic into a 500 reply.
func (r *Responder) call(ctx context.Context, req Request) (rep Reply) {
	defer func() {
		if p := recover(); p != nil {
			r.log.LogAttrs(ctx, slog.LevelError, "handler panicked; replying 500",
				slog.String("correlation_id", string(req.CorrelationID)), slog.Any("err", p))
			rep = failedReply()
		}
	}()
	rep, err := r.h(ctx, req)
	if err != nil {
		r.log.LogAttrs(ctx, slog.LevelError, "handler failed; replying 500",
			slog.String("correlation_id", string(req.CorrelationID)), slog.Any("err", err))
		return failedReply()
	}
	return rep
}

// failedReply is the reply for a request the handler could not answer. It
// says nothing about why: the cause is in the responder's log.
func failedReply() Reply {
	body, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{ProblemResponderFailed, "Responder Failed", 500, "the backend could not handle the request"})
	return Reply{Status: 500, ContentType: "application/problem+json", Body: body}
}

// Close commits the marked offsets, leaves the group and closes the
// client. Call it after Run returned. It is idempotent, and it returns
// within about 8 seconds even when the brokers are gone: the commit gets
// 5s and leaving the group 3s (franz-go's Close alone would wait for the
// group to be left, forever without a coordinator).
func (r *Responder) Close() error {
	r.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := r.cl.CommitMarkedOffsets(ctx)
		leave, cancelLeave := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancelLeave()
		_ = r.cl.LeaveGroupContext(leave) // best effort: the session timeout ends the membership anyway
		r.cl.Close()
		if err != nil {
			r.closeErr = fmt.Errorf("responder: final commit: %w", err)
		}
	})
	return r.closeErr
}

// newRequest reads a request record; ok is false when it asks for no reply.
func newRequest(rec *kgo.Record) (Request, bool) {
	id, to, ok := topics.ReplyAddress(rec.Headers)
	if !ok {
		return Request{}, false
	}
	req := Request{
		Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
		Key: rec.Key, Value: rec.Value, Time: rec.Timestamp,
		CorrelationID: id, ReplyTo: to,
		Headers: make([]topics.Header, len(rec.Headers)),
	}
	for i, h := range rec.Headers {
		req.Headers[i] = topics.Header{Key: h.Key, Value: h.Value}
		switch h.Key {
		case topics.HeaderID:
			req.ID = string(h.Value)
		case topics.HeaderType:
			req.Type = string(h.Value)
		case topics.HeaderSource:
			req.Source = string(h.Value)
		case topics.HeaderContentType:
			req.ContentType = string(h.Value)
		}
	}
	return req, true
}

// replyRecord encodes rep by the reply contract.
func replyRecord(req Request, rep Reply, final bool) *kgo.Record {
	out := &kgo.Record{Topic: req.ReplyTo.Topic, Partition: req.ReplyTo.Partition, Key: req.Key, Value: rep.Body}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: topics.HeaderCorrelationID, Value: req.CorrelationID})
	if rep.Status != 0 {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: topics.HeaderStatus, Value: strconv.AppendInt(nil, int64(rep.Status), 10)})
	}
	if rep.ContentType != "" {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: topics.HeaderContentType, Value: []byte(rep.ContentType)})
	}
	names := make([]string, 0, len(rep.Header))
	for k := range rep.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: topics.HeaderResponsePrefix + k, Value: []byte(rep.Header[k])})
	}
	if !final {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: topics.HeaderFinal, Value: []byte("false")})
	}
	return out
}

// replyPartitioner sends a reply to the partition its request named
// (kafka_replyPartition, in Record.Partition), and otherwise to a
// partition chosen by its correlation id, so that the progress replies and
// the final reply of one request stay in order. Record.Partition is
// topics.NoPartition for "any".
type replyPartitioner struct{}

func (replyPartitioner) ForTopic(string) kgo.TopicPartitioner { return replyPartitioner{} }

func (replyPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (replyPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 && int(r.Partition) < n {
		return int(r.Partition)
	}
	// No partition asked for, or one the topic does not have (a
	// misconfigured requester): any partition beats a reply that can
	// never be produced.
	h := fnv.New32a()
	for _, hd := range r.Headers {
		if hd.Key == topics.HeaderCorrelationID {
			h.Write(hd.Value)
			break
		}
	}
	return int(h.Sum32() % uint32(n))
}

// Option configures New.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger, overriding the default of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }
