package main

import (
	be "encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// fakeRegistry serves the Schema Registry endpoint ferry calls, GET
// /subjects/{subject}/versions/latest, from the fixtures in
// testdata/registry (responses in the format Confluent documents: a JSON
// Schema subject, an Avro one and a Protobuf one), and Confluent's 40401
// for any other subject.
func fakeRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		subject, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/subjects/"), "/versions/latest")
		if r.Method != http.MethodGet || !ok {
			http.Error(w, `{"error_code":404,"message":"HTTP 404 Not Found"}`, http.StatusNotFound)
			return
		}
		body, err := os.ReadFile(filepath.Join("testdata", "registry", subject+"-latest.json"))
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if err != nil {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error_code":40401,"message":"Subject '%s' not found."}`, subject)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveSubject serves one route, POST /v1/TOPIC, producing to topic with
// schema_subject, against fakeRegistry, until the test ends.
func serveSubject(t *testing.T, topic, subject string) (string, *kfake.Cluster) {
	t.Helper()
	url := fakeRegistry(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr, stop := serveFor(t, c, fmt.Sprintf(`schemas: { registry: { url: %q } }
routes:
  - { name: %s, path: /v1/%s, topic: %s, auth: none, schema_subject: %s }
`, url, topic, topic, topic, subject))
	t.Cleanup(stop)
	return addr, c
}

// TestSchemaRegistrySubject: a route that names a registry subject
// validates bodies with the subject's latest JSON Schema and writes its
// records in the Confluent wire format (0, the schema id 42, the JSON),
// which Confluent's JSON Schema deserializers read.
func TestSchemaRegistrySubject(t *testing.T) {
	t.Parallel()
	addr, c := serveSubject(t, "orders", "orders-value")
	body := `{"order_id":"o-1","amount":12.5}`
	if r := do(t, "POST", "http://"+addr+"/v1/orders", body, "Content-Type", "application/json"); r.status != 202 {
		t.Fatalf("POST a valid order = %s, want 202", r)
	}
	if r := do(t, "POST", "http://"+addr+"/v1/orders", `{"order_id":"o-2","amount":-1}`, "Content-Type", "application/json"); r.status != 422 || problemType(t, r) != "urn:ferry:problem:validation-failed" {
		t.Errorf("POST an order off the subject's schema = %s, want 422 validation-failed", r)
	}
	recs := topicstest.Read(t, c, "orders", 1, 10*time.Second)
	v := recs[0].Value
	if len(v) < 5 || v[0] != 0 || be.BigEndian.Uint32(v[1:5]) != 42 || string(v[5:]) != body {
		t.Errorf("record value = %q, want 0x00, the id 42 big-endian, then %s", v, body)
	}
	// Not JSON any more: the record does not say it is.
	if ct := recordHeader(recs[0], "content-type"); ct != "application/octet-stream" {
		t.Errorf("content-type header %q, want application/octet-stream for the Confluent wire format", ct)
	}
	// franz-go's reading of the Confluent header agrees.
	var ch sr.ConfluentHeader
	if id, rest, err := ch.DecodeID(v); err != nil || id != 42 || string(rest) != body {
		t.Errorf("sr.ConfluentHeader.DecodeID = %d, %q, %v; want 42 and the body", id, rest, err)
	}
}

// TestSchemaRegistryConfigErrors: what ferry check says of subjects it
// cannot use.
func TestSchemaRegistryConfigErrors(t *testing.T) {
	t.Parallel()
	url := fakeRegistry(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`schemas: { registry: { url: %q } }
routes:
  - { name: a, path: /v1/a, topic: a, auth: none, schema_subject: events-value }
  - { name: b, path: /v1/b, topic: b, auth: none, schema_subject: nope-value }
  - { name: c, path: /v1/c, topic: c, auth: none, schema_subject: orders-value, content_types: [text/plain] }
  - { name: d, path: /v1/d, topic: d, auth: none, schema_subject: orders-value, schema: "https://example.com/x.json" }
`, url)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(path)
	if err == nil {
		t.Fatal("loadConfig = nil error, want the subjects' problems")
	}
	for _, want := range []string{
		`routes[0].schema_subject: subject "events-value" holds a schema of type PROTOBUF; ferry writes JSON Schema and Avro subjects only`,
		`routes[1].schema_subject: subject "nope-value" not found in ` + url,
		`routes[2].schema_subject: records in the Confluent wire format hold JSON: content_types must be application/json only`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("loadConfig errors lack %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "set one of schema and schema_subject"); n != 1 {
		t.Errorf("schema and schema_subject both set: said %d times, want once:\n%v", n, err)
	}
}

// TestSchemaRegistryAvro: a route on an Avro subject takes the record in
// Avro's JSON encoding (as REST Proxy v2's Avro endpoints do) and writes
// it as Avro in the Confluent wire format, defaults filled in; a body
// that does not fit is a 422 naming where.
func TestSchemaRegistryAvro(t *testing.T) {
	t.Parallel()
	addr, c := serveSubject(t, "payments", "payments-value")
	body := `{"id":"p-1","amount":12.5,"currency":"EUR","note":{"string":"first"}}`
	if r := do(t, "POST", "http://"+addr+"/v1/payments", body, "Content-Type", "application/json"); r.status != 202 {
		t.Fatalf("POST a payment = %s, want 202", r)
	}
	for _, bad := range []struct{ body, where string }{
		{`{"id":"p-2","amount":"12","currency":"EUR"}`, "/amount: want a number"},
		{`{"id":"p-2","amount":1,"currency":"GBP"}`, "/currency: want one of [EUR USD]"},
		{`{"id":"p-2","amount":1}`, "/currency: required"},
		{`{"id":"p-2","amount":1,"currency":"EUR","note":"x"}`, "/note: want {"},
	} {
		r := do(t, "POST", "http://"+addr+"/v1/payments", bad.body, "Content-Type", "application/json")
		if r.status != 422 || !strings.Contains(r.body, bad.where) {
			t.Errorf("POST %s = %s, want 422 naming %s", bad.body, r, bad.where)
		}
	}
	recs := topicstest.Read(t, c, "payments", 1, 10*time.Second)
	if ct := recordHeader(recs[0], "content-type"); ct != "application/octet-stream" {
		t.Errorf("content-type header %q, want application/octet-stream for Avro in the Confluent wire format", ct)
	}
	var ch sr.ConfluentHeader
	id, rest, err := ch.DecodeID(recs[0].Value)
	if err != nil || id != 7 {
		t.Fatalf("Confluent header = %d, %v; want the schema id 7", id, err)
	}
	raw, _ := os.ReadFile(filepath.Join("testdata", "registry", "payments-value-latest.json"))
	var fixture struct{ Schema string }
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := avro.Unmarshal(avro.MustParse(fixture.Schema), rest, &got); err != nil {
		t.Fatalf("the value is not Avro of the subject's schema: %v", err)
	}
	want := map[string]any{"id": "p-1", "amount": 12.5, "currency": "EUR", "note": "first", "tags": []any{}, "count": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded record (-want +got):\n%s", diff)
	}
}

// recordHeader returns the value of r's header named key, or "".
func recordHeader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
