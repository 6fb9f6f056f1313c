package correlator

import "errors"

var (
	// ErrClosed means the correlator was closed: Register refuses new
	// waiters and every pending Wait returns it.
	ErrClosed = errors.New("correlator closed")
	// ErrAbandoned means the client that waited has gone (Abandon).
	ErrAbandoned = errors.New("the waiting client has gone")
	// ErrTooManyPending means the global or the per-principal cap on
	// pending requests (Config.MaxPending, MaxPendingPerPrincipal) is
	// reached. Nothing was registered; the request may be retried.
	ErrTooManyPending = errors.New("too many pending requests")
	// ErrUnknownID means no result is stored under the id: it never
	// existed, was never asynchronous, or expired (Config.ResultTTL).
	ErrUnknownID = errors.New("unknown result id")
	// ErrUnavailable means the result store (Redis) could not be reached,
	// so a result cannot be kept or read.
	ErrUnavailable = errors.New("result store unavailable")
	// ErrBadReply means a reply breaks the reply contract, for example its
	// ferry-status is not an HTTP status.
	ErrBadReply = errors.New("bad reply")
	// ErrNoPartition means every partition of a reply topic is leased to
	// another instance (layout partition): the topic needs more partitions
	// than there are instances.
	ErrNoPartition = errors.New("no free reply partition")
	// ErrUnknownTopic means a request names a reply topic the correlator
	// was not built to consume.
	ErrUnknownTopic = errors.New("reply topic not consumed")
)
