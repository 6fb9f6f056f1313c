// Package policy holds ferry's traffic policy: the decisions taken about a
// request once its principal is known, each behind a small interface that
// ingress declares (Limiter, IdempotencyStore) and a Redis implementation
// of it here: GCRA rate limits (go-redis/redis_rate's script) and
// Idempotency-Key records (Lua scripts atomic on the key); and the circuit
// breakers in front of Kafka and of each sync route's responders
// (Breaker, on sony/gobreaker). The reply cache belongs here too.
//
// It may import ingress/identity (for the Principal a decision is about),
// topics (for a route's limits and breaker settings), go-redis, redis_rate
// and gobreaker, and never Fiber or fasthttp: ingress's middleware copies what a decision needs out of
// the request, asks here, and writes the answer.
package policy

import (
	"errors"
	"fmt"
	"time"
)

// Config is the traffic-policy part of ferry.yaml's `auth` section:
// rate_limits and idempotency.
type Config struct {
	// RateLimits configures what route rate limits do when Redis fails.
	RateLimits RateLimitsConfig `yaml:"rate_limits"`
	// Idempotency configures the Idempotency-Key request header.
	Idempotency IdempotencyConfig `yaml:"idempotency"`
}

// RateLimitsConfig is the `auth.rate_limits` section.
type RateLimitsConfig struct {
	// OnRedisError is what a rate-limited route does when Redis cannot
	// answer: "open" (the default) lets the request through, logs a
	// warning and counts it; "closed" answers 503.
	OnRedisError string `yaml:"on_redis_error"`
	// LocalLease lets each instance take a slice of a busy key's budget
	// from Redis in one call and spend it in process for up to this long
	// (and answer a refused key locally until its retry time); 0, the
	// default, asks Redis for every request. See leaseSize for the slice
	// and the error it allows.
	LocalLease time.Duration `yaml:"local_lease"`
}

// MaxLocalLease bounds auth.rate_limits.local_lease: a lease delays when
// a request is counted by at most this long.
const MaxLocalLease = time.Second

// IdempotencyConfig is the `auth.idempotency` section.
type IdempotencyConfig struct {
	// TTL is how long the first response to an Idempotency-Key is kept;
	// default 24h.
	TTL time.Duration `yaml:"ttl"`
	// LockTTL bounds how long a request in flight holds its key, should
	// its instance die before answering; default 1m.
	LockTTL time.Duration `yaml:"lock_ttl"`
	// OnRedisError is what a request with an Idempotency-Key does when
	// Redis cannot answer: "closed" (the default) answers 503, because the
	// client asked not to be served twice; "open" serves it without
	// idempotency, logs a warning and counts it.
	OnRedisError string `yaml:"on_redis_error"`
}

// Failure modes of OnRedisError.
const (
	FailOpen   = "open"
	FailClosed = "closed"
)

// Defaults of Config.
const (
	DefaultIdempotencyTTL  = 24 * time.Hour
	DefaultIdempotencyLock = time.Minute
)

// WithDefaults returns c with every unset field at its documented default.
func (c Config) WithDefaults() Config {
	if c.RateLimits.OnRedisError == "" {
		c.RateLimits.OnRedisError = FailOpen
	}
	if c.Idempotency.TTL == 0 {
		c.Idempotency.TTL = DefaultIdempotencyTTL
	}
	if c.Idempotency.LockTTL == 0 {
		c.Idempotency.LockTTL = DefaultIdempotencyLock
	}
	if c.Idempotency.OnRedisError == "" {
		c.Idempotency.OnRedisError = FailClosed
	}
	return c
}

// Validate reports every problem of c, each as "field: problem".
func (c Config) Validate() error {
	var errs []error
	for _, m := range []struct{ at, v string }{
		{"rate_limits.on_redis_error", c.RateLimits.OnRedisError},
		{"idempotency.on_redis_error", c.Idempotency.OnRedisError},
	} {
		switch m.v {
		case "", FailOpen, FailClosed:
		default:
			errs = append(errs, fmt.Errorf("%s: must be open or closed, not %q", m.at, m.v))
		}
	}
	if c.RateLimits.LocalLease < 0 || c.RateLimits.LocalLease > MaxLocalLease {
		errs = append(errs, fmt.Errorf("rate_limits.local_lease: must be 0s (off) to %s, not %s", MaxLocalLease, c.RateLimits.LocalLease))
	}
	if c.Idempotency.TTL < 0 {
		errs = append(errs, errors.New("idempotency.ttl: must be > 0"))
	}
	if c.Idempotency.LockTTL < 0 {
		errs = append(errs, errors.New("idempotency.lock_ttl: must be > 0"))
	}
	return errors.Join(errs...)
}
