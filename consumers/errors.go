package consumers

import "errors"

var (
	// ErrReplyFailed means a reply could not be produced, not even as an
	// error reply; the Responder stops so that its request is handled
	// again by the next member of the group.
	ErrReplyFailed = errors.New("reply could not be produced")
	// ErrClosed means the hub is shutting down: no new subscriptions are
	// accepted and open ones end.
	ErrClosed = errors.New("stream hub closed")
	// ErrSlowConsumer means a subscriber fell further behind the live feed
	// than its buffer allows, so it was closed to protect the others. It
	// may resume from the last id it received without loss.
	ErrSlowConsumer = errors.New("slow consumer")
	// ErrBadPosition means a start position (a cursor, a time, a duration
	// ago) is malformed or does not fit the stream's topic.
	ErrBadPosition = errors.New("bad stream position")
	// ErrUnknownStream means no stream has the requested name.
	ErrUnknownStream = errors.New("unknown stream")
	// ErrUnavailable means the stream cannot be read now: its topic is not
	// known yet (the hub is starting or the topic does not exist) or Kafka
	// is unreachable. A later attempt may succeed.
	ErrUnavailable = errors.New("stream unavailable")
)
