package ingress

import (
	"context"
	"time"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
)

// Producer publishes one message and returns where it was stored, only
// after the broker acknowledged it. Errors wrap the topics sentinels.
type Producer interface {
	Produce(ctx context.Context, m *topics.Message) (topics.Position, error)
}

// Correlator matches replies to the requests of routes with a reply
// section. Register before producing; Detach when the client will not wait
// (any more), so that the reply is kept for GET /v1/results/{id}.
type Correlator interface {
	Register(ctx context.Context, id, replyTopic, owner string) (*correlator.Waiter, error)
	Detach(ctx context.Context, w *correlator.Waiter, route string) (correlator.Reply, bool, error)
}

// Results reads the results of asynchronous requests, from any instance.
// Errors wrap correlator.ErrUnknownID or correlator.ErrUnavailable.
type Results interface {
	Result(ctx context.Context, id string) (*correlator.Result, error)
	// Await returns once the result has more than seen replies or its
	// final one, or when ctx ends (with the last state read).
	Await(ctx context.Context, id string, seen int) (*correlator.Result, error)
	// MaxWait is the longest Prefer: wait a client may ask for.
	MaxWait() time.Duration
}

// Validator checks a request body against the JSON Schema with the given
// $id. It returns nil, an error wrapping schemas.ErrNotJSON or
// schemas.ErrUnknownSchema, or a *schemas.ValidationError.
type Validator interface {
	Validate(schemaID string, doc []byte) error
}

// MemberValidator is a Validator that can also hand over the raw value of
// one top-level member of the document it validated, read on its way
// through it (nil when it did not meet it, or cannot say): the member a
// route's key template reads ({body./customer_id}), so that the body is
// read once. *schemas.Set implements it.
type MemberValidator interface {
	ValidateMember(schemaID string, doc []byte, name string) ([]byte, error)
}

// Authenticator turns a request's credential into its principal. Errors
// wrap identity.ErrInvalidCredentials. *identity.Authenticator implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, cred identity.Credential) (*identity.Principal, error)
}

// Limiter spends one request of the GCRA budget key under limit rl. Errors
// wrap policy.ErrRedisUnavailable. *policy.RedisLimiter implements it.
type Limiter interface {
	Allow(ctx context.Context, key string, rl topics.RateLimitConfig) (policy.LimitResult, error)
}

// IdempotencyStore keeps the first response to each idempotency key.
// Errors wrap policy.ErrRedisUnavailable. *policy.RedisIdempotency implements it.
type IdempotencyStore interface {
	// Begin claims key for a request, unless the key is held already:
	// then it returns the holder (nil when the claim succeeded).
	Begin(ctx context.Context, key string, claim policy.IdempotencyClaim) (*policy.IdempotencyRecord, error)
	// Complete replaces claim by resp, kept for ttl, if claim still holds key.
	Complete(ctx context.Context, key string, claim policy.IdempotencyClaim, resp policy.StoredResponse, ttl time.Duration) error
	// Release drops claim, if it still holds key, so that a retry runs anew.
	Release(ctx context.Context, key string, claim policy.IdempotencyClaim) error
}

// Check is one dependency reported by /readyz. To report a new dependency
// (reply consumers, a stream hub), append a Check to Deps.Checks in
// cmd/ferry's readyChecks.
type Check struct {
	// Name is the key in the /readyz body, e.g. "kafka".
	Name string
	// Check returns nil when the dependency is usable, else an error whose
	// text /readyz shows (no secrets). Checks run concurrently, and ctx
	// ends after 2s.
	Check func(ctx context.Context) error
	// Advisory checks report a state without gating readiness: their
	// error is shown and the instance stays ready (a webhook whose
	// endpoint is down: this instance can still serve).
	Advisory bool
}

// Streams serves /v1/streams: the configured streams and subscriptions to
// them (consumers.Hub).
type Streams interface {
	// Stream returns the configuration of the named stream.
	Stream(name string) (topics.StreamConfig, bool)
	// Streams returns every configured stream, sorted by name.
	Streams() []topics.StreamConfig
	// Subscribe opens a subscription; the caller must Close it. Errors
	// wrap the consumers sentinels.
	Subscribe(ctx context.Context, stream string, from consumers.Start, f consumers.Filter) (*consumers.Subscription, error)
}

// Replayer reads topic history for /v1/replay and copies it for redrive.
// Errors wrap the consumers and topics sentinels.
type Replayer interface {
	Open(ctx context.Context, req consumers.ReplayRequest) (*consumers.Replay, error)
	Redrive(ctx context.Context, req consumers.RedriveRequest) (consumers.RedriveResult, error)
}

// TopicLister describes the topics replay may read, for /v1/topics.
type TopicLister interface {
	Topics(ctx context.Context) ([]topics.TopicInfo, error)
	Topic(ctx context.Context, name string) (topics.TopicInfo, error)
}
