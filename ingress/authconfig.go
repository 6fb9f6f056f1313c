package ingress

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-gw/ferry/ingress/identity"
)

// AuthConfig is the `auth` section of ferry.yaml: who may call ferry (JWT
// bearer tokens, API keys: identity.Config, inline) and the traffic
// policy around them (rate-limit and idempotency behaviour).
type AuthConfig struct {
	identity.Config `yaml:",inline"`
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
}

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

// Defaults of the auth section's traffic policy.
const (
	DefaultIdempotencyTTL  = 24 * time.Hour
	DefaultIdempotencyLock = time.Minute
)

// WithDefaults returns c with every unset field at its documented default.
func (c AuthConfig) WithDefaults() AuthConfig {
	c.Config = c.Config.WithDefaults()
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

// Validate reports every problem of the section, each as "field: problem":
// the credentials' and the policy's, the jwt section's last. It reads no
// files and no environment; Check does.
func (c AuthConfig) Validate() error {
	var errs, jwtErrs []error
	for _, err := range splitErrs(c.Config.Validate()) {
		if strings.HasPrefix(err.Error(), "jwt") {
			jwtErrs = append(jwtErrs, err)
		} else {
			errs = append(errs, err)
		}
	}
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
	if c.Idempotency.TTL < 0 {
		errs = append(errs, errors.New("idempotency.ttl: must be > 0"))
	}
	if c.Idempotency.LockTTL < 0 {
		errs = append(errs, errors.New("idempotency.lock_ttl: must be > 0"))
	}
	return errors.Join(append(errs, jwtErrs...)...)
}
