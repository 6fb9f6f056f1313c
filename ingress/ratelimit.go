package ingress

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
)

// Rate-limit response headers (IETF httpapi ratelimit-headers draft).
const (
	HeaderRateLimitLimit     = "RateLimit-Limit"
	HeaderRateLimitRemaining = "RateLimit-Remaining"
	HeaderRateLimitReset     = "RateLimit-Reset"
)

// rateLimit is the middleware of an endpoint with a rate limit: it spends
// one request of the caller's budget, sets the RateLimit-* headers, and
// answers 429 with Retry-After when the budget is spent. When Redis fails
// it lets the request through (on_redis_error: open, logged and counted)
// or answers 503 (closed).
func (s *Server) rateLimit(p access) fiber.Handler {
	rl := *p.limit
	prefix := p.name + ":"
	return func(c *fiber.Ctx) error {
		ri := info(c)
		res, err := s.deps.Limiter.Allow(c.UserContext(), prefix+policy.LimitSubject(rl.By, ri.principal, func() string { return s.clientAddr(c) }), rl)
		if err != nil {
			if s.auth.Policy.RateLimits.OnRedisError == policy.FailClosed {
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
