package ingress

import (
	"context"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics"
)

// Producer publishes one message and returns where it was stored, only
// after the broker acknowledged it. Errors wrap the topics sentinels.
type Producer interface {
	Produce(ctx context.Context, m *topics.Message) (topics.Position, error)
}

// Validator checks a request body against the JSON Schema with the given
// $id. It returns nil, an error wrapping schemas.ErrNotJSON or
// schemas.ErrUnknownSchema, or a *schemas.ValidationError.
type Validator interface {
	Validate(schemaID string, doc []byte) error
}

// Check is one dependency reported by /readyz.
type Check struct {
	// Name is the key in the /readyz body, e.g. "kafka".
	Name string
	// Check returns nil when the dependency is usable.
	Check func(ctx context.Context) error
}

// Replayer reads topic history for /v1/replay and copies it for redrive.
// Errors wrap the consumers and topics sentinels.
type Replayer interface {
	Open(ctx context.Context, req consumers.Request) (*consumers.Replay, error)
	Redrive(ctx context.Context, req consumers.RedriveRequest) (consumers.RedriveResult, error)
}

// TopicLister describes the topics replay may read, for /v1/topics.
type TopicLister interface {
	Topics(ctx context.Context) ([]topics.TopicInfo, error)
	Topic(ctx context.Context, name string) (topics.TopicInfo, error)
}
