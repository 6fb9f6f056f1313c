package consumers

import "errors"

var (
	// ErrClosed means the Replayer is closed: it starts no new replays.
	ErrClosed = errors.New("replayer closed")
	// ErrTopicNotAllowed means the topic is not on the replay allowlist, or
	// is a Kafka-internal topic, which is never readable.
	ErrTopicNotAllowed = errors.New("topic not allowed for replay")
	// ErrTooManyReplays means the instance already runs its cap of
	// concurrent replays (replay.max_concurrent); retry shortly.
	ErrTooManyReplays = errors.New("too many concurrent replays")
	// ErrBadPosition means a from/to position, a partition or a
	// Last-Event-ID could not be parsed or names a partition the topic
	// does not have.
	ErrBadPosition = errors.New("bad replay position")
	// ErrLimit means a replay asked for more records than one replay may
	// deliver (replay.max_records).
	ErrLimit = errors.New("replay limit above the cap")
)
