package policy

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/topics"
)

// LimitResult is the outcome of spending one request of a GCRA budget.
type LimitResult struct {
	// Allowed is true when the request may proceed.
	Allowed bool
	// Limit is how many requests the budget holds when full (the burst).
	Limit int
	// Remaining is how many requests may follow at once.
	Remaining int
	// RetryAfter is, when not Allowed, how long until one request is.
	RetryAfter time.Duration
	// ResetAfter is how long until the budget is full again.
	ResetAfter time.Duration
}

// RedisLimiter is a GCRA limiter kept in Redis by go-redis/redis_rate's
// Lua script, so every ferry instance using the same Redis spends the same
// budget. The embedded miniredis runs the same script. It is safe for
// concurrent use; the caller owns and closes the Redis client.
type RedisLimiter struct {
	l      *redis_rate.Limiter
	prefix string
}

// LimiterOption configures NewRedisLimiter.
type LimiterOption func(*RedisLimiter)

// WithLimiterPrefix sets the prefix of the limiter's Redis keys,
// overriding the default "ferry:". redis_rate adds its own "rate:" before
// it.
func WithLimiterPrefix(p string) LimiterOption { return func(l *RedisLimiter) { l.prefix = p } }

// NewRedisLimiter returns a limiter over rdb.
func NewRedisLimiter(rdb redis.UniversalClient, opts ...LimiterOption) *RedisLimiter {
	l := &RedisLimiter{l: redis_rate.NewLimiter(rdb), prefix: "ferry:"}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Allow spends one request of the budget key under limit rl. Its error
// wraps ErrRedisUnavailable.
func (l *RedisLimiter) Allow(ctx context.Context, key string, rl topics.RateLimitConfig) (LimitResult, error) {
	res, err := l.l.Allow(ctx, l.prefix+key, redis_rate.Limit{Rate: rl.Rate, Burst: rl.Burst, Period: rl.Per})
	if err != nil {
		return LimitResult{}, fmt.Errorf("rate limit: %w: %w", ErrRedisUnavailable, err)
	}
	return LimitResult{
		Allowed:    res.Allowed > 0,
		Limit:      rl.Burst,
		Remaining:  remaining(res, rl),
		RetryAfter: res.RetryAfter,
		ResetAfter: res.ResetAfter,
	}, nil
}

// LimitSubject names whose budget a request spends under a limit's by:
// "principal" (the default) keys by the authenticated principal, "api_key"
// by the API key id, "claim:NAME" by that claim, "ip" by the client
// address. A request without what its key needs (an anonymous caller, a
// JWT on an api_key limit, a principal without the claim) falls back to
// its principal, then to its client address, which clientAddr gives only
// when it is needed.
func LimitSubject(by string, p *identity.Principal, clientAddr func() string) string {
	switch {
	case by == "ip":
	case by == "api_key" && p != nil && p.Kind == identity.PrincipalAPIKey:
		return "key:" + p.ID
	case len(by) > 6 && by[:6] == "claim:":
		if v, ok := p.Claim(by[6:]); ok {
			return by + "=" + v
		}
		fallthrough
	default:
		if p != nil && p.Kind != identity.PrincipalAnonymous {
			if p.Kind == identity.PrincipalAPIKey {
				return "key:" + p.ID
			}
			return "sub:" + p.ID
		}
	}
	return "ip:" + clientAddr()
}

// remaining is how many requests the budget still allows at once: the
// burst, less the time the bucket needs to refill (ResetAfter), in
// emission intervals. redis_rate computes the same in floating point in
// Lua and floors it, so that 38.99999 requests become 38: the first
// request of a 20/s, burst 40 budget showed 38 left. A microsecond of
// slack absorbs that rounding.
func remaining(res *redis_rate.Result, rl topics.RateLimitConfig) int {
	if res.Allowed == 0 || rl.Rate <= 0 {
		return res.Remaining
	}
	per := rl.Per
	if per == 0 {
		per = time.Second
	}
	interval := float64(per) / float64(rl.Rate)
	n := int(math.Floor((float64(rl.Burst)*interval-float64(res.ResetAfter))/interval + float64(time.Microsecond)/interval))
	return min(max(n, 0), rl.Burst)
}
