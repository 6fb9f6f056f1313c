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
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
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

	// replayHeartbeat is how often an SSE replay sends a comment while it
	// waits, so that a client that left is noticed; default 15s.
	replayHeartbeat time.Duration
	// testAuth is installed after the request context when set. Only
	// tests set it (export_test.go): production has no way to attach a
	// principal other than authentication.
	testAuth fiber.Handler
}

// Deps are the components the handlers call. Producer is required; a nil
// Validator accepts any JSON body; Checks feed /readyz.
type Deps struct {
	Producer  Producer
	Validator Validator
	Checks    []Check
	// Replayer serves /v1/replay; nil leaves the replay API unserved.
	Replayer Replayer
	// Topics serves /v1/topics; nil leaves it unserved.
	Topics TopicLister
	// ReplayScopes are the scopes callers of /v1/replay and /v1/topics
	// must hold, all of them; empty means ["admin"]
	// (consumers.DefaultReplayScope).
	ReplayScopes []string
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
	if len(deps.ReplayScopes) == 0 {
		deps.ReplayScopes = []string{consumers.DefaultReplayScope}
	}
	s := &Server{cfg: cfg.withDefaults(), table: table, deps: deps, log: slog.Default(), replayHeartbeat: replayHeartbeatDefault}
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
