package ingress_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

func headerMap(r *kgo.Record) map[string]string {
	m := make(map[string]string, len(r.Headers))
	for _, h := range r.Headers {
		if _, dup := m[h.Key]; dup {
			m[h.Key] += "," + string(h.Value)
			continue
		}
		m[h.Key] = string(h.Value)
	}
	return m
}

// TestPublishWritesTheEvent posts an order through a real listener, reads
// the topic with a franz-go consumer and checks key, value and every header.
func TestPublishWritesTheEvent(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	body := readFile(t, "../testdata/payloads/order.json")
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	before := time.Now()
	resp, b := g.do(t, "POST", "/v1/orders", "application/json; charset=utf-8", body,
		"traceparent", tp, "X-Request-ID", "req-1", "ce_id", "forged", "ce_type", "forged", "kafka_replyTopic", "evil")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/orders = %d %s, want 202", resp.StatusCode, b)
	}
	if got := resp.Header.Get("X-Request-ID"); got != "req-1" {
		t.Errorf("X-Request-ID = %q, want the client's req-1", got)
	}
	a := decodeAccepted(t, b)
	if a.Topic != "orders" || a.ID == "" || a.Timestamp.Before(before.Add(-time.Second)) {
		t.Errorf("202 body = %+v", a)
	}

	recs := topicstest.Read(t, g.cluster, "orders", 1, 5*time.Second)
	if len(recs) != 1 {
		t.Fatalf("read %d records, want 1", len(recs))
	}
	r := recs[0]
	if string(r.Key) != "c-42" {
		t.Errorf("key = %q, want c-42 (from {body./customer_id})", r.Key)
	}
	if string(r.Value) != string(body) {
		t.Errorf("value differs from the request body:\n%s\nwant\n%s", r.Value, body)
	}
	if r.Partition != a.Partition || r.Offset != a.Offset {
		t.Errorf("record at %d/%d, 202 said %d/%d", r.Partition, r.Offset, a.Partition, a.Offset)
	}
	h := headerMap(r)
	ceTime, err := time.Parse(time.RFC3339Nano, h["ce_time"])
	if err != nil || ceTime.Before(before.Add(-time.Second)) || ceTime.After(time.Now()) {
		t.Errorf("ce_time = %q (%v), want the time of the request", h["ce_time"], err)
	}
	delete(h, "ce_time")
	want := map[string]string{
		"ce_specversion": "1.0",
		"ce_id":          a.ID,
		"ce_source":      "/ferry/routes/create-order",
		"ce_type":        "com.example.order.create",
		"content-type":   "application/json",
		"traceparent":    tp,
		"ce_authtype":    "unauthenticated", // an auth: none route (CloudEvents authcontext)
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("record headers (-want +got):\n%s", diff)
	}
}

func TestPublishKeysAndHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t)

	resp, b := g.do(t, "PUT", "/v1/customers/7/events", "application/vnd.acme.signup+json", []byte(`{"kind":"signup"}`),
		"X-Tenant", "acme", "traceparent", "not-a-traceparent")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PUT = %d %s, want 202", resp.StatusCode, b)
	}
	if id := resp.Header.Get("X-Request-ID"); len(id) != 32 {
		t.Errorf("generated X-Request-ID = %q, want 32 hex digits", id)
	}
	recs := topicstest.Read(t, g.cluster, "customers", 1, 5*time.Second)
	if len(recs) != 1 {
		t.Fatalf("read %d records, want 1", len(recs))
	}
	h := headerMap(recs[0])
	if string(recs[0].Key) != "customer-7" || h["x-tenant"] != "acme" || h["content-type"] != "application/vnd.acme.signup+json" {
		t.Errorf("key %q, x-tenant %q, content-type %q", recs[0].Key, h["x-tenant"], h["content-type"])
	}
	if !topics.ValidTraceParent(h["traceparent"]) {
		t.Errorf("traceparent = %q, want a new valid one for an invalid client value", h["traceparent"])
	}

	resp, b = g.do(t, "POST", "/v1/anything", "application/json", []byte(`[1,2,3]`))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/anything = %d %s, want 202", resp.StatusCode, b)
	}
	recs = topicstest.Read(t, g.cluster, "anything", 1, 5*time.Second)
	if len(recs) != 1 || recs[0].Key != nil {
		t.Fatalf("records %v, want one with a null key", recs)
	}
}

// TestPublishKeyFromEscapedPath: a path parameter reaches key templates
// percent-decoded, as the client meant it (RFC 3986: "%2F" is a slash in
// the value, not a separator of the route's path); one that decodes to a
// control character is a 400, with nothing produced.
func TestPublishKeyFromEscapedPath(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	resp, b := g.do(t, "PUT", "/v1/customers/caf%C3%A9%2F7%20b/events", "application/json", []byte(`{}`), "X-Tenant", "acme")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PUT = %d %s, want 202", resp.StatusCode, b)
	}
	recs := topicstest.Read(t, g.cluster, "customers", 1, 5*time.Second)
	if len(recs) != 1 || string(recs[0].Key) != "customer-café/7 b" {
		t.Fatalf("records %v, want one with key %q", recs, "customer-café/7 b")
	}
	resp, b = g.do(t, "PUT", "/v1/customers/a%00b/events", "application/json", []byte(`{}`), "X-Tenant", "acme")
	if p := decodeProblem(t, b); resp.StatusCode != http.StatusBadRequest || p.Type != problem.BadRequest.URI {
		t.Errorf("PUT with %%00 in the parameter = %d %s, want 400 bad-request", resp.StatusCode, b)
	}
}

// TestErrors checks each error answer: status, problem type, problem+json
// body with the request id, and that nothing was produced.
func TestErrors(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	order := readFile(t, "../testdata/payloads/order.json")
	invalid := readFile(t, "../testdata/payloads/order-invalid.json")
	tests := []struct {
		name, method, path, ct string
		body                   []byte
		status                 int
		ptype                  problem.Type
		header, headerValue    string
	}{
		{"unknown path", "POST", "/v1/nope", "application/json", order, 404, problem.NotFound, "", ""},
		{"wrong method", "GET", "/v1/orders", "", nil, 405, problem.MethodNotAllowed, "Allow", "POST"},
		{"wrong method on a param path", "DELETE", "/v1/customers/1/events", "", nil, 405, problem.MethodNotAllowed, "Allow", "PUT"},
		{"text/plain", "POST", "/v1/orders", "text/plain", order, 415, problem.UnsupportedMedia, "", ""},
		{"no content type", "POST", "/v1/orders", "", order, 415, problem.UnsupportedMedia, "", ""},
		{"malformed content type", "POST", "/v1/orders", "application/json; ===", order, 415, problem.UnsupportedMedia, "", ""},
		{"malformed JSON", "POST", "/v1/anything", "application/json", []byte(`{"a":`), 400, problem.MalformedJSON, "", ""},
		{"malformed JSON with schema", "POST", "/v1/orders", "application/json", []byte(`{"a"`), 400, problem.MalformedJSON, "", ""},
		{"empty body", "POST", "/v1/anything", "application/json", nil, 400, problem.MalformedJSON, "", ""},
		{"JSON not UTF-8", "POST", "/v1/anything", "application/json", []byte("{\"name\":\"caf\xe9\"}"), 400, problem.MalformedJSON, "", ""},
		{"JSON not UTF-8 with schema", "POST", "/v1/orders", "application/json", bytes.Replace(order, []byte(`"c-42"`), []byte("\"c-\xff\""), 1), 400, problem.MalformedJSON, "", ""},
		{"JSON in another charset", "POST", "/v1/orders", "application/json; charset=iso-8859-1", order, 415, problem.UnsupportedMedia, "", ""},
		{"over the route limit", "PUT", "/v1/customers/1/events", "application/json", []byte(`{"pad":"` + strings.Repeat("x", 80) + `"}`), 413, problem.BodyTooLarge, "", ""},
		{"under the route limit, over Kafka's", "POST", "/v1/anything", "application/json", []byte(`{"pad":"` + strings.Repeat("x", 1_000_100) + `"}`), 413, problem.BodyTooLarge, "", ""},
		{"schema violation", "POST", "/v1/orders", "application/json", invalid, 422, problem.Validation, "", ""},
		{"key unresolved", "PUT", "/v1/customers/1/events", "application/json", []byte(`{}`), 422, problem.KeyUnresolved, "", ""},
		{"credentials required", "POST", "/v1/secured", "application/json", []byte(`{}`), 401, problem.Unauthenticated, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hdr []string
			if len(tt.body) > topics.DefaultBodyLimit {
				// Without it the server may answer 413 and close while the
				// client still writes the body, which the client reports
				// as a reset instead of the answer.
				hdr = []string{"Expect", "100-continue"}
			}
			resp, b := g.do(t, tt.method, tt.path, tt.ct, tt.body, hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, b, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			var p problem.Details
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("problem body %s: %v", b, err)
			}
			if p.Type != tt.ptype.URI || p.Title != tt.ptype.Title || p.Status != tt.status || p.Detail == "" {
				t.Errorf("problem = %+v, want type %s status %d with a detail", p, tt.ptype.URI, tt.status)
			}
			if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
				t.Errorf("problem request_id = %q, X-Request-ID = %q; want the same, non-empty", p.RequestID, resp.Header.Get("X-Request-ID"))
			}
			if tt.header != "" && resp.Header.Get(tt.header) != tt.headerValue {
				t.Errorf("%s = %q, want %q", tt.header, resp.Header.Get(tt.header), tt.headerValue)
			}
			if tt.ptype == problem.Validation {
				var errs struct {
					Errors []map[string]string `json:"errors"`
				}
				_ = json.Unmarshal(b, &errs)
				if len(errs.Errors) < 2 {
					t.Errorf("validation problem lists %d violations, want every one: %s", len(errs.Errors), b)
				}
			}
		})
	}
	t.Cleanup(func() {
		for _, topic := range []string{"orders", "customers", "anything"} {
			if n := topicstest.Count(t, g.cluster, topic); n != 0 {
				t.Errorf("topic %s holds %d records after only failed requests, want 0", topic, n)
			}
		}
	})
}

// TestBodyOverServerLimit announces a body larger than any route accepts:
// the server answers 413 from the Content-Length alone, before the body is
// sent. (Sending the body as well would race the refusal with the upload
// and can end in a connection reset instead of the answer.)
func TestBodyOverServerLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/anything HTTP/1.1\r\nHost: ferry\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", topics.DefaultBodyLimit+10)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	var p problem.Details
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || p.Type != problem.BodyTooLarge.URI || p.RequestID == "" {
		t.Errorf("oversized body = %d %+v, want a 413 body-too-large problem with a request id", resp.StatusCode, p)
	}
}
