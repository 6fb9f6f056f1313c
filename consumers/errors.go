package consumers

import "errors"

var (
	// ErrClosed means the hub or the Replayer is shutting down: no new
	// subscriptions or replays start, and open ones end.
	ErrClosed = errors.New("closed")
	// ErrSlowConsumer means a subscriber fell further behind the live feed
	// than its buffer allows, so it was closed to protect the others. It
	// may resume from the last id it received without loss.
	ErrSlowConsumer = errors.New("slow consumer")
	// ErrBadPosition means a position (a stream cursor or Last-Event-ID,
	// a replay's from/to, a time, a duration ago, a partition) is malformed
	// or does not fit the topic.
	ErrBadPosition = errors.New("bad position")
	// ErrInvalidRange means a replay's from is after its to, on its face
	// (latest..earliest, two times, two offsets of a partition) or once
	// the positions are resolved to offsets.
	ErrInvalidRange = errors.New("invalid range")
	// ErrUnknownStream means no stream has the requested name.
	ErrUnknownStream = errors.New("unknown stream")
	// ErrStreamRemoved ends the subscriptions of a stream that a new
	// configuration (Hub.SetStreams) removed or pointed at another topic.
	ErrStreamRemoved = errors.New("stream removed from the configuration")
	// ErrUnavailable means the stream cannot be read now: its topic is not
	// known yet (the hub is starting or the topic does not exist) or Kafka
	// is unreachable. A later attempt may succeed.
	ErrUnavailable = errors.New("stream unavailable")
	// ErrTopicNotAllowed means the topic is not on the replay allowlist, or
	// is a Kafka-internal topic, which is never readable.
	ErrTopicNotAllowed = errors.New("topic not allowed for replay")
	// ErrTooManyReplays means the instance already runs its cap of
	// concurrent replays (replay.max_concurrent); retry shortly.
	ErrTooManyReplays = errors.New("too many concurrent replays")
	// ErrBadWhere means a value filter (Where) is malformed: no JSON
	// Pointer, no operator, a value that is not JSON, or an order (<, >)
	// of something other than a number or a string.
	ErrBadWhere = errors.New("bad value filter")
	// ErrLimit means a replay asked for more records than one replay may
	// deliver (replay.max_records).
	ErrLimit = errors.New("replay limit above the cap")
)
