package ingress_test

import (
	"context"
	"sync"

	"github.com/ferry-gw/ferry/topics"
)

// Fakes for the external test package (ingress_test); fakes_test.go holds
// those of package ingress.

// fakeProducer is an ingress.Producer whose behaviour is a function field
// (wtf's mock style). A nil ProduceFunc acknowledges at once, at the next
// offset of partition 0. It records every message it was given.
type fakeProducer struct {
	ProduceFunc func(ctx context.Context, m *topics.Message) (topics.Position, error)

	mu       sync.Mutex
	messages []*topics.Message
}

func (p *fakeProducer) Produce(ctx context.Context, m *topics.Message) (topics.Position, error) {
	p.mu.Lock()
	p.messages = append(p.messages, m)
	n := len(p.messages)
	p.mu.Unlock()
	if p.ProduceFunc != nil {
		return p.ProduceFunc(ctx, m)
	}
	return topics.Position{Topic: m.Topic, Offset: int64(n - 1), Timestamp: m.Time}, nil
}

// Messages returns the messages produced so far.
func (p *fakeProducer) Messages() []*topics.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*topics.Message(nil), p.messages...)
}

// Reset forgets the messages produced so far.
func (p *fakeProducer) Reset() {
	p.mu.Lock()
	p.messages = nil
	p.mu.Unlock()
}

// fakeValidator is an ingress.Validator whose behaviour is a function
// field. It is not a schema bundler, so API descriptions name its schemas
// by $id only.
type fakeValidator struct {
	ValidateFunc func(schemaID string, doc []byte) error
}

func (v fakeValidator) Validate(schemaID string, doc []byte) error {
	if v.ValidateFunc == nil {
		return nil
	}
	return v.ValidateFunc(schemaID, doc)
}
