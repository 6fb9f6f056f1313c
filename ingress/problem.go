package ingress

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// ProblemType is one kind of error response. Its Type URI is stable: clients
// may branch on it.
type ProblemType struct {
	Type   string
	Title  string
	Status int
}

// problemBase prefixes every problem type URI.
const problemBase = "urn:ferry:problem:"

// Problem types. This table is append-only: never rename or reuse an entry,
// and keep the table in docs/http-api.md in step with it.
var (
	ProblemNotFound         = ProblemType{problemBase + "not-found", "Not Found", fiber.StatusNotFound}
	ProblemMethodNotAllowed = ProblemType{problemBase + "method-not-allowed", "Method Not Allowed", fiber.StatusMethodNotAllowed}
	ProblemUnsupportedMedia = ProblemType{problemBase + "unsupported-media-type", "Unsupported Media Type", fiber.StatusUnsupportedMediaType}
	ProblemMalformedJSON    = ProblemType{problemBase + "malformed-json", "Malformed JSON", fiber.StatusBadRequest}
	ProblemBodyTooLarge     = ProblemType{problemBase + "body-too-large", "Request Body Too Large", fiber.StatusRequestEntityTooLarge}
	ProblemKeyUnresolved    = ProblemType{problemBase + "key-unresolved", "Record Key Unresolved", fiber.StatusUnprocessableEntity}
	ProblemKafkaUnavailable = ProblemType{problemBase + "kafka-unavailable", "Kafka Unavailable", fiber.StatusServiceUnavailable}
	ProblemKafkaTimeout     = ProblemType{problemBase + "kafka-timeout", "Kafka Did Not Acknowledge In Time", fiber.StatusServiceUnavailable}
	ProblemKafkaRejected    = ProblemType{problemBase + "kafka-rejected", "Kafka Rejected The Record", fiber.StatusBadGateway}
	ProblemBadRequest       = ProblemType{problemBase + "bad-request", "Bad Request", fiber.StatusBadRequest}
	ProblemHeaderTooLarge   = ProblemType{problemBase + "headers-too-large", "Request Headers Too Large", fiber.StatusRequestHeaderFieldsTooLarge}
	ProblemRequestTimeout   = ProblemType{problemBase + "request-timeout", "Request Timeout", fiber.StatusRequestTimeout}
	ProblemValidation       = ProblemType{problemBase + "validation-failed", "Request Body Violates Its Schema", fiber.StatusUnprocessableEntity}
	ProblemUnauthenticated  = ProblemType{problemBase + "unauthenticated", "Unauthenticated", fiber.StatusUnauthorized}
	ProblemInternal         = ProblemType{problemBase + "internal", "Internal Server Error", fiber.StatusInternalServerError}
	// Request/response.
	ProblemReplyTimeout       = ProblemType{problemBase + "reply-timeout", "No Reply In Time", fiber.StatusGatewayTimeout}
	ProblemTooManyPending     = ProblemType{problemBase + "too-many-pending", "Too Many Pending Requests", fiber.StatusServiceUnavailable}
	ProblemResultNotFound     = ProblemType{problemBase + "result-not-found", "Result Not Found", fiber.StatusNotFound}
	ProblemBadReply           = ProblemType{problemBase + "bad-reply", "Bad Reply From The Backend", fiber.StatusBadGateway}
	ProblemForbiddenResult    = ProblemType{problemBase + "forbidden-result", "Result Belongs To Another Principal", fiber.StatusForbidden}
	ProblemResultsUnavailable = ProblemType{problemBase + "results-unavailable", "Result Store Unavailable", fiber.StatusServiceUnavailable}
	ProblemShuttingDown       = ProblemType{problemBase + "shutting-down", "Shutting Down", fiber.StatusServiceUnavailable}
	// ProblemResponderFailed is written by the consumers responder SDK into
	// the reply of a request its handler failed; ferry passes it on.
	ProblemResponderFailed = ProblemType{consumers.ProblemResponderFailed, "Responder Failed", fiber.StatusInternalServerError}
)

// Problem types of identity and traffic policy; the table continues here.
var (
	ProblemForbidden           = ProblemType{problemBase + "forbidden", "Forbidden", fiber.StatusForbidden}
	ProblemRateLimited         = ProblemType{problemBase + "rate-limited", "Too Many Requests", fiber.StatusTooManyRequests}
	ProblemIdempotencyConflict = ProblemType{problemBase + "idempotency-conflict", "Request With This Idempotency-Key In Progress", fiber.StatusConflict}
	ProblemIdempotencyMismatch = ProblemType{problemBase + "idempotency-mismatch", "Idempotency-Key Reused For A Different Request", fiber.StatusUnprocessableEntity}
	ProblemRedisUnavailable    = ProblemType{problemBase + "redis-unavailable", "Redis Unavailable", fiber.StatusServiceUnavailable}
	ProblemStreamNotFound      = ProblemType{problemBase + "stream-not-found", "Stream Not Found", fiber.StatusNotFound}
	ProblemNotAcceptable       = ProblemType{problemBase + "not-acceptable", "Not Acceptable", fiber.StatusNotAcceptable}
	ProblemBadPosition         = ProblemType{problemBase + "bad-position", "Bad Position", fiber.StatusBadRequest}
	ProblemBadFilter           = ProblemType{problemBase + "bad-filter", "Bad Stream Filter", fiber.StatusBadRequest}
	ProblemStreamUnavailable   = ProblemType{problemBase + "stream-unavailable", "Stream Unavailable", fiber.StatusServiceUnavailable}
	ProblemTopicNotAllowed     = ProblemType{problemBase + "topic-not-allowed", "Topic Not Allowed", fiber.StatusForbidden}
	ProblemTopicNotFound       = ProblemType{problemBase + "topic-not-found", "Topic Not Found", fiber.StatusNotFound}
	ProblemTooManyReplays      = ProblemType{problemBase + "too-many-replays", "Too Many Replays", fiber.StatusTooManyRequests}
	ProblemLimitTooLarge       = ProblemType{problemBase + "limit-too-large", "Limit Above The Cap", fiber.StatusBadRequest}
)

// ProblemTypes lists every problem type in table order, for docs and tests.
var ProblemTypes = []ProblemType{
	ProblemNotFound, ProblemMethodNotAllowed, ProblemUnsupportedMedia, ProblemMalformedJSON,
	ProblemBodyTooLarge, ProblemKeyUnresolved, ProblemKafkaUnavailable, ProblemKafkaTimeout,
	ProblemKafkaRejected, ProblemBadRequest, ProblemHeaderTooLarge, ProblemRequestTimeout,
	ProblemValidation, ProblemUnauthenticated, ProblemInternal,
	ProblemForbidden, ProblemRateLimited, ProblemIdempotencyConflict, ProblemIdempotencyMismatch,
	ProblemRedisUnavailable,
	ProblemReplyTimeout, ProblemTooManyPending, ProblemResultNotFound, ProblemBadReply,
	ProblemForbiddenResult, ProblemResultsUnavailable, ProblemShuttingDown, ProblemResponderFailed,
	ProblemStreamNotFound, ProblemNotAcceptable, ProblemBadPosition, ProblemBadFilter,
	ProblemStreamUnavailable,
	ProblemTopicNotAllowed, ProblemTopicNotFound, ProblemTooManyReplays, ProblemLimitTooLarge,
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Errors    any    `json:"errors,omitempty"`
}

// problemError is an error that knows its problem type. Handlers return it;
// handleError renders it.
type problemError struct {
	pt         ProblemType
	detail     string
	errs       any
	retryAfter int    // seconds; 0 omits Retry-After
	allow      string // Allow header for 405
	wwwAuth    string // WWW-Authenticate header for 401 and 403
	cause      error  // logged, never sent
}

func (e *problemError) Error() string {
	if e.cause != nil {
		return e.pt.Title + ": " + e.detail + ": " + e.cause.Error()
	}
	return e.pt.Title + ": " + e.detail
}

func (e *problemError) Unwrap() error { return e.cause }

func problem(pt ProblemType, detail string) *problemError {
	return &problemError{pt: pt, detail: detail}
}

// toProblem maps any error to the problem the client sees. This is the only
// place where errors become HTTP statuses.
func toProblem(err error) *problemError {
	var pe *problemError
	if errors.As(err, &pe) {
		return pe
	}
	var ve *schemas.ValidationError
	var fe *fiber.Error
	switch {
	case errors.As(err, &ve):
		return &problemError{pt: ProblemValidation, detail: "the body violates schema " + ve.SchemaID, errs: ve.Violations}
	case errors.Is(err, schemas.ErrNotJSON):
		return &problemError{pt: ProblemMalformedJSON, detail: "the body is not valid JSON", cause: err}
	case errors.Is(err, consumers.ErrTopicNotAllowed):
		return &problemError{pt: ProblemTopicNotAllowed, detail: err.Error() + ": only topics on the replay allowlist, never Kafka-internal ones"}
	case errors.Is(err, topics.ErrUnknownTopic):
		return &problemError{pt: ProblemTopicNotFound, detail: err.Error()}
	case errors.Is(err, consumers.ErrTooManyReplays):
		return &problemError{pt: ProblemTooManyReplays, detail: "this instance runs its maximum of concurrent replays; retry shortly", retryAfter: 1, cause: err}
	case errors.Is(err, consumers.ErrBadPosition):
		return &problemError{pt: ProblemBadPosition, detail: err.Error()}
	case errors.Is(err, consumers.ErrLimit):
		return &problemError{pt: ProblemLimitTooLarge, detail: err.Error()}
	case errors.Is(err, consumers.ErrClosed):
		return &problemError{pt: ProblemShuttingDown, detail: "the server is shutting down; retry on another instance", retryAfter: 1, cause: err}
	case errors.Is(err, topics.ErrKeyUnresolved):
		return &problemError{pt: ProblemKeyUnresolved, detail: err.Error(), cause: err}
	case errors.Is(err, topics.ErrTimeout):
		return &problemError{pt: ProblemKafkaTimeout, detail: "the broker did not acknowledge the record in time; it may or may not be stored", retryAfter: 1, cause: err}
	case errors.Is(err, topics.ErrUnavailable):
		return &problemError{pt: ProblemKafkaUnavailable, detail: "the record could not be stored; retry later", retryAfter: 1, cause: err}
	case errors.Is(err, topics.ErrRejected):
		return &problemError{pt: ProblemKafkaRejected, detail: "the broker refused the record", cause: err}
	case errors.Is(err, ErrRedisUnavailable):
		return &problemError{pt: ProblemRedisUnavailable, detail: "redis is unavailable; retry later", retryAfter: 1, cause: err}
	case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrInvalidCredentials):
		return &problemError{pt: ProblemUnauthenticated, detail: credentialReason(err), wwwAuth: `Bearer realm="ferry"`, cause: err}
	case errors.Is(err, correlator.ErrTooManyPending):
		return &problemError{pt: ProblemTooManyPending, detail: "too many requests are waiting for replies; retry later", retryAfter: 1, cause: err}
	case errors.Is(err, correlator.ErrClosed):
		return &problemError{pt: ProblemShuttingDown, detail: "this instance is shutting down; retry", retryAfter: 1, cause: err}
	case errors.Is(err, correlator.ErrUnknownID):
		return problem(ProblemResultNotFound, "no result has this id; it may have expired")
	case errors.Is(err, correlator.ErrUnavailable):
		return &problemError{pt: ProblemResultsUnavailable, detail: "results cannot be kept or read right now; retry later", retryAfter: 1, cause: err}
	case errors.Is(err, correlator.ErrBadReply):
		return &problemError{pt: ProblemBadReply, detail: err.Error(), cause: err}
	case errors.Is(err, consumers.ErrUnknownStream):
		return &problemError{pt: ProblemStreamNotFound, detail: "no stream has this name", cause: err}
	case errors.Is(err, consumers.ErrBadPosition):
		_, detail, _ := strings.Cut(err.Error(), consumers.ErrBadPosition.Error()+": ")
		return &problemError{pt: ProblemBadPosition, detail: detail, cause: err}
	case errors.Is(err, consumers.ErrUnavailable), errors.Is(err, consumers.ErrClosed):
		return &problemError{pt: ProblemStreamUnavailable, detail: "the stream cannot be read now; retry later", retryAfter: 1, cause: err}
	case errors.As(err, &fe):
		switch fe.Code {
		case fiber.StatusNotFound:
			return problem(ProblemNotFound, "no route serves this path")
		case fiber.StatusMethodNotAllowed:
			return problem(ProblemMethodNotAllowed, fe.Message)
		case fiber.StatusRequestEntityTooLarge:
			return problem(ProblemBodyTooLarge, "the request body is larger than the server accepts")
		case fiber.StatusRequestHeaderFieldsTooLarge:
			return problem(ProblemHeaderTooLarge, "the request headers are too large")
		case fiber.StatusRequestTimeout:
			return problem(ProblemRequestTimeout, "the request was not read in time")
		case fiber.StatusUnsupportedMediaType:
			return problem(ProblemUnsupportedMedia, fe.Message)
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return problem(ProblemBadRequest, fe.Message)
		}
	}
	return &problemError{pt: ProblemInternal, detail: "an internal error occurred", cause: err}
}

// handleError is the Fiber ErrorHandler: it renders err as problem+json.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	pe := toProblem(err)
	ri := info(c)
	if ri == nil {
		// Errors raised by fasthttp before any middleware ran (body too
		// large, malformed request line) still get a request id.
		ri = &reqInfo{id: newRequestID()}
		c.Set(fiber.HeaderXRequestID, ri.id)
		s.metrics.requestRejected(c.Method(), pe.pt.Status)
	}
	if pe.cause != nil && ri.cause == nil {
		ri.cause = pe.cause
	}
	if pe.pt.Status >= 500 && pe.cause != nil {
		s.log.LogAttrs(c.UserContext(), slog.LevelError, "request failed",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.Any("err", pe.cause))
	}
	body, mErr := problemBody(pe, c.Path(), ri.id)
	if mErr != nil {
		return mErr
	}
	if pe.retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(pe.retryAfter))
	}
	if pe.allow != "" {
		c.Set(fiber.HeaderAllow, pe.allow)
	}
	if pe.wwwAuth != "" {
		c.Set(fiber.HeaderWWWAuthenticate, pe.wwwAuth)
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(pe.pt.Status).Send(body)
}

// problemBody renders pe as a problem+json body.
func problemBody(pe *problemError, instance, requestID string) ([]byte, error) {
	return json.Marshal(Problem{
		Type: pe.pt.Type, Title: pe.pt.Title, Status: pe.pt.Status, Detail: pe.detail,
		Instance: instance, RequestID: requestID, Errors: pe.errs,
	})
}
