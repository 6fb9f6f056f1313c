package consumers

import (
	"log/slog"
	"time"
)

// Option configures a Replayer.
type Option func(*options)

type options struct {
	log *slog.Logger
	now func() time.Time
}

func defaultOptions() options {
	return options{log: slog.New(slog.DiscardHandler), now: time.Now}
}

// WithLogger sets the logger, overriding the default that discards logs.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the time source that "-15m" positions count back from,
// overriding the default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }
