// Package ingress is ferry's HTTP front end: the Fiber app, the handler
// chain of configured routes (chain.go reads top-down: authenticate,
// authorize, limit, idempotency, validate, publish, wait), the handlers of
// results, streams, replay and topics, the health endpoints, and the one
// place where errors become problem+json responses (problem.go).
//
// Only ingress (and cmd) know *fiber.Ctx. The rooms off it take and
// return plain data: ingress/identity (credentials -> Principal),
// ingress/policy (rate limits, idempotency), ingress/stream (the read
// side's long response bodies), ingress/apidocs (OpenAPI and AsyncAPI),
// ingress/metrics (Prometheus), ingress/console (the web console's files,
// mounted by WithConsole) and ingress/problem (the problem catalog); none
// of them imports ingress.
//
// It may import those, topics, schemas, correlator, consumers, Fiber,
// fasthttp (and fasthttp/websocket), golang-jwt (only for its error values) and the OpenTelemetry
// API (cmd/ferry sets up the SDK), and never franz-go, go-redis or the
// Prometheus client: it hands plain Go values to the packages below it.
package ingress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/clientaddr"
	"github.com/ferry-gw/ferry/ingress/hangup"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/netconn"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// Server is the HTTP gateway. Build it with New, serve it with Serve, and
// stop it with Shutdown. It is safe for concurrent use.
type Server struct {
	// docs are the API descriptions, built once by New (apidocs.go).
	docs apiDocs

	app   *fiber.App
	cfg   Config
	table *topics.Table
	deps  Deps
	// members is deps.Validator when it hands over a member's value
	// (MemberValidator), else nil.
	members MemberValidator
	log     *slog.Logger
	access  *slog.Logger
	// accessOut, when set, takes the access lines directly (WithAccessLines).
	accessOut io.Writer
	ready     atomic.Bool

	accessLevel slog.Level
	metrics     *metrics.Recorder // nil: off
	tracing     tracing
	// auth holds the auth section's middleware settings (WithAuth).
	auth AuthConfig
	// proxies decides client addresses (server.trusted_proxies).
	proxies clientaddr.Trust
	// limiterWarned and idempotencyWarned are the unix nanos of the last
	// fail-open warning of each kind.
	limiterWarned     atomic.Int64
	idempotencyWarned atomic.Int64
	// breakers stand in front of Kafka and each sync route's responders.
	breakers breakers
	// replyCaches are the reply.cache of each sync route that has one.
	replyCaches map[string]*policy.ReplyCache
	// streams is the lifetime of long-lived responses (result streams and
	// long polls); Shutdown ends it first, so that they do not hold the
	// server open for the whole grace period.
	streams     context.Context
	stopStreams context.CancelFunc
	// hangups notices clients that leave while their request waits; it
	// lives as long as streams.
	hangups *hangup.Watcher
	// settler tells the idempotency store, once Redis answers, what it
	// could not be told in time (policy.Settler).
	settler *policy.Settler
	// upgrader makes WebSocket handshakes; sockets counts the sockets
	// open, which Shutdown waits for; handler is the app's request
	// handler, through which each frame of a publish socket goes.
	upgrader *websocket.FastHTTPUpgrader
	sockets  *sync.WaitGroup
	handler  fasthttp.RequestHandler
	// closing makes every answer close its connection (CloseConnections).
	closing atomic.Bool
	// ln is the listener Serve serves (StopAccepting closes it), and shut
	// is set by Shutdown; both under lnMu, so that a Shutdown that comes
	// before Serve has started (a signal at start-up) still stops it.
	lnMu sync.Mutex
	ln   *stopListener
	shut bool
	// active is the Server that answers the requests of the listening one
	// (Serve): itself, or the one a reload swapped in (reload.go).
	active atomic.Pointer[Server]
	// config is what /readyz says of the config this Server was built
	// from (WithConfigInfo).
	config *ConfigInfo

	// principalOf, when set, gives a request its principal instead of its
	// credentials. Only tests set it (withPrincipals, in a _test file).
	principalOf func(c *fiber.Ctx) *identity.Principal
	// replayHeartbeat is how often an SSE replay sends a comment while it
	// waits, so that a client that left is noticed; default 15s.
	replayHeartbeat time.Duration
	// console serves /console and below (WithConsole); nil: not served.
	console http.Handler
}

// Deps are the components the handlers call. Producer is required; a nil
// Validator accepts any JSON body; Checks feed /readyz. Correlator and
// Results are required when a route has a reply section; with Results nil
// GET /v1/results is not served; a nil Streams serves no streams.
type Deps struct {
	Producer  Producer
	Validator Validator
	Streams   Streams
	Checks    []Check

	// Authenticator verifies credentials; nil denies every endpoint that
	// requires auth (401).
	Authenticator Authenticator
	// ClientCerts verifies client certificates that the TLS handshake
	// requested without verifying them (tls.client_auth:
	// verify_if_given): a request whose connection presented one that
	// does not verify is answered 401. Nil takes the handshake's own
	// verification (none, or require).
	ClientCerts ClientCertVerifier
	// Limiter enforces route rate limits; required when a route has one.
	Limiter Limiter
	// Idempotency stores first responses; nil ignores Idempotency-Key.
	Idempotency IdempotencyStore
	// Correlator waits for replies on request/response routes.
	Correlator Correlator
	// Results serves GET /v1/results/{id}.
	Results Results
	// Replayer serves /v1/replay; nil leaves the replay API unserved.
	Replayer Replayer
	// Topics serves /v1/topics; nil leaves it unserved.
	Topics TopicLister
	// Views serves the GET routes; nil answers them 503 view-unavailable.
	Views Views
	// Atomic writes the records of an atomic batch (batch.atomic) in one
	// transaction; required when a route has one.
	Atomic Transactor
	// Groups serves the HTTP consumer groups (/v1/groups) and adds each
	// group's lag to GET /v1/topics/{topic}; nil leaves them unserved.
	Groups Groups
	// ReplayScopes are the scopes callers of /v1/replay and /v1/topics
	// must hold, all of them; empty means ["admin"]
	// (consumers.DefaultReplayScope).
	ReplayScopes []string
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger, overriding the default of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithAccessLines writes the access lines to w, the writer of the
// logger's slog.JSONHandler (with no attributes added by With), in the
// handler's layout but without slog's per-attribute work
// (ingress/accesslog); the logger still decides whether they are enabled.
// Without it they go through the logger.
func WithAccessLines(w io.Writer) Option { return func(s *Server) { s.accessOut = w } }

// WithAuth sets what the auth middleware takes from the `auth` section
// (the API key header, which challenges to send, the rate-limit and
// idempotency failure modes and TTLs), overriding the defaults of an empty
// AuthConfig. The credentials themselves are checked by Deps.Authenticator.
func WithAuth(cfg AuthConfig) Option { return func(s *Server) { s.auth = cfg } }

// WithConsole serves h (console.Handler) at /console and every path below
// it, for every method; by default nothing is served there (404).
func WithConsole(h http.Handler) Option { return func(s *Server) { s.console = h } }

// New builds the Fiber app serving the routes of table. The server reports
// not ready until SetReady(true).
func New(cfg Config, table *topics.Table, deps Deps, opts ...Option) (*Server, error) {
	if deps.Producer == nil {
		return nil, fmt.Errorf("ingress: a Producer is required")
	}
	for _, r := range table.Routes() {
		if r.Batch != nil && r.Batch.Atomic && deps.Atomic == nil {
			return nil, fmt.Errorf("ingress: route %s has an atomic batch but no Atomic is given", r.Name)
		}
		if r.Reply != nil && (deps.Correlator == nil || deps.Results == nil) {
			return nil, fmt.Errorf("ingress: route %s has a reply section but no Correlator and Results are given", r.Name)
		}
	}
	if len(deps.ReplayScopes) == 0 {
		deps.ReplayScopes = []string{consumers.DefaultReplayScope}
	}
	s := &Server{cfg: cfg.withDefaults(), table: table, deps: deps, log: slog.Default(), replayHeartbeat: replayHeartbeatDefault}
	s.members, _ = deps.Validator.(MemberValidator)
	s.streams, s.stopStreams = context.WithCancel(context.Background())
	s.sockets = new(sync.WaitGroup)
	for _, o := range opts {
		o(s)
	}
	s.auth = s.auth.WithDefaults()
	// fasthttp cancels nothing when a client goes: a request that waits
	// is watched, so that its waiter, subscription or slot is freed.
	s.hangups = hangup.New(s.streams, 0, hangup.Hooks{Watching: s.metrics.WaitingClients, Gone: s.metrics.ClientHangup})
	if deps.Idempotency != nil {
		s.settler = policy.NewSettler(s.streams, deps.Idempotency, s.log)
	}
	var proxyErrs []error
	if s.proxies, proxyErrs = clientaddr.NewTrust(s.cfg.TrustedProxies, s.cfg.ProxyHeader); len(proxyErrs) > 0 {
		return nil, fmt.Errorf("ingress: server.%w", proxyErrs[0])
	}
	if deps.Limiter == nil {
		for _, r := range table.Routes() {
			if r.RateLimit != nil {
				return nil, fmt.Errorf("ingress: route %s has a rate limit but no Limiter is given", r.Name)
			}
		}
	}
	s.log = s.log.With("component", "ingress")
	s.access = s.log.With("log", "access")
	s.buildBreakers()
	s.buildReplyCaches()
	_ = s.accessLevel.UnmarshalText([]byte(s.cfg.AccessLogLevel)) // checked by Validate
	if s.tracing.tracer != nil {
		s.tracing.paths = tracePaths(table)
	}
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
		// Routes take JSON: a multipart body is never parsed, so that a
		// malformed one reaches its route (415, naming the path) instead
		// of failing in fasthttp before routing.
		DisablePreParseMultipartForm: true,
		// Fiber believes X-Forwarded-Proto and X-Forwarded-Host (c.Protocol,
		// c.Hostname) only from trusted proxies; deny by default. ProxyHeader
		// stays empty, so c.IP() is the peer: client addresses come from
		// s.clientAddr, as Fiber's would take the spoofable leftmost entry.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          s.proxies.FiberProxies(),
	})
	if err := s.buildAPIDocs(); err != nil {
		return nil, err
	}
	s.upgrader = s.newUpgrader()
	s.routes()
	s.handler = s.knownMethods(s.app.Handler())
	return s, nil
}

// knownMethods answers a request whose method Fiber does not know, which
// Fiber would answer with a bare text/plain 400, with 501
// not-implemented as a problem with a request id, as RFC 9110 asks of a
// method the server does not recognise.
func (s *Server) knownMethods(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Method()) { // no allocation: a conversion in a switch
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodDelete,
			fiber.MethodConnect, fiber.MethodOptions, fiber.MethodTrace, fiber.MethodPatch:
			next(ctx)
			return
		}
		id := newRequestID()
		pe := problem.New(problem.NotImplemented, "ferry does not implement this method; its endpoints take GET, HEAD, POST, PUT, PATCH and DELETE")
		body, _ := pe.Body(string(ctx.Path()), id) // a problem of fixed fields always marshals
		ctx.Response.Header.Set(fiber.HeaderXRequestID, id)
		ctx.SetContentType("application/problem+json")
		ctx.SetStatusCode(pe.Type.Status)
		ctx.SetBody(body)
		s.metrics.RequestRejected(string(ctx.Method()), pe.Type.Status)
	}
}

// App returns the Fiber app, for tests and benchmarks through app.Test or
// app.Handler.
func (s *Server) App() *fiber.App { return s.app }

// Serve serves HTTP on ln until Shutdown. It returns nil after a Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	// Every request goes to the active generation (Swap): s itself until
	// a reload, then the Server built from the new config.
	s.active.CompareAndSwap(nil, s)
	s.app.Server().Handler = func(ctx *fasthttp.RequestCtx) {
		// Before the handler, not after: nothing of s is then kept in
		// this frame while a request waits, and the frame stays as small
		// as a plain forward. A pending sync request sits right at an
		// 8 KiB stack; a few bytes more here doubled the stacks of some
		// (TestPendingRequestMemory).
		if s.closing.Load() {
			ctx.SetConnectionClose()
		}
		s.active.Load().handler(ctx)
	}
	// A response finished while Shutdown runs says Connection: close, as
	// fasthttp then closes its connection: without it the client's next
	// request on the connection would fail.
	s.app.Server().CloseOnShutdown = true
	s.lnMu.Lock()
	if s.shut {
		s.lnMu.Unlock()
		return nil
	}
	sl := &stopListener{Listener: netconn.Listener{Listener: ln}}
	s.ln = sl
	s.lnMu.Unlock()
	// A Shutdown from here on closes sl: fasthttp's Serve, even one that
	// registers sl after fasthttp's Shutdown ran, returns at its next
	// Accept.
	if err := s.app.Listener(sl); err != nil {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// SetReady sets what /readyz reports, before its dependency checks run,
// for s and the generation it serves.
func (s *Server) SetReady(ready bool) {
	s.ready.Store(ready)
	if a := s.active.Load(); a != nil {
		a.ready.Store(ready)
	}
}

// StopAccepting closes the listener: new connections are refused (their
// clients know nothing was sent), while the open ones are still served
// until Shutdown. It does nothing before Serve.
func (s *Server) StopAccepting() {
	s.lnMu.Lock()
	ln := s.ln
	s.lnMu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

// stopListener is a listener that may be closed twice: by StopAccepting,
// then by fasthttp's Shutdown, which would return at once on the second
// Close's error instead of waiting for the open connections.
type stopListener struct {
	net.Listener
	once sync.Once
}

// Close closes the listener the first time.
func (l *stopListener) Close() error {
	var err error
	l.once.Do(func() { err = l.Listener.Close() })
	return err
}

// CloseConnections makes every answer from now on close its connection
// (Connection: close), so that keep-alive clients reconnect, to another
// instance, before Shutdown closes the listener, instead of having their
// idle connection closed under the next request they send (a POST whose
// fate they cannot know). serve calls it on SIGTERM, with SetReady(false),
// some time before Shutdown.
func (s *Server) CloseConnections() { s.closing.Store(true) }

// Shutdown turns /readyz to 503 (if not done yet), ends result streams and
// long polls, stops accepting connections and waits until every in-flight
// request has its answer or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.SetReady(false)
	s.stopStreams() // shared by every generation (Swap)
	s.lnMu.Lock()
	s.shut = true
	s.lnMu.Unlock()
	s.StopAccepting()
	if err := s.app.ShutdownWithContext(ctx); err != nil {
		return fmt.Errorf("shutdown http: %w", err)
	}
	// WebSockets are hijacked connections, which fasthttp does not wait
	// for: their frames in flight are answered before Shutdown returns.
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.sockets.Wait()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("shutdown websockets: %w", ctx.Err())
	}
	// No request can claim an Idempotency-Key any more: what Redis could
	// not be told yet is told now, within the grace period, rather than
	// left locked until its lock_ttl for the clients retrying elsewhere.
	if s.settler != nil {
		s.settler.Drain(ctx)
	}
	return nil
}
