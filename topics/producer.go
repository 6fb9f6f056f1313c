package topics

import (
	"context"
	"errors"
	"fmt"
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
}

// NewProducer returns a Producer writing through cl. The client should be
// built with acks=all and idempotent writes (franz-go's defaults) and no
// linger, so a lone request is not held back for a batch. timeout bounds
// each Produce (Config.ProduceTimeout); zero means DefaultProduceTimeout.
func NewProducer(cl *kgo.Client, timeout time.Duration) *Producer {
	if timeout <= 0 {
		timeout = DefaultProduceTimeout
	}
	return &Producer{cl: cl, timeout: timeout}
}

// Produce writes m and waits until the broker acknowledged it (acks=all) or
// ctx ends, at most the producer's timeout. A nil error means the record is stored at the returned Position.
// Errors wrap ErrUnavailable, ErrTimeout or ErrRejected, or the context's
// error when the caller gave up.
func (p *Producer) Produce(ctx context.Context, m *Message) (Position, error) {
	type result struct {
		r   *kgo.Record
		err error
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	done := make(chan result, 1)
	p.cl.Produce(ctx, m.Record(), func(r *kgo.Record, err error) { done <- result{r, err} })
	select {
	case res := <-done:
		if res.err != nil {
			return Position{}, fmt.Errorf("produce to %s: %w", m.Topic, classify(res.err))
		}
		return Position{Topic: res.r.Topic, Partition: res.r.Partition, Offset: res.r.Offset, Timestamp: res.r.Timestamp}, nil
	case <-ctx.Done():
		// The record may still be written later; the caller will not have
		// promised that it was, which is what matters.
		return Position{}, fmt.Errorf("produce to %s: %w", m.Topic, classify(context.Cause(ctx)))
	}
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
		errors.Is(err, kgo.ErrRecordRetries), kgo.IsRetryableBrokerErr(err),
		errors.Is(err, kerr.UnknownTopicOrPartition):
		return errors.Join(ErrUnavailable, err)
	case errors.As(err, &ke) && ke.Retriable:
		return errors.Join(ErrUnavailable, err)
	}
	return errors.Join(ErrRejected, err)
}

// Classify turns an error from producing with a *kgo.Client into ErrTimeout,
// ErrUnavailable or ErrRejected (keeping the cause in the chain), for the
// packages that produce with a client of their own (replay's redrive).
func Classify(err error) error { return classify(err) }
