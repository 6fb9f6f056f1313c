package topics

import "errors"

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

// ErrUnknownTopic means the topic does not exist on the cluster.
var ErrUnknownTopic = errors.New("unknown topic")

// UnknownTopicError is ErrUnknownTopic naming its topic, for callers that
// asked about several at once (Admin.Describe).
type UnknownTopicError struct{ Topic string }

func (e *UnknownTopicError) Error() string { return e.Topic + ": " + ErrUnknownTopic.Error() }

func (e *UnknownTopicError) Unwrap() error { return ErrUnknownTopic }
