package ingress

import (
	"context"

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
}
