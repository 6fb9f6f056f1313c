package ingress

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// TestSplitRoute sends 10,000 keyed requests through a route split 90/10:
// every key's records land on one topic, the shares are within ±2% of the
// weights, the 202 names the topic, X-Canary forces the canary, and
// ferry_split_total counts each topic.
func TestSplitRoute(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{{
		Name: "create-order", Path: "/v1/orders", Key: "{body./customer_id}", Auth: topics.AuthNone,
		Split: []topics.SplitTarget{
			{Topic: "orders.commands", Weight: 90},
			{Topic: "orders.commands.v2", Weight: 10, When: &topics.SplitWhen{Header: map[string]string{"X-Canary": "always"}}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	prod := &fakeProducer{}
	srv, err := New(Config{}, table, Deps{Producer: prod}, WithLogger(slog.New(slog.DiscardHandler)), WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.App().Handler()
	post := func(customer string, canary bool) string {
		var hdr []string
		if canary {
			hdr = []string{"X-Canary", "always"}
		}
		r := handle(h, "POST", "/v1/orders", "application/json", `{"customer_id":"`+customer+`"}`, hdr...)
		if r.status != 202 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var acc struct{ Topic string }
		if err := json.Unmarshal([]byte(r.body), &acc); err != nil {
			t.Fatal(err)
		}
		return acc.Topic
	}
	const customers = 2000
	byKey := map[string]string{}
	counts := map[string]int{}
	for i := range 10000 {
		key := fmt.Sprintf("c-%d", i%customers)
		topic := post(key, false)
		if prev, ok := byKey[key]; ok && prev != topic {
			t.Fatalf("key %s went to %s, then %s", key, prev, topic)
		}
		byKey[key] = topic
		counts[topic]++
	}
	// Shares by key: each customer sends as often as the others.
	perKey := map[string]int{}
	for _, topic := range byKey {
		perKey[topic]++
	}
	if share := float64(perKey["orders.commands"]) / customers; math.Abs(share-0.9) > 0.02 {
		t.Errorf("keys per topic %v: %.3f on orders.commands, want 0.90 ± 0.02", perKey, share)
	}
	if got := post("c-1", true); got != "orders.commands.v2" {
		t.Errorf("X-Canary: always went to %s, want orders.commands.v2", got)
	}
	counts["orders.commands.v2"]++
	for topic, n := range counts {
		if got := splitCount(t, reg, topic); got != n {
			t.Errorf("ferry_split_total{topic=%q} = %d, want %d", topic, got, n)
		}
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	for i, msg := range prod.msgs {
		if byKey[string(msg.Key)] != msg.Topic && i < 10000 {
			t.Fatalf("record %d with key %s produced to %s, answered %s", i, msg.Key, msg.Topic, byKey[string(msg.Key)])
		}
	}
}

// splitCount reads ferry_split_total{route="create-order",topic} from reg.
func splitCount(t *testing.T, reg *prometheus.Registry, topic string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ferry_split_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "create-order" && labels["topic"] == topic {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

// TestResponseHeaders checks that a route's response.headers are on every
// answer of the route (202, 401, 415), that the record headers from
// {client.ip}, {now} and literals reach the record, and that ferry's own
// headers are never replaced.
func TestResponseHeaders(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "open", Path: "/v1/open", Topic: "t", Auth: topics.AuthNone,
			Headers:  map[string]string{"x-client-ip": "{client.ip}", "x-received": "{now}", "x-api-version": "2"},
			Response: &topics.ResponseConfig{Headers: map[string]string{"Cache-Control": "no-store", "X-Api-Version": "2"}}},
		{Name: "closed", Path: "/v1/closed", Topic: "t",
			Response: &topics.ResponseConfig{Headers: map[string]string{"Cache-Control": "no-store"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	prod := &fakeProducer{}
	srv, err := New(Config{}, table, Deps{Producer: prod}, WithLogger(slog.New(slog.DiscardHandler)),
		WithAuth(AuthConfig{Config: identity.Config{APIKeys: []identity.APIKeyConfig{{ID: "k", SHA256: strings.Repeat("ab", 32)}}}}))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.App().Handler()
	do := func(path, contentType string) handled { return handle(h, "POST", path, contentType, `{"a":1}`) }
	for _, tt := range []struct {
		path, ct string
		status   int
	}{
		{"/v1/open", "application/json", 202},
		{"/v1/open", "text/plain", 415},
		{"/v1/closed", "application/json", 401},
	} {
		resp := do(tt.path, tt.ct)
		if resp.status != tt.status || string(resp.header.Peek("Cache-Control")) != "no-store" {
			t.Errorf("POST %s (%s): %d Cache-Control %q, want %d with no-store", tt.path, tt.ct, resp.status,
				resp.header.Peek("Cache-Control"), tt.status)
		}
		if ct := string(resp.header.ContentType()); !strings.Contains(ct, "json") {
			t.Errorf("POST %s: Content-Type %q is not ferry's", tt.path, ct)
		}
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	if len(prod.msgs) != 1 {
		t.Fatalf("%d records, want 1", len(prod.msgs))
	}
	got := map[string]string{}
	for _, x := range prod.msgs[0].Extra {
		got[x.Key] = string(x.Value)
	}
	if got["x-client-ip"] == "" {
		t.Errorf("x-client-ip = %q", got["x-client-ip"])
	}
	if _, err := time.Parse(time.RFC3339, got["x-received"]); err != nil || got["x-api-version"] != "2" {
		t.Errorf("record headers %v: want an RFC 3339 x-received and x-api-version 2 (%v)", got, err)
	}
}

// TestBodyEditRoute: a route with a body section produces the edited body
// (the client's body is validated first, the record against
// record_schema); a body of the wrong shape is a 422 and a record that
// violates record_schema a 500, and neither produces anything.
func TestBodyEditRoute(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "record.json"), []byte(`{"$id": "https://example.com/record.json",
		"type": "object", "required": ["meta"], "properties": {"meta": {"type": "object", "required": ["tenant"]}, "secret": false}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := schemas.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "edit", Path: "/v1/edit", Topic: "t", Auth: topics.AuthNone,
			Body: &topics.BodyConfig{Set: map[string]string{"/meta/tenant": "{header.X-Tenant}"}, Remove: []string{"/debug"},
				RecordSchema: "https://example.com/record.json"}},
		{Name: "leaky", Path: "/v1/leaky", Topic: "t", Auth: topics.AuthNone,
			Body: &topics.BodyConfig{Remove: []string{"/debug"}, RecordSchema: "https://example.com/record.json"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	prod := &fakeProducer{}
	srv, err := New(Config{}, table, Deps{Producer: prod, Validator: set}, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.App().Handler()
	post := func(path, body string) (int, string) {
		r := handle(h, "POST", path, "application/json", body, "X-Tenant", "acme")
		return r.status, r.body
	}
	if st, b := post("/v1/edit", `{"debug": true, "n": 1.50}`); st != 202 {
		t.Fatalf("edit: %d %s", st, b)
	}
	if st, b := post("/v1/edit", `{"meta": "flat"}`); st != 422 || !strings.Contains(b, "body-edit-failed") {
		t.Errorf("wrong shape: %d %s, want 422 body-edit-failed", st, b)
	}
	if st, b := post("/v1/leaky", `{"secret": 1, "meta": {"tenant": "x"}}`); st != 500 || !strings.Contains(b, "record-invalid") {
		t.Errorf("record schema violated: %d %s, want 500 record-invalid", st, b)
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	if len(prod.msgs) != 1 {
		t.Fatalf("%d records produced, want 1", len(prod.msgs))
	}
	if got, want := string(prod.msgs[0].Value), `{"meta":{"tenant":"acme"},"n":1.50}`; got != want {
		t.Errorf("record value %s, want %s", got, want)
	}
}
