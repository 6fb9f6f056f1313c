// Package problem holds ferry's catalog of problem types (each a stable
// type URI, a title and an HTTP status) and renders errors as RFC 9457
// problem details (application/problem+json).
//
// It is the floor of ingress: ingress and every package under it import
// it, and it imports only the standard library, never another ferry
// package. Which error becomes which problem is decided in one place
// above it, ingress's errors.go.
package problem

import (
	"encoding/json"
	"net/http"
)

// Type is one kind of error response. Its URI is stable: clients may
// branch on it.
type Type struct {
	URI    string
	Title  string
	Status int
}

// base prefixes every problem type URI.
const base = "urn:ferry:problem:"

// The catalog. It is append-only: never rename or reuse an entry, and keep
// the table in docs/http-api.md in step with it.
var (
	NotFound         = Type{base + "not-found", "Not Found", http.StatusNotFound}
	MethodNotAllowed = Type{base + "method-not-allowed", "Method Not Allowed", http.StatusMethodNotAllowed}
	// NotImplemented answers a method ferry does not know at all
	// (PROPFIND, QUERY), as RFC 9110 section 15.6.2 asks.
	NotImplemented = Type{base + "not-implemented", "Not Implemented", http.StatusNotImplemented}
	// UpgradeRequired answers a plain request to a WebSocket-only
	// endpoint (/v1/ws), with Upgrade: websocket (RFC 9110 15.5.22).
	UpgradeRequired  = Type{base + "upgrade-required", "Upgrade Required", http.StatusUpgradeRequired}
	UnsupportedMedia = Type{base + "unsupported-media-type", "Unsupported Media Type", http.StatusUnsupportedMediaType}
	MalformedJSON    = Type{base + "malformed-json", "Malformed JSON", http.StatusBadRequest}
	BodyTooLarge     = Type{base + "body-too-large", "Request Body Too Large", http.StatusRequestEntityTooLarge}
	KeyUnresolved    = Type{base + "key-unresolved", "Record Key Unresolved", http.StatusUnprocessableEntity}
	KafkaUnavailable = Type{base + "kafka-unavailable", "Kafka Unavailable", http.StatusServiceUnavailable}
	KafkaTimeout     = Type{base + "kafka-timeout", "Kafka Did Not Acknowledge In Time", http.StatusServiceUnavailable}
	KafkaRejected    = Type{base + "kafka-rejected", "Kafka Rejected The Record", http.StatusBadGateway}
	TopicMissing     = Type{base + "topic-missing", "Route's Topic Missing", http.StatusInternalServerError}
	BadRequest       = Type{base + "bad-request", "Bad Request", http.StatusBadRequest}
	HeaderTooLarge   = Type{base + "headers-too-large", "Request Headers Too Large", http.StatusRequestHeaderFieldsTooLarge}
	RequestTimeout   = Type{base + "request-timeout", "Request Timeout", http.StatusRequestTimeout}
	Validation       = Type{base + "validation-failed", "Request Body Violates Its Schema", http.StatusUnprocessableEntity}
	BodyEditFailed   = Type{base + "body-edit-failed", "Request Body Cannot Be Edited", http.StatusUnprocessableEntity}
	RecordInvalid    = Type{base + "record-invalid", "Edited Record Violates Its Schema", http.StatusInternalServerError}
	Unauthenticated  = Type{base + "unauthenticated", "Unauthenticated", http.StatusUnauthorized}
	// AmbiguousCredentials: a credential header given twice.
	AmbiguousCredentials = Type{base + "ambiguous-credentials", "Credentials Given More Than Once", http.StatusBadRequest}
	// InvalidIdempotencyKey: a malformed or repeated Idempotency-Key.
	InvalidIdempotencyKey = Type{base + "invalid-idempotency-key", "Invalid Idempotency-Key", http.StatusBadRequest}
	AuthUnavailable       = Type{base + "auth-unavailable", "Authentication Unavailable", http.StatusServiceUnavailable}
	Internal              = Type{base + "internal", "Internal Server Error", http.StatusInternalServerError}
	// Request/response.
	ReplyTimeout       = Type{base + "reply-timeout", "No Reply In Time", http.StatusGatewayTimeout}
	TooManyPending     = Type{base + "too-many-pending", "Too Many Pending Requests", http.StatusServiceUnavailable}
	ResultNotFound     = Type{base + "result-not-found", "Result Not Found", http.StatusNotFound}
	BadReply           = Type{base + "bad-reply", "Bad Reply From The Backend", http.StatusBadGateway}
	ForbiddenResult    = Type{base + "forbidden-result", "Result Belongs To Another Principal", http.StatusForbidden}
	ResultsUnavailable = Type{base + "results-unavailable", "Result Store Unavailable", http.StatusServiceUnavailable}
	ShuttingDown       = Type{base + "shutting-down", "Shutting Down", http.StatusServiceUnavailable}
	// ResponderFailed is written by the responder SDK (consumers/respond)
	// into the reply of a request its handler failed; ferry passes it on.
	// Its URI is respond.ProblemResponderFailed (problem_test.go checks).
	ResponderFailed = Type{base + "responder-failed", "Responder Failed", http.StatusInternalServerError}
	// ResponderUnavailable answers a sync request (on_timeout: fail) while
	// its route's responder breaker is open; nothing was produced.
	ResponderUnavailable = Type{base + "responder-unavailable", "Responders Not Answering", http.StatusServiceUnavailable}
)

// The catalog continues with the problem types of identity and traffic
// policy, streams and replay.
var (
	Forbidden           = Type{base + "forbidden", "Forbidden", http.StatusForbidden}
	RateLimited         = Type{base + "rate-limited", "Too Many Requests", http.StatusTooManyRequests}
	IdempotencyConflict = Type{base + "idempotency-conflict", "Request With This Idempotency-Key In Progress", http.StatusConflict}
	IdempotencyMismatch = Type{base + "idempotency-mismatch", "Idempotency-Key Reused For A Different Request", http.StatusUnprocessableEntity}
	RedisUnavailable    = Type{base + "redis-unavailable", "Redis Unavailable", http.StatusServiceUnavailable}
	StreamNotFound      = Type{base + "stream-not-found", "Stream Not Found", http.StatusNotFound}
	NotAcceptable       = Type{base + "not-acceptable", "Not Acceptable", http.StatusNotAcceptable}
	BadPosition         = Type{base + "bad-position", "Bad Position", http.StatusBadRequest}
	InvalidRange        = Type{base + "invalid-range", "Replay Range Inverted", http.StatusBadRequest}
	BadFilter           = Type{base + "bad-filter", "Bad Stream Filter", http.StatusBadRequest}
	StreamUnavailable   = Type{base + "stream-unavailable", "Stream Unavailable", http.StatusServiceUnavailable}
	TopicNotAllowed     = Type{base + "topic-not-allowed", "Topic Not Allowed", http.StatusForbidden}
	TopicNotFound       = Type{base + "topic-not-found", "Topic Not Found", http.StatusNotFound}
	TooManyReplays      = Type{base + "too-many-replays", "Too Many Replays", http.StatusTooManyRequests}
	LimitTooLarge       = Type{base + "limit-too-large", "Limit Above The Cap", http.StatusBadRequest}
	// ViewUnavailable answers a GET route whose view of its topic is
	// still catching up, or holds view.max_keys keys.
	ViewUnavailable = Type{base + "view-unavailable", "View Unavailable", http.StatusServiceUnavailable}
	// KeyNotFound answers a GET route for a key the topic does not hold
	// (never written, or tombstoned).
	KeyNotFound = Type{base + "key-not-found", "Key Not Found", http.StatusNotFound}
	// GroupNotAllowed answers a consumer group request that no rule of
	// the groups section covers (group name and topic), or a reserved
	// group name.
	GroupNotAllowed = Type{base + "group-not-allowed", "Group Not Allowed", http.StatusForbidden}
	// PartitionNotHeld answers a commit naming a partition the member does
	// not hold (any more): its lease passed and the partition moved.
	PartitionNotHeld = Type{base + "partition-not-held", "Partition Not Held By The Member", http.StatusConflict}
	// GroupOffsetsRefused answers a commit Kafka's group coordinator
	// refused (a group with live Kafka consumers of its own).
	GroupOffsetsRefused = Type{base + "group-offsets-refused", "Group Offsets Refused", http.StatusConflict}
)

// Types lists every problem type in table order, for docs and tests.
var Types = []Type{
	NotFound, MethodNotAllowed, NotImplemented, UpgradeRequired, UnsupportedMedia, MalformedJSON,
	BodyTooLarge, KeyUnresolved, KafkaUnavailable, KafkaTimeout,
	KafkaRejected, TopicMissing, BadRequest, HeaderTooLarge, RequestTimeout,
	Validation, BodyEditFailed, RecordInvalid, Unauthenticated, AuthUnavailable, AmbiguousCredentials,
	InvalidIdempotencyKey, Internal,
	Forbidden, RateLimited, IdempotencyConflict, IdempotencyMismatch,
	RedisUnavailable,
	ReplyTimeout, TooManyPending, ResultNotFound, BadReply,
	ForbiddenResult, ResultsUnavailable, ShuttingDown, ResponderFailed, ResponderUnavailable,
	StreamNotFound, NotAcceptable, BadPosition, InvalidRange, BadFilter,
	StreamUnavailable,
	TopicNotAllowed, TopicNotFound, TooManyReplays, LimitTooLarge,
	ViewUnavailable, KeyNotFound,
	GroupNotAllowed, PartitionNotHeld, GroupOffsetsRefused,
}

// Details is an RFC 9457 problem details body, with ferry's extensions
// request_id and, for validation failures, errors.
type Details struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Errors    any    `json:"errors,omitempty"`
}

// Error is an error that knows its problem type: handlers return it, and
// ingress renders it. Detail goes to the client; Cause only to the log.
type Error struct {
	Type Type
	// Detail says what went wrong with this request, in words safe to
	// show the client.
	Detail string
	// Errors is the errors extension (a validation failure's violations).
	Errors any
	// RetryAfter is the Retry-After header in seconds; 0 omits it.
	RetryAfter int
	// Allow is the Allow header of a 405.
	Allow string
	// WWWAuthenticate is the WWW-Authenticate header of a 401 or 403.
	WWWAuthenticate string
	// Cause is logged, never sent.
	Cause error
}

// New returns the problem t with a detail for the client.
func New(t Type, detail string) *Error { return &Error{Type: t, Detail: detail} }

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Type.Title + ": " + e.Detail + ": " + e.Cause.Error()
	}
	return e.Type.Title + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Cause }

// Details returns the body of e for the request at instance with the
// given request id.
func (e *Error) Details(instance, requestID string) Details {
	return Details{
		Type: e.Type.URI, Title: e.Type.Title, Status: e.Type.Status, Detail: e.Detail,
		Instance: instance, RequestID: requestID, Errors: e.Errors,
	}
}

// Body renders e as a problem+json body.
func (e *Error) Body(instance, requestID string) ([]byte, error) {
	return json.Marshal(e.Details(instance, requestID))
}
