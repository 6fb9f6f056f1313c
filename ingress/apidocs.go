package ingress

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// APIDocs is what ferry's API descriptions say beyond the route table:
// GET /openapi.json (OpenAPI 3.1, the HTTP side) and GET /asyncapi.json
// (AsyncAPI 3.0, the Kafka side). The zero value is valid.
type APIDocs struct {
	// Title of both documents; default "ferry".
	Title string
	// Version is info.version of both documents; default "dev".
	Version string
	// Description of both documents (CommonMark); default none.
	Description string
	// Auth is the auth section: a jwt section declares the bearerAuth
	// security scheme, api_keys the apiKey scheme (header X-API-Key).
	Auth AuthConfig
	// Brokers are the Kafka bootstrap servers, listed as the servers of
	// /asyncapi.json; default none.
	Brokers []string
}

// WithAPIDocs sets what the API descriptions say beyond the routes.
func WithAPIDocs(d APIDocs) Option { return func(s *Server) { s.docs.cfg = d } }

// apiDocs holds the API descriptions. New builds them once from the route
// table, the schemas and APIDocs; the handlers serve the cached bytes.
type apiDocs struct {
	cfg                       APIDocs
	openAPI, asyncAPI         []byte
	openAPIETag, asyncAPIETag string
}

// schemaBundler is what the API descriptions need from a Validator to embed
// the route schemas; *schemas.Set implements it. Without it, a schema is
// described by its $id only.
type schemaBundler interface {
	Has(id string) bool
	Bundle(ids []string, base string) (*schemas.Bundle, error)
}

// Names and locations both documents share.
const (
	componentSchemas = "#/components/schemas/"
	// jsonSchemaDialect is the dialect of every schema in both documents.
	jsonSchemaDialect = "https://json-schema.org/draft/2020-12/schema"
	// apiKeyHeader is the header API keys travel in.
	apiKeyHeader = "X-API-Key"
	// Security scheme names.
	schemeBearer = "bearerAuth"
	schemeAPIKey = "apiKey"
)

// buildAPIDocs builds and caches /openapi.json and /asyncapi.json.
func (s *Server) buildAPIDocs() error {
	d := &s.docs
	if d.cfg.Title == "" {
		d.cfg.Title = "ferry"
	}
	if d.cfg.Version == "" {
		d.cfg.Version = "dev"
	}
	var bundle *schemas.Bundle
	comps := make(map[string]any)
	if sb, ok := s.deps.Validator.(schemaBundler); ok {
		// An unknown $id (which ferry check refuses) is described by
		// name only; it fails requests, not the documents.
		var ids []string
		for _, r := range s.table.Routes() {
			if r.Schema != "" && sb.Has(r.Schema) {
				ids = append(ids, r.Schema)
			}
			if r.Reply != nil && r.Reply.Schema != "" && sb.Has(r.Reply.Schema) {
				ids = append(ids, r.Reply.Schema)
			}
		}
		var err error
		if bundle, err = sb.Bundle(ids, componentSchemas); err != nil {
			return fmt.Errorf("ingress: api docs: %w", err)
		}
		for _, n := range bundle.Names() {
			comps[n] = bundle.Schema(n)
		}
	}
	for n, sch := range ferrySchemas() {
		if _, clash := comps[n]; clash {
			return fmt.Errorf("ingress: api docs: a schema file is named like ferry's own component %s; rename it", n)
		}
		comps[n] = sch
	}
	var err error
	if d.openAPI, err = marshalDoc(s.openAPIDoc(bundle, comps)); err != nil {
		return fmt.Errorf("ingress: openapi: %w", err)
	}
	if d.asyncAPI, err = marshalDoc(s.asyncAPIDoc(bundle, comps)); err != nil {
		return fmt.Errorf("ingress: asyncapi: %w", err)
	}
	d.openAPIETag, d.asyncAPIETag = etag(d.openAPI), etag(d.asyncAPI)
	return nil
}

// openAPI serves GET /openapi.json.
func (s *Server) openAPI(c *fiber.Ctx) error {
	return serveDoc(c, s.docs.openAPI, s.docs.openAPIETag)
}

// asyncAPI serves GET /asyncapi.json.
func (s *Server) asyncAPI(c *fiber.Ctx) error {
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

// marshalDoc encodes a document as indented JSON, keeping <, > and &
// readable in patterns and descriptions.
func marshalDoc(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// obj is a JSON object under construction; encoding/json sorts its keys,
// so documents come out the same every time.
type obj = map[string]any

// ref is a Reference Object.
func ref(to string) obj { return obj{"$ref": to} }

// schemaFor returns the schema of the body a route validates against id: a
// $ref into the bundled components, any JSON without a schema, and only the
// $id's name where the Validator cannot bundle.
func schemaFor(b *schemas.Bundle, id string) obj {
	if id == "" {
		return obj{"description": "Any JSON value."}
	}
	if b != nil {
		if r := b.Ref(id); r != "" {
			return ref(r)
		}
	}
	return obj{"description": "A JSON value valid against the JSON Schema " + id + "."}
}

// ferrySchemas are the components of ferry's own bodies. Their names start
// with "ferry." so that they cannot be mistaken for a route's schema.
func ferrySchemas() map[string]obj {
	str := func(desc string) obj { return obj{"type": "string", "description": desc} }
	return map[string]obj{
		"ferry.Accepted": {
			"type":        "object",
			"description": "Where the request's event was stored. Sent only after the broker acknowledged the record.",
			"required":    []string{"id", "topic", "partition", "offset", "timestamp"},
			"properties": obj{
				"id":        obj{"type": "string", "format": "uuid", "description": "The event id (ce_id): a UUIDv7, unique and time-sortable."},
				"topic":     str("The Kafka topic."),
				"partition": obj{"type": "integer", "minimum": 0, "description": "The partition of the record."},
				"offset":    obj{"type": "integer", "minimum": 0, "description": "The offset of the record in its partition."},
				"timestamp": obj{"type": "string", "format": "date-time", "description": "The record's timestamp."},
			},
		},
		"ferry.Problem": {
			"type":        "object",
			"description": "An RFC 9457 problem details body. Clients may branch on type, which is stable.",
			"required":    []string{"type", "title", "status"},
			"properties": obj{
				"type":       str("The problem type, a URN such as urn:ferry:problem:validation-failed."),
				"title":      str("A short summary of the problem type."),
				"status":     obj{"type": "integer", "description": "The HTTP status code."},
				"detail":     str("What went wrong with this request."),
				"instance":   str("The request path."),
				"request_id": str("The request id, as in the X-Request-ID response header."),
				"errors": obj{
					"type":        "array",
					"description": "Every schema violation of the body (validation-failed only), in a stable order.",
					"items":       ref(componentSchemas + "ferry.Violation"),
				},
			},
		},
		"ferry.Violation": {
			"type":        "object",
			"description": "One way in which a body violates its schema.",
			"required":    []string{"instance_path", "schema_path", "keyword", "message"},
			"properties": obj{
				"instance_path": str("JSON Pointer to the offending value in the body; empty for the body itself."),
				"schema_path":   str("JSON Pointer, through the schema and any $ref it followed, to the keyword that failed."),
				"keyword":       str("The JSON Schema keyword that failed, such as required or minimum."),
				"message":       str("What is wrong, in English."),
			},
		},
	}
}

// routeProblems lists the problem types a configured route can answer
// with, in table order.
func routeProblems(r topics.Route) []problem.Type {
	var out []problem.Type
	for _, pt := range problem.Types {
		if problemApplies(pt, r) {
			out = append(out, pt)
		}
	}
	return out
}

// problemApplies reports whether route r can answer with problem type pt.
// A type not named here applies to every route: when adding a problem type
// that only some routes can raise, add its condition.
func problemApplies(pt problem.Type, r topics.Route) bool {
	switch pt {
	case problem.NotFound, problem.MethodNotAllowed:
		return false // answers for other paths and methods
	case problem.KeyUnresolved:
		return r.Key != nil || len(r.Headers) > 0
	case problem.Validation:
		return r.Schema != ""
	case problem.Unauthenticated:
		return r.Auth == topics.AuthRequired
	case problem.BadReply:
		return r.Reply != nil && r.Reply.Schema != ""
	case problem.Forbidden:
		return r.Auth == topics.AuthRequired && len(r.Scopes) > 0
	case problem.RateLimited:
		return r.RateLimit != nil
	}
	return true
}

// securitySchemes returns the configured schemes by name, and their names
// sorted.
func (d *APIDocs) securitySchemes() (map[string]obj, []string) {
	m := make(map[string]obj)
	if j := d.Auth.JWT; j != nil {
		desc := "A JWT in Authorization: Bearer."
		if j.Issuer != "" {
			desc += " Issuer: " + j.Issuer + "."
		}
		if j.Audience != "" {
			desc += " Audience: " + j.Audience + "."
		}
		desc += " A route's scopes must all be in the token's scope claim."
		m[schemeBearer] = obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": desc}
	}
	if len(d.Auth.APIKeys) > 0 {
		header := d.Auth.APIKeyHeader
		if header == "" {
			header = apiKeyHeader
		}
		m[schemeAPIKey] = obj{"type": "apiKey", "in": "header", "name": header,
			"description": "An API key. A route's scopes must all be granted to the key."}
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return m, names
}
