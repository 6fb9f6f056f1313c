package webhook

import (
	"log/slog"
	"math/rand/v2"
	"time"
)

// Option configures a Webhook.
type Option func(*options)

type options struct {
	log      *slog.Logger
	obs      Observer
	lagEvery time.Duration
	rnd      func(int64) int64
}

// WithLogger sets the logger, overriding the default of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithObserver reports every attempt and every record's outcome to obs,
// overriding the default of none.
func WithObserver(obs Observer) Option { return func(o *options) { o.obs = obs } }

// WithLagInterval sets how often the group's lag is read from Kafka,
// overriding the default of 5s.
func WithLagInterval(d time.Duration) Option { return func(o *options) { o.lagEvery = d } }

func buildOptions(opts []Option) options {
	o := options{log: slog.Default(), obs: nopObserver{}, lagEvery: 5 * time.Second, rnd: rand.Int64N}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Observer learns how deliveries go, for metrics. A Webhook calls it from
// many goroutines at once, so it must be fast and safe for concurrent use.
// It keeps the metrics library out of this package: cmd/ferry passes its
// Prometheus metrics.
type Observer interface {
	// ObserveAttempt is called after each HTTP attempt.
	ObserveAttempt(Attempt)
	// ObserveOutcome is called once per record, when it is done with:
	// OutcomeDelivered, OutcomeDeadLettered or OutcomeFiltered.
	ObserveOutcome(webhook, outcome string)
}

// Attempt is how one HTTP attempt went.
type Attempt struct {
	// Webhook is the webhook's name.
	Webhook string
	// N counts the record's attempts, from 1: N > 1 is a retry.
	N int
	// Duration is from sending the request to reading the status (or
	// the failure).
	Duration time.Duration
	// Failure is "" for a 2xx, else one of the Failure constants.
	Failure string
}

// What becomes of a record. The set is fixed: safe as a metric label.
const (
	OutcomeDelivered    = "delivered"     // the endpoint answered 2xx
	OutcomeDeadLettered = "dead_lettered" // written to the dead-letter topic
	OutcomeFiltered     = "filtered"      // matched no filter: committed without delivery
)

// Outcomes lists every outcome, for metrics that start at zero.
var Outcomes = []string{OutcomeDelivered, OutcomeDeadLettered, OutcomeFiltered}

type nopObserver struct{}

func (nopObserver) ObserveAttempt(Attempt)        {}
func (nopObserver) ObserveOutcome(string, string) {}
