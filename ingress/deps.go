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

// Streams serves /v1/streams: the configured streams and subscriptions to
// them (consumers.Hub).
type Streams interface {
	// Stream returns the configuration of the named stream.
	Stream(name string) (topics.StreamConfig, bool)
	// Subscribe opens a subscription; the caller must Close it. Errors
	// wrap the consumers sentinels.
	Subscribe(ctx context.Context, stream string, from consumers.Start, f consumers.Filter) (*consumers.Subscription, error)
}
