package ingress

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/topics"
)

// withPrincipals makes the X-Test-identity.Principal header ("KIND:ID[:SCOPE,...]")
// the request's principal, standing in for authentication.
func withPrincipals() Option {
	return func(s *Server) {
		s.principalOf = func(c *fiber.Ctx) *identity.Principal {
			v := c.Get("X-Test-identity.Principal")
			if v == "" {
				return nil
			}
			parts := strings.SplitN(v, ":", 3)
			p := &identity.Principal{Kind: parts[0], ID: parts[1]}
			if len(parts) == 3 {
				p.Scopes = strings.Split(parts[2], ",")
			}
			return p
		}
	}
}

// fakeProducer records what it produces.
type fakeProducer struct {
	mu   sync.Mutex
	msgs []topics.Message
}

func (p *fakeProducer) Produce(_ context.Context, m *topics.Message) (topics.Position, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, *m)
	return topics.Position{Topic: m.Topic, Offset: int64(len(p.msgs) - 1), Timestamp: m.Time}, nil
}

// fakeCorrelator registers real waiters; Detach fails with detachErr when
// it is set (the result store is down).
type fakeCorrelator struct {
	ws        *correlator.Waiters
	mu        sync.Mutex
	owners    map[string]string // id -> owner given to Register
	detached  []string
	detachErr error
}

func newFakeCorrelator() *fakeCorrelator {
	return &fakeCorrelator{ws: correlator.NewWaiters(0, 0), owners: make(map[string]string)}
}

func (f *fakeCorrelator) Register(ctx context.Context, id, replyTopic, owner string) (*correlator.Waiter, error) {
	f.mu.Lock()
	f.owners[id] = owner
	f.mu.Unlock()
	return f.ws.Register(ctx, id, owner, topics.ReplyTo{Topic: replyTopic, Partition: topics.NoPartition})
}

func (f *fakeCorrelator) Detach(_ context.Context, w *correlator.Waiter, _ string) (correlator.Reply, bool, error) {
	f.mu.Lock()
	f.detached = append(f.detached, w.ID())
	err := f.detachErr
	f.mu.Unlock()
	w.Cancel()
	return correlator.Reply{}, false, err
}

// fakeResults serves results from a map.
type fakeResults struct {
	results map[string]*correlator.Result
}

func (f *fakeResults) Result(_ context.Context, id string) (*correlator.Result, error) {
	if r, ok := f.results[id]; ok {
		return r, nil
	}
	return nil, correlator.ErrUnknownID
}

// Await returns at once when the result holds more than seen replies or
// its final one, as the correlator's does; else when ctx ends.
func (f *fakeResults) Await(ctx context.Context, id string, seen int) (*correlator.Result, error) {
	if r, ok := f.results[id]; ok {
		if _, done := r.Final(); done || len(r.Replies) > seen {
			return r, nil
		}
	}
	<-ctx.Done()
	return f.Result(ctx, id)
}

func (f *fakeResults) MaxWait() time.Duration { return time.Second }
