package ingress

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/ingress/metrics"
)

// healthz answers 200 while the process is alive.
func (s *Server) healthz(c *fiber.Ctx) error {
	info(c).route = metrics.RouteHealthz
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// readiness is the /readyz body.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	Config *ConfigInfo       `json:"config,omitempty"`
}

// readyz answers 200 when the server accepts traffic and every dependency
// check passes, else 503 with the reason of each failing check.
func (s *Server) readyz(c *fiber.Ctx) error {
	info(c).route = metrics.RouteReadyz
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	rd := readiness{Status: "ready", Checks: make(map[string]string, len(s.deps.Checks)), Config: s.config}
	if !s.ready.Load() {
		rd.Status = "not_ready"
		rd.Checks["server"] = "starting or shutting down"
	}
	// The checks run at once, so /readyz takes as long as the slowest one
	// (at most 2s), however many dependencies there are.
	errs := make([]error, len(s.deps.Checks))
	var wg sync.WaitGroup
	for i, ch := range s.deps.Checks {
		wg.Go(func() { errs[i] = ch.Check(ctx) })
	}
	wg.Wait()
	for i, ch := range s.deps.Checks {
		if errs[i] != nil {
			if !ch.Advisory {
				rd.Status = "not_ready"
			}
			rd.Checks[ch.Name] = errs[i].Error()
		} else {
			rd.Checks[ch.Name] = "ok"
		}
	}
	s.breakerChecks(rd.Checks)
	body, err := json.Marshal(rd)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if rd.Status != "ready" {
		c.Status(fiber.StatusServiceUnavailable)
	}
	return c.Send(body)
}

// WithMetrics records HTTP metrics in m and serves m's registry at
// /metrics. The default is no metrics and no /metrics.
func WithMetrics(m *metrics.Recorder) Option { return func(s *Server) { s.metrics = m } }

// serveMetrics answers /metrics with every metric of the registry, in the
// format the scraper asks for.
func (s *Server) serveMetrics(c *fiber.Ctx) error {
	info(c).route = metrics.RouteMetrics
	ct, err := s.metrics.Write(c.UserContext(), c.Response().BodyWriter(), c.Get(fiber.HeaderAccept), s.log)
	if ct != "" {
		c.Set(fiber.HeaderContentType, ct)
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return err
}
