package apidocs_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/ingress/apidocs"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// operationProblems returns the problem type URIs an OpenAPI operation's
// responses name, sorted.
func operationProblems(tb testing.TB, doc []byte, path, method string) []string {
	tb.Helper()
	var d struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		tb.Fatal(err)
	}
	op, ok := d.Paths[path][method]
	if !ok {
		tb.Fatalf("no %s %s in the document", method, path)
	}
	var out []string
	for _, r := range op.Responses {
		for _, pt := range problem.Types {
			if strings.Contains(r.Description, "`"+pt.URI+"`") {
				out = append(out, strings.TrimPrefix(pt.URI, "urn:ferry:problem:"))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestRouteProblemsAreTheRoutes checks that each route's operation lists
// the problems that route can answer with, and none of those only ferry's
// own endpoints answer (result-not-found, too-many-replays, ...).
func TestRouteProblemsAreTheRoutes(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "plain", Path: "/v1/plain", Topic: "plain", Auth: topics.AuthNone},
		{Name: "full", Path: "/v1/full/{id}", Topic: "full", Key: "{path.id}", Scopes: []string{"w"},
			RateLimit: &topics.RateLimitConfig{Rate: 10, Per: time.Second}},
		{Name: "sync", Path: "/v1/sync", Topic: "sync", Scopes: []string{"w"},
			Reply: &topics.ReplyConfig{Topic: "sync.replies", OnTimeout: "fail"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	openAPI, _, err := apidocs.Build(apidocs.Description{
		Info:   apidocs.Info{Auth: identity.Config{APIKeys: []identity.APIKeyConfig{{ID: "k"}}}},
		Routes: table.Routes(),
		Served: apidocs.Served{Metrics: true, Results: true, Streams: true, Replay: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	publish := []string{"bad-request", "body-too-large", "headers-too-large", "idempotency-conflict", "idempotency-mismatch",
		"internal", "invalid-idempotency-key", "kafka-rejected", "kafka-timeout", "kafka-unavailable", "malformed-json", "redis-unavailable",
		"request-timeout", "shutting-down", "topic-missing", "unsupported-media-type"}
	sorted := func(s ...[]string) []string {
		out := slices.Concat(s...)
		slices.Sort(out)
		return out
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/v1/plain", sorted(publish)},
		{"/v1/full/{id}", sorted(publish, []string{"ambiguous-credentials", "forbidden", "key-unresolved", "rate-limited", "unauthenticated"})},
		{"/v1/sync", sorted(publish, []string{"ambiguous-credentials", "forbidden", "reply-timeout", "responder-failed", "responder-unavailable", "results-unavailable",
			"too-many-pending", "unauthenticated"})},
	}
	for _, tt := range tests {
		if got := operationProblems(t, openAPI, tt.path, "post"); !slices.Equal(got, tt.want) {
			t.Errorf("POST %s lists\n  %q\nwant\n  %q", tt.path, got, tt.want)
		}
	}
}

// TestProblemsClassified checks that every problem type is either one a
// route can answer with or one only ferry's own endpoints answer, never
// both and never neither: a new type must say which routes list it.
func TestProblemsClassified(t *testing.T) {
	t.Parallel()
	for _, pt := range problem.Types {
		_, route := apidocs.RouteProblem[pt]
		endpoint := slices.Contains(apidocs.EndpointProblems, pt)
		if route == endpoint {
			t.Errorf("problem %s: in routeProblem %v, in endpointProblems %v; it must be in exactly one (ingress/apidocs/apidocs.go)", pt.URI, route, endpoint)
		}
	}
}

// TestStreamsEnumerated checks that GET /v1/streams/{name} names the
// configured streams and describes how to resume (Last-Event-ID, the
// last_event_id parameter) and the header.NAME filters the streams allow.
func TestStreamsEnumerated(t *testing.T) {
	t.Parallel()
	openAPI, _, err := apidocs.Build(apidocs.Description{
		Served: apidocs.Served{Streams: true, StreamList: []topics.StreamConfig{
			{Name: "orders", Topic: "orders.events", Scopes: []string{"orders:read"}, Filters: []string{"key", "header.X-Tenant"}},
			{Name: "audit", Topic: "audit", Filters: []string{"header.X-Tenant", "header.X-Kind"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]struct {
			Description string `json:"description"`
			Parameters  []struct {
				Name        string `json:"name"`
				In          string `json:"in"`
				Description string `json:"description"`
				Schema      struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &d); err != nil {
		t.Fatal(err)
	}
	op := d.Paths["/v1/streams/{name}"]["get"]
	params := map[string]string{}
	for _, p := range op.Parameters {
		params[p.In+":"+p.Name] = p.Description
		if p.Name == "name" && !slices.Equal(p.Schema.Enum, []string{"audit", "orders"}) {
			t.Errorf("name enum = %q, want [audit orders]", p.Schema.Enum)
		}
	}
	for _, want := range []string{"path:name", "query:from", "query:last_event_id", "header:Last-Event-ID", "query:key",
		"query:header.X-Tenant", "query:header.X-Kind", "query:envelope"} {
		if _, ok := params[want]; !ok {
			t.Errorf("parameter %s is not described; have %v", want, params)
		}
	}
	if !strings.Contains(params["query:header.X-Kind"], "audit") || strings.Contains(params["query:header.X-Kind"], "orders") {
		t.Errorf("header.X-Kind does not say which streams allow it: %q", params["query:header.X-Kind"])
	}
	if !strings.Contains(op.Description, "orders.events") {
		t.Errorf("the description does not list the streams' topics: %q", op.Description)
	}
}
