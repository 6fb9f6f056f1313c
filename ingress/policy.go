package ingress

// This file is the HTTP side of ingress/policy: the response headers of
// the limit and idempotency steps (chain.go) and their degraded-mode
// warnings.

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/ingress/policy"
)

// Rate-limit response headers (IETF httpapi ratelimit-headers draft).
const (
	HeaderRateLimitLimit     = "RateLimit-Limit"
	HeaderRateLimitRemaining = "RateLimit-Remaining"
	HeaderRateLimitReset     = "RateLimit-Reset"
)

// Idempotency headers (IETF httpapi idempotency-key draft).
const (
	// HeaderIdempotencyKey carries the client's key for one operation.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on a response replayed from the
	// store instead of served anew.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// setRateLimitHeaders sets the RateLimit-* headers of a limit decision.
func setRateLimitHeaders(h *fasthttp.ResponseHeader, res policy.LimitResult) {
	var buf [20]byte
	h.SetBytesV(HeaderRateLimitLimit, strconv.AppendInt(buf[:0], int64(res.Limit), 10))
	h.SetBytesV(HeaderRateLimitRemaining, strconv.AppendInt(buf[:0], int64(res.Remaining), 10))
	h.SetBytesV(HeaderRateLimitReset, strconv.AppendInt(buf[:0], ceilSeconds(res.ResetAfter), 10))
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
