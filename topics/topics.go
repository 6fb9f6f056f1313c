// Package topics holds what ferry knows about Kafka topics and the records it
// writes to them: the route table (which HTTP route publishes to which topic),
// key templates, the CloudEvents record encoding, the producer and topic admin.
//
// It is the shared leaf of ferry's Kafka-facing packages: it may import
// franz-go (kgo, kadm) and the standard library, and no other ferry package.
// It knows nothing about HTTP.
package topics

import (
	"fmt"
	"strings"
	"time"
)

// Route is one compiled entry of the route table: an HTTP method and path
// that publishes to a topic. A Route is immutable after NewTable.
type Route struct {
	// Name is the route's unique name, used in logs and metrics.
	Name string
	// Method is the upper-case HTTP method.
	Method string
	// Path is the configured path with {param} placeholders.
	Path string
	// Params lists the names of the path's {param} placeholders, in order.
	Params []string
	// Topic is where the route's records go; with a Split, its first
	// target (ChooseTopic picks the topic of each record).
	Topic string
	// Split are the weighted targets of a canary split, or nil.
	Split []SplitTarget
	// Key builds the record key; nil means a null key.
	Key *KeyTemplate
	// Headers are extra record headers built from templates, sorted by name.
	Headers []HeaderTemplate
	// EventType is the ce_type of the route's records.
	EventType string
	// Source is the ce_source of the route's records.
	Source string
	// Schema is the $id of the request body's JSON Schema, or "".
	Schema string
	// RegistryID, when not 0, is the Schema Registry id of Schema (a
	// route's schema_subject): the record's value is written in the
	// Confluent wire format, prefixed with a zero byte and this id.
	RegistryID int32
	// Avro, when set, writes the JSON body as an Avro record of a Schema
	// Registry subject's schema, in the Confluent wire format.
	Avro *AvroCodec
	// Scopes are the scopes a caller needs, all of them.
	Scopes []string
	// Auth is AuthRequired or AuthNone.
	Auth string
	// BodyLimit is the largest accepted body, in bytes.
	BodyLimit int
	// ContentTypes are the media types the route accepts (Accepts),
	// MediaJSON unless content_types says otherwise.
	ContentTypes []string
	// Reply is the request/response section, or nil for fire-and-forget.
	Reply *ReplyConfig
	// RateLimit is the route's rate limit, or nil for none.
	RateLimit *RateLimitConfig
	// ResponseHeaders are fixed headers added to every answer, sorted by
	// name.
	ResponseHeaders []ResponseHeader
	// BodyEdit edits the body into the record's value, or nil: the value
	// is the body, byte for byte.
	BodyEdit *BodyEdit
	// Tombstone routes produce a null value (delete the key) and read no
	// body.
	Tombstone bool
	// Batch, when not nil, takes many records per request.
	Batch *BatchConfig
	// View, set for GET routes (and only for them), reads the latest
	// record of each key of Topic instead of producing: the record of the
	// key Key renders, or with no Key the keys that start with KeyPrefix
	// (every key when nil), page by page.
	View *ViewConfig
	// KeyPrefix narrows a GET collection to the keys it renders (say
	// "{claim.tenant}:"), or nil.
	KeyPrefix *KeyTemplate
}

// IsView reports whether r is a GET route that reads a topic's latest
// records instead of producing.
func (r *Route) IsView() bool { return r.View != nil }

// ResponseHeader is one fixed header of a route's answers.
type ResponseHeader struct {
	Name, Value string
}

// HeaderTemplate is one extra record header whose value comes from a template.
type HeaderTemplate struct {
	Name  string
	Value *KeyTemplate
}

// Table is the immutable set of configured routes. It is safe for concurrent
// use.
type Table struct {
	routes []Route
}

// NewTable compiles route configs into a Table. It reports every problem at
// once, each prefixed with the route's field path (routes[1].topic: required).
func NewTable(cfgs []RouteConfig) (*Table, error) {
	t := &Table{routes: make([]Route, 0, len(cfgs))}
	var errs fieldErrors
	names := make(map[string]int, len(cfgs))
	endpoints := make(map[string]int, len(cfgs))
	for i, rc := range cfgs {
		at := fmt.Sprintf("routes[%d]", i)
		r, ok := rc.compile(at, &errs)
		if rc.Name != "" {
			if j, dup := names[rc.Name]; dup {
				errs.addf(at+".name", "duplicate of routes[%d].name %q", j, rc.Name)
			} else {
				names[rc.Name] = i
			}
		}
		if ok {
			ep := r.Method + " " + pathShape(r.Path)
			if j, dup := endpoints[ep]; dup {
				errs.addf(at+".path", "%s %s is already served by routes[%d]", r.Method, r.Path, j)
			} else {
				endpoints[ep] = i
			}
			t.routes = append(t.routes, r)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// Routes returns the table's routes in configuration order. The caller must
// not modify them.
func (t *Table) Routes() []Route { return t.routes }

// Route returns the route named name, or nil when there is none.
func (t *Table) Route(name string) *Route {
	for i := range t.routes {
		if t.routes[i].Name == name {
			return &t.routes[i]
		}
	}
	return nil
}

// Topics returns the distinct topics the routes publish to, in first-use order.
func (t *Table) Topics() []string {
	seen := make(map[string]bool)
	var out []string
	for _, r := range t.routes {
		for _, topic := range r.Topics() {
			if !seen[topic] {
				seen[topic] = true
				out = append(out, topic)
			}
		}
	}
	return out
}

// pathShape replaces parameter names with a placeholder so that /a/{x} and
// /a/{y} are recognised as the same endpoint.
func pathShape(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

// Position is where a record was stored.
type Position struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
}
