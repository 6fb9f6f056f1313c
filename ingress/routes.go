package ingress

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/ingress/socket"
	"github.com/ferry-gw/ferry/topics"
)

// routes registers every endpoint and the middleware order, in one place.
func (s *Server) routes() {
	s.app.Use(s.requestContext)
	if s.deps.ClientCerts != nil {
		s.app.Use(s.checkClientCertificate)
	}
	if h := s.cfg.CORS.handler(); h != nil {
		s.app.Use(h)
	}

	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/openapi.json", s.openAPI)
	s.app.Get("/asyncapi.json", s.asyncAPI)
	if s.metrics != nil {
		s.app.Get("/metrics", s.serveMetrics)
	}
	if s.deps.Results != nil {
		s.app.Get(resultsPath+":id", s.admitted(resultsAccess()), s.result)
	}
	if s.console != nil { // the web console's files (ingress/console)
		h := adaptor.HTTPHandler(s.console)
		s.app.Use("/console", func(c *fiber.Ctx) error {
			// The console's problems name the request, as ferry's do.
			c.Request().Header.Set(fiber.HeaderXRequestID, info(c).id)
			return h(c)
		})
	}
	s.app.Get("/v1/streams/:name", s.stream)
	s.app.Get(socket.PublishPath, s.wsPublish)

	// Debugging: topic history (replay scopes; deny by default).
	if s.deps.Replayer != nil {
		s.app.Get("/v1/replay/:topic", s.replay)
		s.app.Post("/v1/replay/:topic/redrive", s.redrive)
		s.app.All("/v1/replay/:topic", methodNotAllowed("GET, HEAD"))
		s.app.All("/v1/replay/:topic/redrive", methodNotAllowed("POST"))
	}
	if s.deps.Topics != nil {
		s.app.Get("/v1/topics", s.topicList)
		s.app.Get("/v1/topics/:topic", s.topicDetail)
		s.app.All("/v1/topics", methodNotAllowed("GET, HEAD"))
		s.app.All("/v1/topics/:topic", methodNotAllowed("GET, HEAD"))
	}

	// HTTP consumer groups (groups rules and their scopes; deny by default).
	if s.deps.Groups != nil {
		s.app.Post("/v1/groups/:group/topics/:topic/poll", s.groupPoll)
		s.app.Post("/v1/groups/:group/commit", s.groupCommit)
		s.app.Delete("/v1/groups/:group/topics/:topic/members/:member", s.groupLeave)
		s.app.All("/v1/groups/:group/topics/:topic/poll", methodNotAllowed("POST"))
		s.app.All("/v1/groups/:group/commit", methodNotAllowed("POST"))
		s.app.All("/v1/groups/:group/topics/:topic/members/:member", methodNotAllowed("DELETE"))
	}

	// Configured routes, then a 405 with Allow for the other methods of
	// each of their paths.
	allow := make(map[string][]string)
	var paths []string
	for _, r := range s.table.Routes() {
		fp := fiberPath(r.Path)
		if _, ok := allow[fp]; !ok {
			paths = append(paths, fp)
		}
		allow[fp] = append(allow[fp], r.Method)
		s.app.Add(r.Method, fp, s.chain(r)...)
		if r.Method == fiber.MethodGet {
			// HEAD wherever GET works (RFC 9110): fasthttp sends no body.
			allow[fp] = append(allow[fp], fiber.MethodHead)
			s.app.Add(fiber.MethodHead, fp, s.chain(r)...)
		}
	}
	for _, fp := range paths {
		methods := slices.Clone(allow[fp])
		slices.Sort(methods)
		header := strings.Join(methods, ", ")
		s.app.All(fp, func(c *fiber.Ctx) error {
			pe := problem.New(problem.MethodNotAllowed, c.Method()+" is not allowed here; use "+header)
			pe.Allow = header
			return pe
		})
	}

	// ferry's own GET endpoints: the other methods get 405 with Allow,
	// after the configured routes, which win on a path they share.
	own := []string{"/healthz", "/readyz", "/openapi.json", "/asyncapi.json", "/v1/streams/:name", socket.PublishPath}
	if s.metrics != nil {
		own = append(own, "/metrics")
	}
	if s.deps.Results != nil {
		own = append(own, resultsPath+":id")
	}
	for _, p := range own {
		s.app.All(p, methodNotAllowed("GET, HEAD"))
	}

	s.app.Use(func(c *fiber.Ctx) error {
		return problem.New(problem.NotFound, "no route serves "+c.Method()+" "+c.Path())
	})
}

// methodNotAllowed answers 405 naming the allowed methods.
func methodNotAllowed(allow string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pe := problem.New(problem.MethodNotAllowed, c.Method()+" is not allowed here; use "+allow)
		pe.Allow = allow
		return pe
	}
}

// fiberPath turns /v1/orders/{id} into Fiber's /v1/orders/:id.
func fiberPath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			segs[i] = ":" + seg[1:len(seg)-1]
		}
	}
	return strings.Join(segs, "/")
}

// RouteNames returns "METHOD path -> topic" for each route, for start-up logs.
func RouteNames(t *topics.Table) []string {
	out := make([]string, 0, len(t.Routes()))
	for _, r := range t.Routes() {
		out = append(out, r.Method+" "+r.Path+" -> "+strings.Join(r.Topics(), "|"))
	}
	return out
}
