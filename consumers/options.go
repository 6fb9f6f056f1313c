package consumers

import "log/slog"

// Option configures a Hub.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger, overriding the default of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

func buildOptions(opts []Option) options {
	o := options{log: slog.Default()}
	for _, fn := range opts {
		fn(&o)
	}
	return o
}
