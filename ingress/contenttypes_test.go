package ingress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// TestContentTypes: a route's content_types decide what it takes. Binary
// and text bodies are produced byte for byte with their content-type and
// no schema; JSON keeps its schema; a structured CloudEvent is checked
// (required attributes, data against the schema) and produced as is;
// anything else is a 415 naming what the route accepts. A route without
// content_types takes JSON only, as before.
func TestContentTypes(t *testing.T) {
	t.Parallel()
	set := orderIDSchema(t)
	prod := &fakeProducer{}
	_, h := newTestServer(t, []topics.RouteConfig{
		{Name: "any", Path: "/v1/any", Topic: "t", Auth: topics.AuthNone, Schema: "https://example.com/o.json",
			ContentTypes: []string{"application/json", "application/octet-stream", "text/plain"}},
		{Name: "ce", Path: "/v1/ce", Topic: "t", Auth: topics.AuthNone, Schema: "https://example.com/o.json",
			ContentTypes: []string{"application/cloudevents+json"}},
		{Name: "json", Path: "/v1/json", Topic: "t", Auth: topics.AuthNone},
	}, Deps{Producer: prod, Validator: set})

	binary := "\x00\xff\xfe binary \x80"
	event := `{"specversion":"1.0","id":"e-1","source":"/shop","type":"order.created","datacontenttype":"application/json","data":{"id":"o-1"}}`
	tests := []struct {
		name, path, ct, body string
		status               int
		typ                  string // the problem's, when not 202
		value, recordCT      string // the record, when 202
	}{
		{"binary as is", "/v1/any", "application/octet-stream", binary, 202, "", binary, "application/octet-stream"},
		{"text as is", "/v1/any", "text/plain; charset=utf-8", "héllo, not JSON", 202, "", "héllo, not JSON", "text/plain"},
		{"text not UTF-8", "/v1/any", "text/plain", "caf\xe9", 400, problem.BadRequest.URI, "", ""},
		{"text in latin1", "/v1/any", "text/plain; charset=iso-8859-1", "cafe", 415, problem.UnsupportedMedia.URI, "", ""},
		{"JSON keeps its schema", "/v1/any", "application/json", `{"nope":1}`, 422, problem.Validation.URI, "", ""},
		{"JSON", "/v1/any", "application/json", `{"id":"a"}`, 202, "", `{"id":"a"}`, "application/json"},
		{"not listed", "/v1/any", "application/xml", `<a/>`, 415, problem.UnsupportedMedia.URI, "", ""},
		{"structured CloudEvent", "/v1/ce", "application/cloudevents+json", event, 202, "", event, "application/cloudevents+json"},
		{"CloudEvent without id", "/v1/ce", "application/cloudevents+json", strings.Replace(event, `"id":"e-1",`, "", 1), 400, problem.BadRequest.URI, "", ""},
		{"CloudEvent type with a newline", "/v1/ce", "application/cloudevents+json", strings.Replace(event, `"order.created"`, `"order\ncreated"`, 1), 400, problem.BadRequest.URI, "", ""},
		{"CloudEvent data off its schema", "/v1/ce", "application/cloudevents+json", strings.Replace(event, `{"id":"o-1"}`, `{"id":1}`, 1), 422, problem.Validation.URI, "", ""},
		{"CloudEvent not JSON", "/v1/ce", "application/cloudevents+json", `{"specversion":`, 400, problem.MalformedJSON.URI, "", ""},
		{"CloudEvent not UTF-8", "/v1/ce", "application/cloudevents+json", strings.Replace(event, `"o-1"`, "\"o-\xe9\"", 1), 400, problem.MalformedJSON.URI, "", ""},
		{"JSON not UTF-8", "/v1/any", "application/json", "{\"id\":\"caf\xe9\"}", 400, problem.MalformedJSON.URI, "", ""},
		{"JSON with charset utf-8", "/v1/any", "application/json; charset=UTF-8", `{"id":"a"}`, 202, "", `{"id":"a"}`, "application/json"},
		{"JSON in latin1", "/v1/any", "application/json; charset=iso-8859-1", `{"id":"a"}`, 415, problem.UnsupportedMedia.URI, "", ""},
		{"JSON on a CloudEvents route", "/v1/ce", "application/json", `{"id":"a"}`, 415, problem.UnsupportedMedia.URI, "", ""},
		{"binary on a JSON route", "/v1/json", "application/octet-stream", binary, 415, problem.UnsupportedMedia.URI, "", ""},
		{"CloudEvent on a JSON route", "/v1/json", "application/cloudevents+json", event, 415, problem.UnsupportedMedia.URI, "", ""},
	}
	for _, tt := range tests {
		prod.mu.Lock()
		before := len(prod.msgs)
		prod.mu.Unlock()
		r := handle(h, "POST", tt.path, tt.ct, tt.body)
		if r.status != tt.status || r.typ != tt.typ {
			t.Errorf("%s: %d %s %q, want %d %s", tt.name, r.status, r.typ, r.detail, tt.status, tt.typ)
			continue
		}
		prod.mu.Lock()
		msgs := prod.msgs[before:]
		prod.mu.Unlock()
		switch {
		case tt.status != 202 && len(msgs) != 0:
			t.Errorf("%s: answered %d but produced %d records", tt.name, r.status, len(msgs))
		case tt.status == 202 && (len(msgs) != 1 || string(msgs[0].Value) != tt.value || msgs[0].ContentType != tt.recordCT):
			t.Errorf("%s: produced %+v, want one record %q with content-type %s", tt.name, msgs, tt.value, tt.recordCT)
		}
	}
}

// TestStructuredCloudEventHeaders: the record of a structured CloudEvent
// carries ce_* headers that agree with the event in its body (its id,
// source, type and time), so that a reader of the headers (ferry's
// streams and webhooks, a binary-mode consumer) sees the same event as a
// CloudEvents SDK reading the value; the 202 names the event's id.
func TestStructuredCloudEventHeaders(t *testing.T) {
	t.Parallel()
	prod := &fakeProducer{}
	_, h := newTestServer(t, []topics.RouteConfig{
		{Name: "ce", Path: "/v1/ce", Topic: "t", Auth: topics.AuthNone, ContentTypes: []string{"application/cloudevents+json"}},
	}, Deps{Producer: prod})
	event := `{"specversion":"1.0","id":"e-1","source":"/shop","type":"order.created","time":"2026-01-02T03:04:05Z","data":{"id":"o-1"}}`
	r := handle(h, "POST", "/v1/ce", "application/cloudevents+json", event)
	if r.status != 202 || !strings.Contains(r.body, `"id":"e-1"`) {
		t.Fatalf("POST a structured event = %d %s, want 202 naming id e-1", r.status, r.body)
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	m := prod.msgs[0]
	if m.ID != "e-1" || m.Source != "/shop" || m.Type != "order.created" || !m.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("record attributes id %q source %q type %q time %v, want the event's", m.ID, m.Source, m.Type, m.Time)
	}
}

// orderIDSchema is a schema set holding https://example.com/o.json: an
// object with a string "id".
func orderIDSchema(t *testing.T) *schemas.Set {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "o.json"), []byte(`{"$id": "https://example.com/o.json",
		"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := schemas.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return set
}
