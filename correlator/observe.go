package correlator

// Observer learns how many requests wait and what became of each reply
// record, for metrics. It keeps the metrics library out of this package:
// cmd/ferry passes ingress/metrics.Recorder, whose methods have these names.
//
// The correlator calls it synchronously, from many goroutines at once and
// sometimes while holding the lock of its pending map, so its methods must
// be fast, safe for concurrent use, and must not call back into the
// Correlator.
type Observer interface {
	// CorrelatorPending adds delta to the requests waiting on this
	// instance: +1 when a waiter registers, -1 when it leaves the map for
	// any reason (its reply arrived, it was cancelled or detached, its
	// context ended, or the correlator closed). The sum of the deltas is
	// always Pending().
	CorrelatorPending(delta int)
	// CorrelatorReply counts one consumed reply record as ReplyMatched,
	// ReplyLate or ReplyUnknown.
	CorrelatorReply(result string)
}

// Results of a reply record, for Observer.CorrelatorReply. The set is
// fixed: safe as a metric label.
const (
	// ReplyMatched: the record's correlation id belongs to a request
	// waiting on this instance. A final reply was handed to it; a progress
	// reply to a synchronous request is read and dropped by design.
	ReplyMatched = "matched"
	// ReplyLate: the record was kept in the result store for
	// /v1/results, because its request stopped waiting (detached,
	// asynchronous, or timed out with on_timeout: accept).
	ReplyLate = "late"
	// ReplyUnknown: nothing waits for the record here and no result is
	// pending for it: a reply to another instance (layout shared), to a
	// request that gave up, or one without a valid correlation id.
	ReplyUnknown = "unknown"
)

// WithObserver reports waiters and reply records to o. The default is
// none.
func WithObserver(o Observer) Option { return func(c *Correlator) { c.obs = o } }

// nopObserver is the Observer when none is given.
type nopObserver struct{}

func (nopObserver) CorrelatorPending(int)  {}
func (nopObserver) CorrelatorReply(string) {}
