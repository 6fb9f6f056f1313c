package topics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactor writes several records in one Kafka transaction: all of them
// are committed, or none is (consumers reading with
// isolation.level=read_committed never see an aborted record). It runs
// one transaction at a time over its transactional client. It is safe for
// concurrent use.
type Transactor struct {
	mu      sync.Mutex
	cl      *kgo.Client
	timeout time.Duration
}

// NewTransactor returns a Transactor over cl, which must be built with a
// kgo.TransactionalID; timeout bounds each transaction (Config.ProduceTimeout
// when zero or less: DefaultProduceTimeout).
func NewTransactor(cl *kgo.Client, timeout time.Duration) *Transactor {
	if timeout <= 0 {
		timeout = DefaultProduceTimeout
	}
	return &Transactor{cl: cl, timeout: timeout}
}

// ProduceAll writes msgs in one transaction and returns their positions,
// in order, once it is committed. On an error nothing was committed:
// the records written, if any, were aborted. Errors wrap ErrUnavailable,
// ErrTimeout or ErrRejected as Produce's do.
func (t *Transactor) ProduceAll(ctx context.Context, msgs []*Message) ([]Position, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if err := t.cl.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("begin transaction: %w", classify(err))
	}
	pos := make([]Position, len(msgs))
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		t.cl.Produce(ctx, m.Record(), func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errs[i] = err
				return
			}
			pos[i] = Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	commit := kgo.TryCommit
	if err != nil {
		commit = kgo.TryAbort
	}
	// The abort must happen even when ctx ran out: a transaction left
	// open would hold the client until the broker times it out.
	ectx, ecancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer ecancel()
	if eerr := t.cl.EndTransaction(ectx, commit); eerr != nil && err == nil {
		err = eerr
	}
	if err != nil {
		if commit == kgo.TryCommit {
			// A commit that failed is aborted, so that the client is
			// ready for the next transaction.
			_ = t.cl.AbortBufferedRecords(ectx)
			_ = t.cl.EndTransaction(ectx, kgo.TryAbort)
		}
		return nil, fmt.Errorf("transaction: %w", classify(err))
	}
	return pos, nil
}
