package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig is the `redis` section.
type RedisConfig struct {
	// URL is a redis://, rediss:// (TLS) or unix:// URL with a host (or
	// socket path): redis://HOST[:PORT][/DB]. Empty (the default) runs an
	// embedded in-process Redis (miniredis) through the same client code.
	URL string `yaml:"url"`
	// DialTimeout bounds connecting; default 250ms.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds waiting for an answer; default 250ms. Blocking
	// commands wait their own timeout on top of it.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds sending a command; default 250ms.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolTimeout bounds waiting for a free connection when all are busy;
	// default 250ms.
	PoolTimeout time.Duration `yaml:"pool_timeout"`
}

// DefaultRedisTimeout is the default of every redis.*_timeout: a request
// that needs Redis (a rate limit, an Idempotency-Key, a result) learns
// within it that Redis does not answer, and takes its configured failure
// mode, instead of waiting for TCP to give up.
const DefaultRedisTimeout = 250 * time.Millisecond

// WithDefaults fills in the default timeouts.
func (c RedisConfig) WithDefaults() RedisConfig {
	for _, d := range []*time.Duration{&c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout, &c.PoolTimeout} {
		if *d == 0 {
			*d = DefaultRedisTimeout
		}
	}
	return c
}

// options returns the go-redis options of url with the section's
// timeouts, and the request's own deadline honoured too.
func (c RedisConfig) options(url string) (*redis.Options, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	c = c.WithDefaults()
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = c.DialTimeout, c.ReadTimeout, c.WriteTimeout, c.PoolTimeout
	o.ContextTimeoutEnabled = true
	// No retries: ferry's Redis commands are scripts that decide once
	// (an idempotency lock, a GCRA step, a result push). go-redis resends
	// a command whose reply timed out, and a Redis that was only slow
	// then runs both: the second copy of an idempotency Begin found the
	// first one's lock and the request conflicted with itself (409), and
	// a rate limit would count a request twice. A failure is answered by
	// each caller's own policy (fail open or closed) instead.
	o.MaxRetries = -1
	return o, nil
}

// Validate refuses a URL go-redis would read as something else than
// written: one without a host (go-redis quietly dials localhost:6379), a
// port out of range, a unix:// URL without a path, or options go-redis
// refuses. Its messages never hold the URL's password.
func (c RedisConfig) Validate() error {
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}, {"pool_timeout", c.PoolTimeout}} {
		if d.d < 0 {
			return fmt.Errorf("%s: must be positive, not %s", d.name, d.d)
		}
	}
	if c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return errors.New("url: not a valid URL") // url's error would repeat the password
	}
	shown := c.URL
	if _, ok := u.User.Password(); ok {
		shown = u.Redacted()
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Hostname() == "" {
			return fmt.Errorf("url: %q has no host; write %s://HOST[:PORT][/DB]", shown, u.Scheme)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("url: %q: the port must be 1-65535", shown)
			}
		}
	case "unix":
		if u.Path == "" {
			return fmt.Errorf("url: %q has no socket path; write unix:///PATH/TO/redis.sock", shown)
		}
	default:
		return errors.New("url: must be a redis://, rediss:// or unix:// URL")
	}
	if _, err := redis.ParseURL(c.URL); err != nil {
		return fmt.Errorf("url: %q: %w", shown, err)
	}
	return nil
}

// Address is the Redis the URL names, for logs: scheme, host, port and
// database (or socket path), never the user or password; "" for the
// embedded Redis. It expects a valid URL.
func (c RedisConfig) Address() string {
	if c.URL == "" {
		return ""
	}
	o, err := redis.ParseURL(c.URL)
	if err != nil {
		return "(invalid)"
	}
	if o.Network == "unix" {
		return "unix://" + o.Addr
	}
	scheme := "redis"
	if o.TLSConfig != nil {
		scheme = "rediss"
	}
	return scheme + "://" + o.Addr + "/" + strconv.Itoa(o.DB)
}

// redisLog carries go-redis's own lines (a pool that fails to dial, a
// connection it drops) into ferry's log, as JSON like every other line;
// go-redis would print them as plain text on stderr. go-redis keeps one
// logger for the process, an unguarded variable: it is set once
// (setRedisLog), and the logger it writes to is swapped atomically, so
// that several serve calls (tests) do not race on it.
type redisLog struct{}

var (
	redisLogOnce sync.Once
	redisLogTo   atomic.Pointer[slog.Logger]
)

// setRedisLog sends go-redis's lines to log from now on.
func setRedisLog(log *slog.Logger) {
	redisLogTo.Store(log)
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{}) })
}

// Printf logs one go-redis line as a warning of component redis.
func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	redisLogTo.Load().WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), "component", "redis")
}
