package ingress

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

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

// handled is the answer to one in-memory request (handle).
type handled struct {
	status      int
	body        string
	header      *fasthttp.ResponseHeader
	typ, detail string // the problem's, when the body is one
}

// handle runs one request through h in memory: method, path, Content-Type
// and body (each left out when empty), then header name/value pairs.
func handle(h fasthttp.RequestHandler, method, path, contentType, body string, hdr ...string) handled {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	if contentType != "" {
		ctx.Request.Header.SetContentType(contentType)
	}
	if body != "" {
		ctx.Request.SetBodyString(body)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	h(&ctx)
	r := handled{status: ctx.Response.StatusCode(), body: string(ctx.Response.Body()), header: new(fasthttp.ResponseHeader)}
	ctx.Response.Header.CopyTo(r.header)
	var p struct{ Type, Detail string }
	if json.Unmarshal(ctx.Response.Body(), &p) == nil {
		r.typ, r.detail = p.Type, p.Detail
	}
	return r
}

// newTestServer builds a Server for routes with deps (a fakeProducer when
// deps has no Producer) and a silent logger, and returns its handler.
func newTestServer(tb testing.TB, routes []topics.RouteConfig, deps Deps, opts ...Option) (*Server, fasthttp.RequestHandler) {
	tb.Helper()
	table, err := topics.NewTable(routes)
	if err != nil {
		tb.Fatal(err)
	}
	if deps.Producer == nil {
		deps.Producer = &fakeProducer{}
	}
	srv, err := New(Config{}, table, deps, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, srv.App().Handler()
}
