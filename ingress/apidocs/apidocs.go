// Package apidocs writes ferry's API descriptions: an OpenAPI 3.1 document
// of the HTTP side (every configured route with its parameters, body
// schema, responses and security, and ferry's own endpoints) and an
// AsyncAPI 3.0 document of the Kafka side (a channel per topic, a message
// per route and reply, request/reply operations). Build takes a plain
// Description of the routes and endpoints, not the server, and returns
// the bytes that ingress serves.
//
// It may import ingress/problem (the catalog each route's responses list),
// ingress/identity (the auth section's security schemes and principal
// kinds), topics and schemas, and never Fiber, fasthttp or ingress itself.
package apidocs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// Info is what ferry's API descriptions say beyond the route table:
// GET /openapi.json (OpenAPI 3.1, the HTTP side) and GET /asyncapi.json
// (AsyncAPI 3.0, the Kafka side). The zero value is valid.
type Info struct {
	// Title of both documents; default "ferry".
	Title string
	// Version is info.version of both documents; default "dev".
	Version string
	// Description of both documents (CommonMark); default none.
	Description string
	// Auth is the auth section: a jwt section declares the bearerAuth
	// security scheme, api_keys the apiKey scheme (header X-API-Key).
	Auth identity.Config
	// Brokers are the Kafka bootstrap servers, listed as the servers of
	// /asyncapi.json; default none.
	Brokers []string
}

// Description is everything both documents describe, as plain data: the
// Info, the configured routes, their schemas, and which of ferry's own
// endpoints are served.
type Description struct {
	Info
	// Routes are the configured routes, in the table's order.
	Routes []topics.Route
	// Schemas, when not nil, embeds the route schemas in the documents;
	// without it a schema is described by its $id only.
	Schemas Bundler
	// Served says which of ferry's optional endpoints are served.
	Served Served
}

// Served lists ferry's optional endpoints that a server serves. /healthz,
// /readyz, /openapi.json and /asyncapi.json are always served.
type Served struct {
	// Metrics is GET /metrics.
	Metrics bool
	// Results is GET /v1/results/{id}.
	Results bool
	// Streams is GET /v1/streams/{name}.
	Streams bool
	// StreamList are the configured streams, which the document
	// enumerates, when Streams.
	StreamList []topics.StreamConfig
	// Replay is GET /v1/replay/{topic}, POST /v1/replay/{topic}/redrive and
	// GET /v1/topics[/{topic}], for callers holding every ReplayScopes.
	Replay       bool
	ReplayScopes []string
	// Groups is POST /v1/groups/{group}/topics/{topic}/poll,
	// POST /v1/groups/{group}/commit and DELETE
	// /v1/groups/{group}/topics/{topic}/members/{member}, for callers
	// holding the scopes of the groups rule covering the group and topic.
	Groups bool
}

// Bundler is what the documents need from a schema set to embed the route
// schemas; *schemas.Set implements it.
type Bundler interface {
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

// Build returns the OpenAPI and the AsyncAPI document of d, as indented
// JSON. The same Description gives the same bytes every time.
func Build(d Description) (openAPI, asyncAPI []byte, err error) {
	if d.Title == "" {
		d.Title = "ferry"
	}
	if d.Version == "" {
		d.Version = "dev"
	}
	var bundle *schemas.Bundle
	comps := make(map[string]any)
	if sb := d.Schemas; sb != nil {
		// An unknown $id (which ferry check refuses) is described by
		// name only; it fails requests, not the documents.
		var ids []string
		for _, r := range d.Routes {
			if r.Schema != "" && sb.Has(r.Schema) {
				ids = append(ids, r.Schema)
			}
			if r.Reply != nil && r.Reply.Schema != "" && sb.Has(r.Reply.Schema) {
				ids = append(ids, r.Reply.Schema)
			}
		}
		if bundle, err = sb.Bundle(ids, componentSchemas); err != nil {
			return nil, nil, fmt.Errorf("api docs: %w", err)
		}
		for _, n := range bundle.Names() {
			comps[n] = bundle.Schema(n)
		}
	}
	for n, sch := range ferrySchemas() {
		if _, clash := comps[n]; clash {
			return nil, nil, fmt.Errorf("api docs: a schema file is named like ferry's own component %s; rename it", n)
		}
		comps[n] = sch
	}
	if openAPI, err = marshalDoc(d.openAPIDoc(bundle, comps)); err != nil {
		return nil, nil, fmt.Errorf("openapi: %w", err)
	}
	if asyncAPI, err = marshalDoc(d.asyncAPIDoc(bundle, comps)); err != nil {
		return nil, nil, fmt.Errorf("asyncapi: %w", err)
	}
	return openAPI, asyncAPI, nil
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
// with, in table order. introspection says whether auth.introspection is
// configured: only then can an authenticated route answer auth-unavailable.
func routeProblems(r topics.Route, introspection bool) []problem.Type {
	var out []problem.Type
	for _, pt := range problem.Types {
		if pt == problem.AuthUnavailable && !introspection {
			continue
		}
		if r.IsView() && !viewProblems[pt] {
			continue
		}
		if when, ok := routeProblem[pt]; ok && when(r) {
			out = append(out, pt)
		}
	}
	return out
}

// always is the condition of a problem every route can answer with.
func always(topics.Route) bool { return true }

// readsBody is the condition of the body's problems: a tombstone route
// reads none.
func readsBody(r topics.Route) bool { return !r.Tombstone }

// routeProblem says when a configured route can answer with a problem
// type. A type missing here is answered only by ferry's own endpoints
// (endpointProblems). Every type in problem.Types is in exactly one of
// the two (TestProblemsClassified), so a new type must choose.
var routeProblem = map[problem.Type]func(topics.Route) bool{
	problem.UnsupportedMedia: readsBody,
	problem.MalformedJSON:    readsBody,
	problem.BodyTooLarge:     readsBody,
	problem.KafkaUnavailable: always,
	problem.KafkaTimeout:     always,
	problem.KafkaRejected:    always,
	problem.TopicMissing:     always,
	problem.BadRequest:       always,
	problem.HeaderTooLarge:   always,
	problem.RequestTimeout:   always,
	problem.Internal:         always,
	problem.ShuttingDown:     always,
	// Idempotency-Key is optional on every route; Redis answers it.
	problem.IdempotencyConflict:   always,
	problem.IdempotencyMismatch:   always,
	problem.InvalidIdempotencyKey: always,
	problem.RedisUnavailable:      always,

	problem.KeyUnresolved:        func(r topics.Route) bool { return r.Key != nil || r.KeyPrefix != nil || len(r.Headers) > 0 },
	problem.Validation:           func(r topics.Route) bool { return r.Schema != "" },
	problem.BodyEditFailed:       func(r topics.Route) bool { return r.BodyEdit != nil },
	problem.RecordInvalid:        func(r topics.Route) bool { return r.BodyEdit != nil && r.BodyEdit.RecordSchema != "" },
	problem.Unauthenticated:      func(r topics.Route) bool { return r.Auth == topics.AuthRequired },
	problem.AuthUnavailable:      func(r topics.Route) bool { return r.Auth == topics.AuthRequired }, // with introspection
	problem.AmbiguousCredentials: func(r topics.Route) bool { return r.Auth == topics.AuthRequired },
	problem.Forbidden:            func(r topics.Route) bool { return r.Auth == topics.AuthRequired && len(r.Scopes) > 0 },
	problem.RateLimited:          func(r topics.Route) bool { return r.RateLimit != nil },

	problem.ReplyTimeout: func(r topics.Route) bool {
		return r.Reply != nil && (r.Reply.OnTimeout == "fail" || r.Reply.Gather != nil)
	},
	problem.TooManyPending:     func(r topics.Route) bool { return r.Reply != nil },
	problem.ResultsUnavailable: func(r topics.Route) bool { return r.Reply != nil },
	problem.ResponderFailed:    func(r topics.Route) bool { return r.Reply != nil },
	problem.ResponderUnavailable: func(r topics.Route) bool {
		return r.Reply != nil && r.Reply.OnTimeout == "fail" && !r.Reply.CircuitBreaker.Disabled
	},
	problem.BadReply: func(r topics.Route) bool { return r.Reply != nil && r.Reply.Schema != "" },

	problem.ViewUnavailable: func(r topics.Route) bool { return r.IsView() },
	problem.KeyNotFound:     func(r topics.Route) bool { return r.IsView() && r.Key != nil },
}

// viewProblems are the only problems a GET route (which reads a view and
// produces nothing) can answer with, when routeProblem's condition holds.
var viewProblems = map[problem.Type]bool{
	problem.BadRequest: true, problem.HeaderTooLarge: true, problem.RequestTimeout: true, problem.Internal: true,
	problem.ShuttingDown: true, problem.KeyUnresolved: true, problem.Unauthenticated: true, problem.AuthUnavailable: true,
	problem.AmbiguousCredentials: true, problem.Forbidden: true, problem.RateLimited: true,
	problem.ViewUnavailable: true, problem.KeyNotFound: true,
}

// endpointProblems are the problem types only ferry's own endpoints (or
// no endpoint: a path or method nothing serves) answer with.
var endpointProblems = []problem.Type{
	problem.NotFound, problem.MethodNotAllowed, problem.NotImplemented, problem.UpgradeRequired,
	problem.ResultNotFound, problem.ForbiddenResult,
	problem.StreamNotFound, problem.NotAcceptable, problem.BadPosition, problem.InvalidRange, problem.BadFilter, problem.StreamUnavailable,
	problem.TopicNotAllowed, problem.TopicNotFound, problem.TooManyReplays, problem.LimitTooLarge,
	problem.GroupNotAllowed, problem.PartitionNotHeld, problem.GroupOffsetsRefused,
}

// securitySchemes returns the configured schemes by name, and their names
// sorted.
func (d *Info) securitySchemes() (map[string]obj, []string) {
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
	if in := d.Auth.Introspection; in != nil {
		desc := "A bearer token in Authorization: Bearer, checked with the identity provider's token introspection (RFC 7662)"
		if d.Auth.JWT != nil {
			desc += " when it is not a JWT, or a JWT of a listed issuer; other JWTs are verified as above"
		}
		m[schemeBearer] = obj{"type": "http", "scheme": "bearer", "description": desc + ". A route's scopes must all be in the token's scope."}
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
