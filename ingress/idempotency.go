package ingress

import (
	"context"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
)

// Idempotency headers (IETF httpapi idempotency-key draft).
const (
	// HeaderIdempotencyKey carries the client's key for one operation.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on a response replayed from the
	// store instead of served anew.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// idempotency is the middleware of a route honouring Idempotency-Key: the
// first response for (principal, key) is stored; a repeat with the same
// request gets it again (same event id, nothing produced); the same key
// with another request is a 422, and a repeat while the first is in flight
// a 409. Responses of 500 and above are not stored, so that a retry runs
// anew. Without an IdempotencyStore the header is ignored.
func (s *Server) idempotency(c *fiber.Ctx) error {
	raw := c.Request().Header.Peek(HeaderIdempotencyKey)
	if len(raw) == 0 || s.deps.Idempotency == nil {
		return c.Next()
	}
	ikey, ok := policy.ParseIdempotencyKey(raw)
	if !ok {
		return problem.New(problem.BadRequest, "Idempotency-Key must be a quoted string of 1 to 255 visible ASCII characters")
	}
	ri := info(c)
	ctx := context.WithoutCancel(c.UserContext())
	key := policy.StoreKey(policy.IdempotencyScope(ri.principal, func() string { return s.clientAddr(c) }), ikey)
	req := c.Request()
	claim := policy.IdempotencyClaim{Fingerprint: policy.Fingerprint(req.Header.Method(), req.RequestURI(), c.Body()),
		Owner: policy.NewOwner(), LockTTL: s.auth.Policy.Idempotency.LockTTL}
	held, err := s.deps.Idempotency.Begin(ctx, key, claim)
	if err != nil {
		if s.auth.Policy.Idempotency.OnRedisError == policy.FailClosed {
			return &problem.Error{Type: problem.RedisUnavailable, Detail: "the Idempotency-Key cannot be checked; retry later", RetryAfter: 1, Cause: err}
		}
		s.metrics.IdempotencyFailOpen(ri.route)
		s.warnEvery(ctx, &s.idempotencyWarned, "Idempotency-Key is not enforced: redis failed (on_redis_error: open)", ri, err)
		return c.Next()
	}
	if held != nil {
		switch {
		case held.Fingerprint != claim.Fingerprint:
			return problem.New(problem.IdempotencyMismatch, "this Idempotency-Key was used for a different request; use a new key for a new request")
		case !held.Done:
			return &problem.Error{Type: problem.IdempotencyConflict, RetryAfter: 1, Detail: "the first request with this Idempotency-Key is still in progress; retry later"}
		}
		s.metrics.IdempotentReplay(ri.route)
		r := held.Response
		c.Status(r.Status)
		if r.ContentType != "" {
			c.Set(fiber.HeaderContentType, r.ContentType)
		}
		if r.Location != "" {
			c.Set(fiber.HeaderLocation, r.Location)
		}
		c.Set(HeaderIdempotentReplayed, "true")
		c.Response().SetBody(r.Body)
		return nil
	}

	if err := c.Next(); err != nil {
		// Render here, so that the problem is what gets stored.
		if herr := s.handleError(c, err); herr != nil {
			_ = s.deps.Idempotency.Release(ctx, key, claim)
			return herr
		}
	}
	resp := c.Response()
	if resp.StatusCode() >= 500 {
		err = s.deps.Idempotency.Release(ctx, key, claim)
	} else {
		err = s.deps.Idempotency.Complete(ctx, key, claim, policy.StoredResponse{
			Status:      resp.StatusCode(),
			ContentType: string(resp.Header.ContentType()),
			Location:    string(resp.Header.Peek(fiber.HeaderLocation)),
			Body:        resp.Body(),
		}, s.auth.Policy.Idempotency.TTL)
	}
	if err != nil {
		// The answer stands; a retry after the lock expires runs anew.
		s.log.LogAttrs(ctx, slog.LevelWarn, "storing the idempotent response failed",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.Any("err", err))
	}
	return nil
}
