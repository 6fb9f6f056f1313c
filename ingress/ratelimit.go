package ingress

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// Rate-limit response headers (IETF httpapi ratelimit-headers draft).
const (
	HeaderRateLimitLimit     = "RateLimit-Limit"
	HeaderRateLimitRemaining = "RateLimit-Remaining"
	HeaderRateLimitReset     = "RateLimit-Reset"
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

// RedisLimiter is a GCRA Limiter kept in Redis by go-redis/redis_rate's
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
		Remaining:  res.Remaining,
		RetryAfter: res.RetryAfter,
		ResetAfter: res.ResetAfter,
	}, nil
}

// rateLimit is the middleware of an endpoint with a rate limit: it spends
// one request of the caller's budget, sets the RateLimit-* headers, and
// answers 429 with Retry-After when the budget is spent. When Redis fails
// it lets the request through (on_redis_error: open, logged and counted)
// or answers 503 (closed).
func (s *Server) rateLimit(p policy) fiber.Handler {
	rl := *p.limit
	prefix := p.name + ":"
	return func(c *fiber.Ctx) error {
		ri := info(c)
		res, err := s.deps.Limiter.Allow(c.UserContext(), prefix+s.limitSubject(c, ri.principal, rl.By), rl)
		if err != nil {
			if s.auth.RateLimits.OnRedisError == FailClosed {
				return &problem.Error{Type: problem.RedisUnavailable, Detail: "the rate limit cannot be checked; retry later", RetryAfter: 1, Cause: err}
			}
			s.metrics.RateLimit(p.name, "error")
			s.warnEvery(c.UserContext(), &s.limiterWarned, "rate limits are not enforced: redis failed (on_redis_error: open)", ri, err)
			return c.Next()
		}
		h := &c.Response().Header
		var buf [20]byte
		h.SetBytesV(HeaderRateLimitLimit, strconv.AppendInt(buf[:0], int64(res.Limit), 10))
		h.SetBytesV(HeaderRateLimitRemaining, strconv.AppendInt(buf[:0], int64(res.Remaining), 10))
		h.SetBytesV(HeaderRateLimitReset, strconv.AppendInt(buf[:0], ceilSeconds(res.ResetAfter), 10))
		if !res.Allowed {
			s.metrics.RateLimit(p.name, "limited")
			retry := max(ceilSeconds(res.RetryAfter), 1)
			return &problem.Error{Type: problem.RateLimited, RetryAfter: int(retry),
				Detail: "the rate limit of " + p.name + " is spent; retry in " + strconv.FormatInt(retry, 10) + "s"}
		}
		s.metrics.RateLimit(p.name, "allowed")
		return c.Next()
	}
}

// limitSubject names whose budget a request spends: "principal" (the
// default) keys by the authenticated principal, "api_key" by the API key
// id, "claim:NAME" by that claim, "ip" by the client address. A request
// without what its key needs (an anonymous caller, a JWT on an api_key
// limit, a principal without the claim) falls back to its principal, then
// to its client address (clientAddr: behind a load balancer, by ip needs
// server.trusted_proxies).
func (s *Server) limitSubject(c *fiber.Ctx, p *identity.Principal, by string) string {
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
	return "ip:" + s.clientAddr(c)
}

// ceilSeconds rounds d up to whole seconds, as the headers count them.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// warnEvery logs a degraded-mode warning at most once per 10 seconds per
// kind (last), so that a Redis outage does not flood the log.
func (s *Server) warnEvery(ctx context.Context, last *atomic.Int64, msg string, ri *reqInfo, err error) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(10*time.Second) || !last.CompareAndSwap(prev, now) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("request_id", ri.id), slog.String("route", ri.route), slog.Any("err", err))
}
