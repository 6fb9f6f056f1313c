// Package ingress is ferry's HTTP front end: the Fiber app, its middleware
// (request ids, access logs), the handlers of configured routes, the health
// endpoints and the one place where errors become problem+json responses.
//
// It may import topics, schemas, correlator, consumers, Fiber and fasthttp,
// and never franz-go: it hands plain Go values to the packages below it.
package ingress

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/topics"
)

// Server is the HTTP gateway. Build it with New, serve it with Serve, and
// stop it with Shutdown. It is safe for concurrent use.
type Server struct {
	app    *fiber.App
	cfg    Config
	table  *topics.Table
	deps   Deps
	log    *slog.Logger
	access *slog.Logger
	ready  atomic.Bool
	// authn stands in for authentication in tests (export_test.go) until
	// the auth middleware sets the request's principal.
	authn func(c *fiber.Ctx) *Principal
}

// Deps are the components the handlers call. Producer is required; a nil
// Validator accepts any JSON body; a nil Streams serves no streams; Checks
// feed /readyz.
type Deps struct {
	Producer  Producer
	Validator Validator
	Streams   Streams
	Checks    []Check
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger, overriding the default of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New builds the Fiber app serving the routes of table. The server reports
// not ready until SetReady(true).
func New(cfg Config, table *topics.Table, deps Deps, opts ...Option) (*Server, error) {
	if deps.Producer == nil {
		return nil, fmt.Errorf("ingress: a Producer is required")
	}
	s := &Server{cfg: cfg.withDefaults(), table: table, deps: deps, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "ingress")
	s.access = s.log.With("log", "access")
	bodyLimit := topics.DefaultBodyLimit
	for _, r := range table.Routes() {
		bodyLimit = max(bodyLimit, r.BodyLimit)
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "ferry",
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		BodyLimit:             bodyLimit,
		ReadBufferSize:        s.cfg.ReadBufferSize,
		ReadTimeout:           s.cfg.ReadTimeout,
		WriteTimeout:          s.cfg.WriteTimeout,
		IdleTimeout:           s.cfg.IdleTimeout,
		StrictRouting:         false,
		CaseSensitive:         true,
		// Release a connection's read buffer (read_buffer_size) while it
		// waits or streams: an idle SSE subscriber must stay small.
		ReduceMemoryUsage: true,
	})
	s.routes()
	return s, nil
}

// App returns the Fiber app, for tests and benchmarks through app.Test or
// app.Handler.
func (s *Server) App() *fiber.App { return s.app }

// Serve serves HTTP on ln until Shutdown. It returns nil after a Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.app.Listener(ln); err != nil {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// SetReady sets what /readyz reports, before its dependency checks run.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Shutdown turns /readyz to 503 (if not done yet), stops accepting
// connections and waits until every in-flight request has its answer or ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	if err := s.app.ShutdownWithContext(ctx); err != nil {
		return fmt.Errorf("shutdown http: %w", err)
	}
	return nil
}
