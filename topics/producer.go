package topics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer publishes Messages and reports where they were stored. It is safe
// for concurrent use; concurrent calls share the client's batches. The
// caller owns the *kgo.Client and closes it after the last Produce returns.
type Producer struct {
	cl      *kgo.Client
	timeout time.Duration
	obs     Observer // nil: none
	rec     Recreated
	// deadlines end produce's records at the timeout, shared per few
	// milliseconds.
	deadlines deadlines
}

// NewProducer returns a Producer writing through cl. The client should be
// built with acks=all and idempotent writes (franz-go's defaults) and no
// linger, so a lone request is not held back for a batch. timeout bounds
// each Produce (Config.ProduceTimeout); zero means DefaultProduceTimeout.
func NewProducer(cl *kgo.Client, timeout time.Duration, opts ...ProducerOption) *Producer {
	if timeout <= 0 {
		timeout = DefaultProduceTimeout
	}
	p := &Producer{cl: cl, timeout: timeout, deadlines: deadlines{timeout: timeout}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Produce writes m and waits until the broker acknowledged it (acks=all) or
// ctx ends, at most the producer's timeout. A nil error means the record is stored at the returned Position.
// Errors wrap ErrUnavailable, ErrTimeout or ErrRejected, or the context's
// error when the caller gave up. The Observer, if any, learns the outcome.
func (p *Producer) Produce(ctx context.Context, m *Message) (Position, error) {
	if p.obs == nil {
		return p.produce(ctx, m)
	}
	start := time.Now()
	pos, err := p.produce(ctx, m)
	p.obs.ObserveProduce(ProduceResult{Topic: m.Topic, Duration: time.Since(start), Outcome: outcome(err), Code: errorCode(err)})
	return pos, err
}

// promise is where franz-go hands back one record's outcome: a channel
// and the callback that fills it, made once and pooled, with the record
// itself, its headers and their values, reused by the next produce once
// franz-go called the promise (it touches a record no more after that).
type promise struct {
	done chan produced
	fn   func(*kgo.Record, error) // p.complete, bound once

	rec kgo.Record
	buf []byte
	hs  []kgo.RecordHeader
}

// record encodes m into the promise's record.
func (p *promise) record(m *Message) *kgo.Record {
	p.buf, p.hs = m.fill(&p.rec, p.buf, p.hs)
	return &p.rec
}

// release forgets the record's references to the caller's memory (key,
// value, extra header values, context) and pools the promise. Call it
// only once its outcome was received.
func (p *promise) release() {
	p.rec = kgo.Record{}
	clear(p.hs)
	p.hs = p.hs[:0]
	promises.Put(p)
}

type produced struct {
	r   *kgo.Record
	err error
}

func (p *promise) complete(r *kgo.Record, err error) { p.done <- produced{r, err} }

var promises = sync.Pool{New: func() any {
	p := &promise{done: make(chan produced, 1)}
	p.fn = p.complete
	return p
}}

func (p *Producer) produce(ctx context.Context, m *Message) (Position, error) {
	if ctx.Done() == nil {
		// A request's context, which never ends by itself (fasthttp's):
		// a deadline shared with the records of the same few
		// milliseconds, not a timer of its own.
		ctx = withDeadline{ctx, p.deadlines.get(time.Now())}
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	for retried := false; ; retried = true {
		gen := p.rec.Gen(m.Topic)
		pr := promises.Get().(*promise)
		p.cl.Produce(ctx, pr.record(m), pr.fn)
		var res produced
		select {
		case res = <-pr.done:
		case <-ctx.Done():
			// The record may still be written later; the caller will not
			// have promised that it was, and Unresolved tells it what
			// became of it. The promise is not pooled: franz-go will
			// still fill it, and may still read its record.
			err := classify(context.Cause(ctx))
			if errors.Is(err, ErrTimeout) {
				err = errors.Join(err, &Unresolved{topic: m.Topic, done: pr.done})
			}
			return Position{}, fmt.Errorf("produce to %s: %w", m.Topic, err)
		}
		pos := Position{Topic: res.r.Topic, Partition: res.r.Partition, Offset: res.r.Offset, Timestamp: res.r.Timestamp}
		pr.release() // drained: ready for the next record
		if res.err == nil {
			return pos, nil
		}
		if !retried && p.rec.Retry(p.cl, m.Topic, gen, res.err) {
			continue
		}
		return Position{}, fmt.Errorf("produce to %s: %w", m.Topic, classify(res.err))
	}
}

// Recreated lets a client write again to topics deleted and recreated
// under it. franz-go keeps a topic's old ID, so every record fails with
// UNKNOWN_TOPIC_ID until the topic is purged from the client; the purge
// also fails the topic's other buffered records. Neither kind was
// written, so both may be sent again. A Recreated counts the purges of
// each topic, so that records failing together purge once. The zero value
// is ready; it is safe for concurrent use.
type Recreated struct {
	topics sync.Map // name → *purges
}

// purges counts one topic's purges; mu is held while one runs.
type purges struct {
	mu  sync.Mutex
	gen atomic.Uint64
}

// Gen returns topic's purge count, taken before sending a record to it.
func (r *Recreated) Gen(topic string) uint64 { return r.purges(topic).gen.Load() }

// Retry reports whether a record sent to topic at purge count gen, which
// failed with err, is to be sent again (once): when err says the topic
// was recreated, after purging it from cl's producer unless a record
// failing alongside already did; or when a purge since gen failed it.
// It returns once the purge is over, so that the record sent again goes
// out under the topic's new ID.
func (r *Recreated) Retry(cl *kgo.Client, topic string, gen uint64, err error) bool {
	p := r.purges(topic)
	recreated := errors.Is(err, kerr.UnknownTopicID)
	if !recreated && p.gen.Load() == gen {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if recreated && p.gen.Load() == gen {
		// Counted first: the records the purge fails see that it did.
		p.gen.Add(1)
		cl.PurgeTopicsFromProducing(topic)
	}
	return true
}

func (r *Recreated) purges(topic string) *purges {
	if p, ok := r.topics.Load(topic); ok {
		return p.(*purges)
	}
	p, _ := r.topics.LoadOrStore(topic, new(purges))
	return p.(*purges)
}

// Flush waits until every buffered record is acknowledged or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	return nil
}

// classify turns a franz-go or broker error into one of the package's
// sentinels, keeping the cause in the chain for logs.
func classify(err error) error {
	var ke *kerr.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, kgo.ErrRecordTimeout):
		return errors.Join(ErrTimeout, err)
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, kgo.ErrMaxBuffered), errors.Is(err, kgo.ErrClientClosed),
		errors.Is(err, kgo.ErrRecordRetries), kgo.IsRetryableBrokerErr(err):
		return errors.Join(ErrUnavailable, err)
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		// Over franz-go's batch limit (it answers MESSAGE_TOO_LARGE
		// itself, nothing sent) or the broker's max message size.
		return errors.Join(ErrTooLarge, ErrRejected, err)
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		// The broker answered: the topic is not there. Retrying will not
		// create it.
		return errors.Join(ErrTopicMissing, ErrRejected, err)
	case errors.As(err, &ke) && ke.Retriable:
		return errors.Join(ErrUnavailable, err)
	}
	return errors.Join(ErrRejected, err)
}

// outcome names the class of a Produce error (see classify) for metrics.
func outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrTimeout):
		return OutcomeTimeout
	case errors.Is(err, ErrUnavailable):
		return OutcomeUnavailable
	case errors.Is(err, ErrRejected):
		return OutcomeRejected
	}
	return OutcomeCanceled
}

// errorCode names the cause of a Produce error for metrics: the Kafka
// protocol error name when the broker returned one (franz-go keeps the last
// one when a record times out while retrying), else what the client saw.
// The set of values is small and fixed, so it is safe as a label.
func errorCode(err error) string {
	if err == nil {
		return "" // inlined: the success path skips failureCode's allocation
	}
	return failureCode(err)
}

// failureCode is errorCode for a non-nil err; its errors.As target
// escapes to the heap.
func failureCode(err error) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message
	case errors.Is(err, kgo.ErrRecordTimeout):
		return CodeRecordTimeout
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadline
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, kgo.ErrMaxBuffered):
		return CodeBufferFull
	case errors.Is(err, kgo.ErrClientClosed):
		return CodeClientClosed
	case errors.Is(err, kgo.ErrRecordRetries):
		return CodeRetriesExhausted
	}
	return CodeOther
}

// Classify turns an error from producing with a *kgo.Client into ErrTimeout,
// ErrUnavailable or ErrRejected (keeping the cause in the chain), for the
// packages that produce with a client of their own (replay's redrive).
func Classify(err error) error { return classify(err) }

// ProduceEach writes msgs together (franz-go batches them) and waits until
// each one is acknowledged or has failed, or ctx ends, at most the
// producer's timeout; nil messages are skipped. It returns, per message,
// where it was stored or why not: the errors Produce returns, each record
// acknowledged (or not) on its own. A batch of requests costs one call
// instead of a goroutine, a timeout and a wait per record.
func (p *Producer) ProduceEach(ctx context.Context, msgs []*Message) ([]Position, []error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var (
		pos  = make([]Position, len(msgs))
		errs = make([]error, len(msgs))
		gens = make([]uint64, len(msgs))
		mu   sync.Mutex // guards pos, errs and over: callbacks may come after a timeout
		over bool
	)
	start := time.Now()
	round := func(idx []int) {
		var wg sync.WaitGroup
		wg.Add(len(idx))
		for _, i := range idx {
			gens[i] = p.rec.Gen(msgs[i].Topic)
			p.cl.Produce(ctx, msgs[i].Record(), func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if over {
					return
				}
				if err != nil {
					errs[i] = err
					return
				}
				pos[i], errs[i] = Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}, nil
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			// The records still in flight may be written later; the
			// caller will not have promised that they were.
			mu.Lock()
			over = true
			for _, i := range idx {
				if pos[i] == (Position{}) && errs[i] == nil {
					errs[i] = context.Cause(ctx)
				}
			}
			mu.Unlock()
		}
	}
	var first []int
	for i, m := range msgs {
		if m != nil {
			first = append(first, i)
		}
	}
	round(first)
	mu.Lock()
	var again []int
	if !over {
		for _, i := range first {
			if errs[i] != nil && p.rec.Retry(p.cl, msgs[i].Topic, gens[i], errs[i]) {
				errs[i] = nil
				again = append(again, i)
			}
		}
	}
	mu.Unlock()
	if len(again) > 0 {
		round(again)
	}
	mu.Lock()
	defer mu.Unlock()
	over = true
	for _, i := range first {
		if errs[i] != nil {
			errs[i] = fmt.Errorf("produce to %s: %w", msgs[i].Topic, classify(errs[i]))
		}
		if p.obs != nil {
			p.obs.ObserveProduce(ProduceResult{Topic: msgs[i].Topic, Duration: time.Since(start), Outcome: outcome(errs[i]), Code: errorCode(errs[i])})
		}
	}
	return pos, errs
}
