package consumers

import (
	"log/slog"
	"time"
)

// Option configures a component of this package: the Hub or the Replayer.
type Option func(*options)

type options struct {
	log *slog.Logger
	now func() time.Time
}

// WithLogger sets the logger, overriding the default of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the time source that "-15m" positions count back from,
// overriding the default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func buildOptions(opts []Option) options {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	return o
}

func defaultOptions() options {
	return options{log: slog.Default(), now: time.Now}
}
