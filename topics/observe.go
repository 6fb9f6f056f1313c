package topics

import "time"

// Observer learns how every Produce ended, for metrics. The Producer calls
// it synchronously before Produce returns, from many goroutines at once, so
// it must be fast and safe for concurrent use. It keeps the metrics library
// out of this package: cmd/ferry passes ingress/metrics.Recorder.
type Observer interface {
	ObserveProduce(ProduceResult)
}

// ProduceResult is how one Produce ended.
type ProduceResult struct {
	// Topic is the record's topic.
	Topic string
	// Duration is from the call until the broker's acknowledgement or the
	// failure.
	Duration time.Duration
	// Outcome is OutcomeOK or the class of the error (see the Outcome
	// constants), matching the sentinel the error wraps.
	Outcome string
	// Code is "" on success, else the Kafka protocol error name (for example
	// NOT_ENOUGH_REPLICAS, MESSAGE_TOO_LARGE) when the broker returned one,
	// else one of the client-side Code constants.
	Code string
}

// Outcomes of a Produce. The set is fixed: safe as a metric label.
const (
	OutcomeOK          = "ok"
	OutcomeUnavailable = "unavailable" // ErrUnavailable
	OutcomeTimeout     = "timeout"     // ErrTimeout
	OutcomeRejected    = "rejected"    // ErrRejected
	OutcomeCanceled    = "canceled"    // the caller gave up
)

// Client-side error codes, for failures without a Kafka error code. Kafka's
// own names are upper case; these are lower case so the two never collide.
const (
	CodeRecordTimeout    = "record_timeout"    // kgo.ErrRecordTimeout
	CodeDeadline         = "deadline"          // the produce timeout or the request's deadline passed
	CodeCanceled         = "canceled"          // the caller gave up
	CodeBufferFull       = "buffer_full"       // kgo.ErrMaxBuffered
	CodeClientClosed     = "client_closed"     // kgo.ErrClientClosed
	CodeRetriesExhausted = "retries_exhausted" // kgo.ErrRecordRetries
	CodeOther            = "other"
)

// ProducerOption configures a Producer.
type ProducerOption func(*Producer)

// WithObserver reports how every Produce ended to o. The default is none.
func WithObserver(o Observer) ProducerOption { return func(p *Producer) { p.obs = o } }
