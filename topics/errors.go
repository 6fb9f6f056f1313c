package topics

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrKeyUnresolved means a key or header template referenced a value
	// the request does not have.
	ErrKeyUnresolved = errors.New("key template unresolved")
	// ErrKeyInvalid means a value a template copies into a key or a
	// record header holds a control character (0x00-0x1F or 0x7F), which
	// no key or header may carry: CR and LF would split headers
	// downstream, NUL cuts C strings.
	ErrKeyInvalid = errors.New("key template value invalid")
	// ErrUnavailable means the broker could not take the record: it is
	// unreachable, the client's buffer is full, or the client is closing.
	// Nothing was stored; the request may be retried.
	ErrUnavailable = errors.New("kafka unavailable")
	// ErrTimeout means the broker did not acknowledge the record before the
	// produce deadline. The record is not known to be stored.
	ErrTimeout = errors.New("kafka produce timed out")
	// ErrRejected means the broker refused the record for good (for
	// example it is too large, or the topic does not exist).
	ErrRejected = errors.New("kafka rejected the record")
	// ErrTopicMissing means the record's topic does not exist on the
	// cluster (and ferry was not told to create it): a misconfiguration,
	// not an outage. It comes with ErrRejected.
	ErrTopicMissing = errors.New("topic missing")
	// ErrTooLarge means the record is larger than Kafka takes: over the
	// producer's batch limit, or the broker's or topic's max message size.
	// The client's body is at fault, not an outage. It comes with
	// ErrRejected.
	ErrTooLarge = errors.New("record too large for kafka")
)

// Unresolved comes with ErrTimeout when the record was handed to the
// client before the deadline: the broker may still store it. Wait learns
// what became of it, so that a caller that answered "timed out" can still
// tell a retry whether the record is in Kafka (Idempotency-Key).
type Unresolved struct {
	topic string
	done  <-chan produced
}

func (u *Unresolved) Error() string {
	return "the record for " + u.topic + " may still be stored"
}

// Wait returns the record's position once the broker acknowledged it;
// an error wrapping ErrNotStored once the client failed it (franz-go
// fails a record only while that is safe: before any request carrying it
// was sent, so it was not written); or ctx's error when ctx ends first,
// with the outcome still unknown. Call it once.
func (u *Unresolved) Wait(ctx context.Context) (Position, error) {
	select {
	case res := <-u.done:
		if res.err != nil {
			return Position{}, fmt.Errorf("produce to %s: %w: %w", u.topic, ErrNotStored, res.err)
		}
		return Position{Topic: res.r.Topic, Partition: res.r.Partition, Offset: res.r.Offset, Timestamp: res.r.Timestamp}, nil
	case <-ctx.Done():
		return Position{}, fmt.Errorf("produce to %s: still unknown: %w", u.topic, ctx.Err())
	}
}

// ErrNotStored means the record the broker had not acknowledged in time
// was failed by the client without being written (Unresolved.Wait).
var ErrNotStored = errors.New("the record was not stored")

// ErrUnknownTopic means the topic does not exist on the cluster.
var ErrUnknownTopic = errors.New("unknown topic")

// UnknownTopicError is ErrUnknownTopic naming its topic, for callers that
// asked about several at once (Admin.Describe).
type UnknownTopicError struct{ Topic string }

func (e *UnknownTopicError) Error() string { return e.Topic + ": " + ErrUnknownTopic.Error() }

func (e *UnknownTopicError) Unwrap() error { return ErrUnknownTopic }
