package apidocs_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/ingress/apidocs"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/topics"
)

// paths returns the paths an OpenAPI document describes, sorted.
func paths(tb testing.TB, doc []byte) []string {
	tb.Helper()
	var d struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		tb.Fatal(err)
	}
	var out []string
	for p := range d.Paths {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestBuildServed builds the documents from plain data, without a server:
// ferry's own optional endpoints are described exactly when Served says
// they are served, and the same Description gives the same bytes.
func TestBuildServed(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{{Name: "create-order", Path: "/v1/orders", Topic: "orders.commands"}})
	if err != nil {
		t.Fatal(err)
	}
	always := []string{"/asyncapi.json", "/healthz", "/openapi.json", "/readyz", "/v1/orders"}
	tests := []struct {
		name   string
		served apidocs.Served
		more   []string
	}{
		{"none", apidocs.Served{}, nil},
		{"metrics", apidocs.Served{Metrics: true}, []string{"/metrics"}},
		{"results", apidocs.Served{Results: true}, []string{"/v1/results/{id}"}},
		{"streams", apidocs.Served{Streams: true}, []string{"/v1/streams/{name}"}},
		{"replay", apidocs.Served{Replay: true, ReplayScopes: []string{"ops"}},
			[]string{"/v1/replay/{topic}", "/v1/replay/{topic}/redrive", "/v1/topics", "/v1/topics/{topic}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := apidocs.Description{
				Info:   apidocs.Info{Auth: identity.Config{APIKeys: []identity.APIKeyConfig{{ID: "k"}}}},
				Routes: table.Routes(),
				Served: tt.served,
			}
			openAPI, asyncAPI, err := apidocs.Build(d)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			want := append(slices.Clone(always), tt.more...)
			slices.Sort(want)
			if got := paths(t, openAPI); !slices.Equal(got, want) {
				t.Errorf("paths = %q, want %q", got, want)
			}
			again, asyncAgain, err := apidocs.Build(d)
			if err != nil || !bytes.Equal(openAPI, again) || !bytes.Equal(asyncAPI, asyncAgain) {
				t.Errorf("a second Build differs (%v)", err)
			}
			if !bytes.Contains(openAPI, []byte(`"title": "ferry"`)) || !bytes.Contains(asyncAPI, []byte(`"version": "dev"`)) {
				t.Errorf("the default title and version are missing")
			}
		})
	}
}

// TestOpenAPIRouteHeaders: a cached route's 200 names X-Cache and Age,
// and a route's response.headers are on every one of its answers.
func TestOpenAPIRouteHeaders(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{{Name: "quote", Path: "/v1/quotes", Topic: "quotes.requests", Auth: topics.AuthNone,
		Reply:    &topics.ReplyConfig{Topic: "quotes.replies", Cache: &topics.CacheConfig{TTL: time.Minute}},
		Response: &topics.ResponseConfig{Headers: map[string]string{"Cache-Control": "no-store"}}}})
	if err != nil {
		t.Fatal(err)
	}
	openAPI, _, err := apidocs.Build(apidocs.Description{Routes: table.Routes()})
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Headers map[string]json.RawMessage `json:"headers"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &d); err != nil {
		t.Fatal(err)
	}
	resps := d.Paths["/v1/quotes"]["post"].Responses
	for _, h := range []string{"X-Cache", "Age", "Cache-Control"} {
		if _, ok := resps["200"].Headers[h]; !ok {
			t.Errorf("the 200 lacks %s: %v", h, resps["200"].Headers)
		}
	}
	if _, ok := resps["503"].Headers["Cache-Control"]; !ok {
		t.Errorf("the 503 lacks the route's Cache-Control: %v", resps["503"].Headers)
	}
}
