package ingress

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/ingress/apidocs"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/topics"
)

// WithAPIDocs sets what the API descriptions say beyond the routes.
func WithAPIDocs(info apidocs.Info) Option { return func(s *Server) { s.docs.info = info } }

// apiDocs holds the API descriptions. New builds them once (apidocs.Build)
// from the route table, the schemas and which endpoints it serves; the
// handlers serve the cached bytes.
type apiDocs struct {
	info                      apidocs.Info
	openAPI, asyncAPI         []byte
	openAPIETag, asyncAPIETag string
}

// buildAPIDocs builds and caches /openapi.json and /asyncapi.json.
func (s *Server) buildAPIDocs() error {
	streams := streamList(s.deps.Streams)
	d := apidocs.Description{
		Info:   s.docs.info,
		Routes: s.table.Routes(),
		Served: apidocs.Served{
			Metrics:      s.metrics != nil,
			Results:      s.deps.Results != nil,
			Streams:      len(streams) > 0, // a hub without streams until a reload gives it some
			StreamList:   streams,
			Replay:       s.deps.Replayer != nil,
			ReplayScopes: s.deps.ReplayScopes,
			Groups:       s.deps.Groups != nil,
		},
	}
	if b, ok := s.deps.Validator.(apidocs.Bundler); ok {
		d.Schemas = b
	}
	var err error
	if s.docs.openAPI, s.docs.asyncAPI, err = apidocs.Build(d); err != nil {
		return fmt.Errorf("ingress: %w", err)
	}
	s.docs.openAPIETag, s.docs.asyncAPIETag = etag(s.docs.openAPI), etag(s.docs.asyncAPI)
	return nil
}

// openAPI serves GET /openapi.json.
func (s *Server) openAPI(c *fiber.Ctx) error {
	info(c).route = metrics.RouteOpenAPI
	return serveDoc(c, s.docs.openAPI, s.docs.openAPIETag)
}

// asyncAPI serves GET /asyncapi.json.
func (s *Server) asyncAPI(c *fiber.Ctx) error {
	info(c).route = metrics.RouteAsyncAPI
	return serveDoc(c, s.docs.asyncAPI, s.docs.asyncAPIETag)
}

// serveDoc sends a cached document, or 304 when the client has it.
func serveDoc(c *fiber.Ctx, body []byte, tag string) error {
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, tag)
	if c.Fresh() {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(body)
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// streamList returns the configured streams, or none without a hub.
func streamList(st Streams) []topics.StreamConfig {
	if st == nil {
		return nil
	}
	return st.Streams()
}
