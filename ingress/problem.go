package ingress

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/groupwire"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// toProblem maps any error to the problem the client sees. This is the only
// place where errors become HTTP statuses.
func toProblem(err error) *problem.Error {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe
	}
	if pe, ok := groupwire.Problem(err); ok {
		return pe
	}
	var ve *schemas.ValidationError
	var fe *fiber.Error
	switch {
	case errors.As(err, &ve):
		return &problem.Error{Type: problem.Validation, Detail: "the body violates schema " + ve.SchemaID, Errors: ve.Violations}
	case errors.Is(err, schemas.ErrNotJSON):
		return &problem.Error{Type: problem.MalformedJSON, Detail: "the body is not valid JSON", Cause: err}
	case errors.Is(err, consumers.ErrTopicNotAllowed):
		return &problem.Error{Type: problem.TopicNotAllowed, Detail: err.Error() + ": only topics on the replay allowlist, never Kafka-internal ones"}
	case errors.Is(err, topics.ErrUnknownTopic):
		return &problem.Error{Type: problem.TopicNotFound, Detail: err.Error()}
	case errors.Is(err, consumers.ErrTooManyReplays):
		return &problem.Error{Type: problem.TooManyReplays, Detail: "this instance runs its maximum of concurrent replays; retry shortly", RetryAfter: 1, Cause: err}
	case errors.Is(err, consumers.ErrInvalidRange):
		return &problem.Error{Type: problem.InvalidRange, Detail: err.Error()}
	case errors.Is(err, consumers.ErrBadPosition):
		return &problem.Error{Type: problem.BadPosition, Detail: err.Error()}
	case errors.Is(err, consumers.ErrBadWhere):
		return &problem.Error{Type: problem.BadFilter, Detail: err.Error()}
	case errors.Is(err, consumers.ErrLimit):
		return &problem.Error{Type: problem.LimitTooLarge, Detail: err.Error()}
	case errors.Is(err, consumers.ErrClosed):
		return &problem.Error{Type: problem.ShuttingDown, Detail: "the server is shutting down; retry on another instance", RetryAfter: 1, Cause: err}
	case errors.Is(err, topics.ErrKeyUnresolved):
		return &problem.Error{Type: problem.KeyUnresolved, Detail: err.Error(), Cause: err}
	case errors.Is(err, topics.ErrTimeout):
		return &problem.Error{Type: problem.KafkaTimeout, Detail: "the broker did not acknowledge the record in time; it may or may not be stored. A retry with the same Idempotency-Key never stores it twice: it gets 409 until the outcome is known, then the record's 202 if it was stored", RetryAfter: 1, Cause: err}
	case errors.Is(err, topics.ErrUnavailable):
		return &problem.Error{Type: problem.KafkaUnavailable, Detail: "the record could not be stored; retry later", RetryAfter: 1, Cause: err}
	case errors.Is(err, topics.ErrTooLarge):
		return &problem.Error{Type: problem.BodyTooLarge, Cause: err,
			Detail: "the record, the body with its headers, is larger than Kafka takes (the producer's batch limit of about 1,000,000 bytes, or the topic's max.message.bytes); nothing was stored: send a smaller body"}
	case errors.Is(err, topics.ErrRejected):
		return &problem.Error{Type: problem.KafkaRejected, Detail: "the broker refused the record", Cause: err}
	case errors.Is(err, policy.ErrRedisUnavailable):
		return &problem.Error{Type: problem.RedisUnavailable, Detail: "redis is unavailable; retry later", RetryAfter: 1, Cause: err}
	case errors.Is(err, identity.ErrAuthUnavailable):
		return &problem.Error{Type: problem.AuthUnavailable, RetryAfter: 1, Cause: err,
			Detail: "the credentials cannot be checked right now (the identity provider did not answer); retry later"}
	case errors.Is(err, identity.ErrNoCredentials), errors.Is(err, identity.ErrInvalidCredentials):
		return &problem.Error{Type: problem.Unauthenticated, Detail: identity.Reason(err), WWWAuthenticate: `Bearer realm="ferry"`, Cause: err}
	case errors.Is(err, correlator.ErrTooManyPending):
		return &problem.Error{Type: problem.TooManyPending, Detail: "too many requests are waiting for replies; retry later", RetryAfter: 1, Cause: err}
	case errors.Is(err, correlator.ErrClosed):
		return &problem.Error{Type: problem.ShuttingDown, Detail: "this instance is shutting down; retry", RetryAfter: 1, Cause: err}
	case errors.Is(err, correlator.ErrUnknownID):
		return problem.New(problem.ResultNotFound, "no result has this id; it may have expired")
	case errors.Is(err, correlator.ErrUnavailable):
		return &problem.Error{Type: problem.ResultsUnavailable, Detail: "results cannot be kept or read right now; retry later", RetryAfter: 1, Cause: err}
	case errors.Is(err, correlator.ErrBadReply):
		return &problem.Error{Type: problem.BadReply, Detail: err.Error(), Cause: err}
	case errors.Is(err, consumers.ErrUnknownStream), errors.Is(err, consumers.ErrStreamRemoved):
		return &problem.Error{Type: problem.StreamNotFound, Detail: "no stream has this name", Cause: err}
	case errors.Is(err, consumers.ErrBadPosition):
		_, detail, _ := strings.Cut(err.Error(), consumers.ErrBadPosition.Error()+": ")
		return &problem.Error{Type: problem.BadPosition, Detail: detail, Cause: err}
	case errors.Is(err, consumers.ErrUnavailable), errors.Is(err, consumers.ErrClosed):
		return &problem.Error{Type: problem.StreamUnavailable, Detail: "the stream cannot be read now; retry later", RetryAfter: 1, Cause: err}
	case errors.As(err, &fe):
		switch fe.Code {
		case fiber.StatusNotFound:
			return problem.New(problem.NotFound, "no route serves this path")
		case fiber.StatusMethodNotAllowed:
			return problem.New(problem.MethodNotAllowed, fe.Message)
		case fiber.StatusRequestEntityTooLarge:
			return problem.New(problem.BodyTooLarge, "the request body is larger than the server accepts")
		case fiber.StatusRequestHeaderFieldsTooLarge:
			return problem.New(problem.HeaderTooLarge, "the request headers are too large")
		case fiber.StatusRequestTimeout:
			return problem.New(problem.RequestTimeout, "the request was not read in time")
		case fiber.StatusUnsupportedMediaType:
			return problem.New(problem.UnsupportedMedia, fe.Message)
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return problem.New(problem.BadRequest, fe.Message)
		}
	}
	return &problem.Error{Type: problem.Internal, Detail: "an internal error occurred", Cause: err}
}

// handleError is the Fiber ErrorHandler: it renders err as problem+json.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	pe := toProblem(err)
	var fe *fiber.Error
	if pe.Type == problem.BodyTooLarge && errors.As(err, &fe) {
		// fasthttp refused it before any route: say the largest body any
		// route accepts.
		pe = problem.New(problem.BodyTooLarge, "the request body is larger than the server accepts: at most "+
			strconv.Itoa(s.app.Config().BodyLimit)+" bytes")
	}
	ri := info(c)
	if ri == nil {
		// Errors raised by fasthttp before any middleware ran (body too
		// large, malformed request line) still get a request id, and
		// never the request's bytes, which fasthttp's parse errors quote
		// whole (its credentials included).
		if i := strings.Index(pe.Detail, "Buffer size="); i >= 0 {
			pe.Detail = strings.TrimRight(pe.Detail[:i], ". ")
		}
		ri = &reqInfo{id: newRequestID()}
		c.Set(fiber.HeaderXRequestID, ri.id)
		s.metrics.RequestRejected(c.Method(), pe.Type.Status)
	}
	if pe.Cause != nil && ri.cause == nil {
		ri.cause = pe.Cause
	}
	if pe.Type.Status >= 500 && pe.Cause != nil {
		s.log.LogAttrs(c.UserContext(), slog.LevelError, "request failed",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.Any("err", pe.Cause))
	}
	body, mErr := pe.Body(c.Path(), ri.id)
	if mErr != nil {
		return mErr
	}
	if pe.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(pe.RetryAfter))
	}
	if pe.Allow != "" {
		c.Set(fiber.HeaderAllow, pe.Allow)
	}
	if pe.WWWAuthenticate != "" {
		c.Set(fiber.HeaderWWWAuthenticate, pe.WWWAuthenticate)
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(pe.Type.Status).Send(body)
}
