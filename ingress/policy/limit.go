package policy

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	lru "github.com/hashicorp/golang-lru/v2"
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
	// Granted is how many requests Redis granted (more than one for a
	// local lease); internal to the limiter.
	Granted int
}

// RedisLimiter is a GCRA limiter kept in Redis by go-redis/redis_rate's
// Lua script, so every ferry instance using the same Redis spends the same
// budget. The embedded miniredis runs the same script. It is safe for
// concurrent use; the caller owns and closes the Redis client.
//
// With a local lease (WithLocalLease) an instance takes a slice of a busy
// key's budget from Redis in one call and spends it in process for up to
// the lease, and answers a key Redis refused with 429 locally until its
// retry time: see leaseSize for the slice and the error it allows.
type RedisLimiter struct {
	l      *redis_rate.Limiter
	prefix string
	lease  time.Duration
	leases *lru.Cache[string, *leased] // by key; nil without a lease
	now    func() time.Time            // time.Now; tests freeze it
}

// LimiterOption configures NewRedisLimiter.
type LimiterOption func(*RedisLimiter)

// WithLimiterPrefix sets the prefix of the limiter's Redis keys,
// overriding the default "ferry:". redis_rate adds its own "rate:" before
// it.
func WithLimiterPrefix(p string) LimiterOption { return func(l *RedisLimiter) { l.prefix = p } }

// WithLocalLease lets the limiter spend budgets leased from Redis in
// process for up to d (auth.rate_limits.local_lease); 0 (the default) asks
// Redis for every request.
func WithLocalLease(d time.Duration) LimiterOption { return func(l *RedisLimiter) { l.lease = d } }

// maxLeasedKeys bounds the keys whose leases an instance keeps; the least
// recently used go first (their leased requests are lost, which only
// makes the limit stricter).
const maxLeasedKeys = 1 << 16

// NewRedisLimiter returns a limiter over rdb.
func NewRedisLimiter(rdb redis.UniversalClient, opts ...LimiterOption) *RedisLimiter {
	l := &RedisLimiter{l: redis_rate.NewLimiter(rdb), prefix: "ferry:", now: time.Now}
	for _, o := range opts {
		o(l)
	}
	if l.lease > 0 {
		l.leases, _ = lru.New[string, *leased](maxLeasedKeys) // only a size <= 0 fails
	}
	return l
}

// Allow spends one request of the budget key under limit rl. Its error
// wraps ErrRedisUnavailable.
func (l *RedisLimiter) Allow(ctx context.Context, key string, rl topics.RateLimitConfig) (LimitResult, error) {
	n := leaseSize(rl, l.lease)
	if n <= 1 {
		return l.allow(ctx, key, rl, 1)
	}
	lk, ok := l.leases.Get(key)
	if !ok {
		lk = &leased{}
		if prev, ok, _ := l.leases.PeekOrAdd(key, lk); ok {
			lk = prev // another request added it meanwhile
		}
	}
	return lk.spend(l.now(), rl, l.lease, func() (LimitResult, error) { return l.allow(ctx, key, rl, n) })
}

// allow asks Redis for up to n requests of the budget (n = 1: exactly
// one, with redis_rate's Allow).
func (l *RedisLimiter) allow(ctx context.Context, key string, rl topics.RateLimitConfig, n int) (LimitResult, error) {
	lim := redis_rate.Limit{Rate: rl.Rate, Burst: rl.Burst, Period: rl.Per}
	var (
		res *redis_rate.Result
		err error
	)
	if n == 1 {
		res, err = l.l.Allow(ctx, l.prefix+key, lim)
	} else {
		res, err = l.l.AllowAtMost(ctx, l.prefix+key, lim, n)
	}
	if err != nil {
		return LimitResult{}, fmt.Errorf("rate limit: %w: %w", ErrRedisUnavailable, err)
	}
	return LimitResult{
		Allowed:    res.Allowed > 0,
		Granted:    res.Allowed,
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
