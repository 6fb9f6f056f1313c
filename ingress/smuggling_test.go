package ingress

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// rawRequest sends raw HTTP/1.1 bytes to h, as a proxy or an attacker
// could write them (repeated headers included), and returns the status
// and the problem type.
func rawRequest(t *testing.T, h fasthttp.RequestHandler, raw string) (int, string) {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234}, nil)
	h(&ctx)
	var p struct{ Type string }
	_ = json.Unmarshal(ctx.Response.Body(), &p)
	return ctx.Response.StatusCode(), p.Type
}

// TestDuplicateCredentials: two Authorization headers, two X-API-Key
// headers, or two Idempotency-Key headers are refused with 400 before
// anything is produced, whatever the first says: request smuggling
// between proxies that pick different copies relies on exactly this.
func TestDuplicateCredentials(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "closed", Path: "/v1/closed", Topic: "t"},
		{Name: "open", Path: "/v1/open", Topic: "t", Auth: topics.AuthNone},
	})
	if err != nil {
		t.Fatal(err)
	}
	prod := &fakeProducer{}
	srv, err := New(Config{}, table, Deps{Producer: prod, Idempotency: nopIdempotency{}}, WithLogger(slog.New(slog.DiscardHandler)),
		WithAuth(AuthConfig{Config: identity.Config{APIKeys: []identity.APIKeyConfig{{ID: "k", SHA256: strings.Repeat("ab", 32)}}}}))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.App().Handler()
	req := func(path string, hdrs ...string) string {
		var b bytes.Buffer
		b.WriteString("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n")
		for _, h := range hdrs {
			b.WriteString(h + "\r\n")
		}
		b.WriteString("\r\n{}")
		return b.String()
	}
	for _, tt := range []struct {
		name, path string
		hdrs       []string
		status     int
		typ        string
	}{
		{"two Authorization", "/v1/closed", []string{"Authorization: Bearer a", "Authorization: Bearer b"}, 400, "urn:ferry:problem:ambiguous-credentials"},
		{"two X-API-Key", "/v1/closed", []string{"X-API-Key: a", "X-API-Key: b"}, 400, "urn:ferry:problem:ambiguous-credentials"},
		{"two X-API-Key, any case", "/v1/closed", []string{"X-API-Key: a", "x-api-key: b"}, 400, "urn:ferry:problem:ambiguous-credentials"},
		{"two Idempotency-Key", "/v1/open", []string{`Idempotency-Key: "a"`, `Idempotency-Key: "b"`}, 400, "urn:ferry:problem:invalid-idempotency-key"},
		{"a malformed Idempotency-Key", "/v1/open", []string{`Idempotency-Key: "a\"b"`}, 400, "urn:ferry:problem:invalid-idempotency-key"},
	} {
		if st, typ := rawRequest(t, h, req(tt.path, tt.hdrs...)); st != tt.status || typ != tt.typ {
			t.Errorf("%s: %d %s, want %d %s", tt.name, st, typ, tt.status, tt.typ)
		}
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	if len(prod.msgs) != 0 {
		t.Errorf("%d records produced for refused requests", len(prod.msgs))
	}
}

// nopIdempotency claims every key and stores nothing.
type nopIdempotency struct{}

func (nopIdempotency) Begin(context.Context, string, policy.IdempotencyClaim) (*policy.IdempotencyRecord, error) {
	return nil, nil
}
func (nopIdempotency) Complete(context.Context, string, policy.IdempotencyClaim, policy.StoredResponse, time.Duration) error {
	return nil
}
func (nopIdempotency) Release(context.Context, string, policy.IdempotencyClaim) error { return nil }

// TestControlBytesInTemplates: a header value with a control character
// that a key template would copy into the record key is refused with 400
// before anything is produced; so is a CloudEvents structured-mode body,
// whose attributes would override ferry's ce_* headers for SDK consumers.
func TestControlBytesInTemplates(t *testing.T) {
	t.Parallel()
	prod := &fakeProducer{}
	_, h := newTestServer(t, []topics.RouteConfig{
		{Name: "keyed", Path: "/v1/keyed", Topic: "t", Auth: topics.AuthNone, Key: "{header.X-Id}",
			Headers: map[string]string{"x-tenant": "{header.X-Tenant}"}},
	}, Deps{Producer: prod})
	post := func(ct, id, tenant string) (int, string) {
		r := handle(h, "POST", "/v1/keyed", ct, `{"specversion":"1.0","id":"x","source":"/evil","type":"t"}`, "X-Id", id, "X-Tenant", tenant)
		return r.status, r.typ
	}
	// CR and LF cannot reach a header value (the HTTP parser ends the
	// line; fasthttp turns them into spaces): claims and body strings
	// carry them, and topics' TestKeyTemplateControlBytes covers those.
	for _, c := range []byte{0x00, 0x01, '\t', 0x1b, 0x1f, 0x7f} {
		if st, typ := post("application/json", "a"+string(c)+"b", "acme"); st != 400 || typ != "urn:ferry:problem:bad-request" {
			t.Errorf("key value with 0x%02x: %d %s, want 400 bad-request", c, st, typ)
		}
		if st, _ := post("application/json", "ok", "ac"+string(c)+"me"); st != 400 {
			t.Errorf("record header value with 0x%02x: %d, want 400", c, st)
		}
	}
	if st, typ := post("application/cloudevents+json", "ok", "acme"); st != 415 || typ != "urn:ferry:problem:unsupported-media-type" {
		t.Errorf("structured CloudEvents: %d %s, want 415", st, typ)
	}
	if st, _ := post("application/json", "ok", "acme"); st != 202 {
		t.Errorf("clean values: %d, want 202", st)
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	if len(prod.msgs) != 1 {
		for _, m := range prod.msgs {
			t.Logf("produced key %q extra %q", m.Key, m.Extra)
		}
		t.Errorf("%d records produced, want only the clean one", len(prod.msgs))
	}
}

// TestTombstoneRoute: a DELETE route (tombstone by default) produces a
// record with the key from its template and a null value, without a body
// or a Content-Type, and answers 202; a POST route marked tombstone does
// the same.
func TestTombstoneRoute(t *testing.T) {
	t.Parallel()
	yes := true
	prod := &fakeProducer{}
	_, h := newTestServer(t, []topics.RouteConfig{
		{Name: "delete-order", Method: "DELETE", Path: "/v1/orders/{id}", Topic: "orders.state", Key: "order-{path.id}", Auth: topics.AuthNone},
		{Name: "forget", Method: "POST", Path: "/v1/forget/{id}", Topic: "orders.state", Key: "{path.id}", Auth: topics.AuthNone, Tombstone: &yes},
	}, Deps{Producer: prod})
	for _, tt := range []struct{ method, path, key string }{
		{"DELETE", "/v1/orders/7", "order-7"},
		{"POST", "/v1/forget/8", "8"},
	} {
		if r := handle(h, tt.method, tt.path, "", ""); r.status != 202 {
			t.Errorf("%s %s without a body: %d %s, want 202", tt.method, tt.path, r.status, r.body)
		}
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	if len(prod.msgs) != 2 {
		t.Fatalf("%d records, want 2 tombstones", len(prod.msgs))
	}
	for i, key := range []string{"order-7", "8"} {
		rec := prod.msgs[i].Record()
		if string(rec.Key) != key || rec.Value != nil {
			t.Errorf("record %d: key %q value %q, want key %q and a null value", i, rec.Key, rec.Value, key)
		}
		for _, hdr := range rec.Headers {
			if hdr.Key == topics.HeaderContentType {
				t.Errorf("record %d: a tombstone carries content-type %q", i, hdr.Value)
			}
		}
	}
	_, err := topics.NewTable([]topics.RouteConfig{
		{Name: "keyless", Method: "DELETE", Path: "/v1/x", Topic: "t", Auth: topics.AuthNone},
		{Name: "body", Method: "DELETE", Path: "/v1/y", Topic: "t", Key: "{body./id}", Schema: "s", Auth: topics.AuthNone},
	})
	for _, want := range []string{"routes[0].key: required: a tombstone deletes", "routes[1].key: a tombstone has no body", "routes[1].schema: a tombstone has no body"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config error does not say %q: %v", want, err)
		}
	}
}

// TestBodyErrorsSayWhere: a malformed body's 400 gives the byte offset,
// line and column of the error (with and without a schema), and a body
// over the route's limit gets a 413 stating the limit.
func TestBodyErrorsSayWhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.json"), []byte(`{"$id": "https://example.com/s.json", "type": "object"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := schemas.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "plain", Path: "/v1/plain", Topic: "t", Auth: topics.AuthNone, BodyLimit: 64},
		{Name: "schema", Path: "/v1/schema", Topic: "t", Auth: topics.AuthNone, Schema: "https://example.com/s.json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{}, table, Deps{Producer: &fakeProducer{}, Validator: set}, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.App().Handler()
	post := func(path, body string) (int, string) {
		r := handle(h, "POST", path, "application/json", body)
		return r.status, r.detail
	}
	bad := "{\"a\": 1,\n  \"b\": }"
	for _, path := range []string{"/v1/plain", "/v1/schema"} {
		if st, detail := post(path, bad); st != 400 || !strings.Contains(detail, "at byte 16 (line 2, column 8)") {
			t.Errorf("%s malformed: %d %q, want 400 naming byte 16, line 2, column 8", path, st, detail)
		}
	}
	if st, detail := post("/v1/plain", `{"pad": "`+strings.Repeat("x", 100)+`"}`); st != 413 || !strings.Contains(detail, "at most 64") {
		t.Errorf("too large: %d %q, want 413 stating the limit of 64", st, detail)
	}
}

// TestMalformedMultipart sends a malformed multipart body over a real
// connection: it is answered by the route (415: routes take JSON), with
// the request's path as the problem's instance, not refused before
// routing with instance "/".
func TestMalformedMultipart(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{{Name: "open", Path: "/v1/open", Topic: "t", Auth: topics.AuthNone}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{}, table, Deps{Producer: &fakeProducer{}}, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.App().Listener(ln) }()
	defer func() { _ = srv.App().Shutdown() }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno closing boundary"
	if _, err := conn.Write([]byte("POST /v1/open HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		t.Fatal(err)
	}
	var p struct{ Type, Instance string }
	_ = json.Unmarshal(resp.Body(), &p)
	if resp.StatusCode() != 415 || p.Instance != "/v1/open" {
		t.Errorf("malformed multipart: %d %s instance %q, want 415 with instance /v1/open", resp.StatusCode(), p.Type, p.Instance)
	}
}

// leewayAuth authenticates every bearer token as a principal whose token
// expired a few seconds ago but is still inside the JWT leeway (which is
// what identity.Authenticator returns for such a token).
type leewayAuth struct{}

func (leewayAuth) Authenticate(context.Context, identity.Credential) (*identity.Principal, error) {
	return &identity.Principal{ID: "u", Kind: identity.PrincipalJWT, Expires: time.Now().Add(-10 * time.Second)}, nil
}

// oneStream serves one stream; a subscription is an error, so that a
// stream opened when it should not be shows up as a 503.
type oneStream struct{}

func (oneStream) Stream(name string) (topics.StreamConfig, bool) {
	return topics.StreamConfig{Name: "s", Topic: "t"}, name == "s"
}
func (oneStream) Streams() []topics.StreamConfig {
	return []topics.StreamConfig{{Name: "s", Topic: "t"}}
}
func (oneStream) Subscribe(context.Context, string, consumers.Start, consumers.Filter) (*consumers.Subscription, error) {
	return nil, consumers.ErrUnavailable
}

// TestStreamRefusesLeewayToken: a token past its exp but inside the
// leeway (accepted for a request) is refused with 401 when it opens a
// stream, rather than opening a stream that closes at once with
// token_expired.
func TestStreamRefusesLeewayToken(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{}, table, Deps{Producer: &fakeProducer{}, Streams: oneStream{}, Authenticator: leewayAuth{}},
		WithLogger(slog.New(slog.DiscardHandler)),
		WithAuth(AuthConfig{Config: identity.Config{JWT: &identity.JWTConfig{HMACSecretEnv: "UNUSED"}}}))
	if err != nil {
		t.Fatal(err)
	}
	r := handle(srv.App().Handler(), "GET", "/v1/streams/s", "", "", "Accept", "text/event-stream", "Authorization", "Bearer x")
	if r.status != 401 || !strings.Contains(r.detail, "expired") {
		t.Errorf("stream with a token inside the leeway: %d %s %q, want 401 expired", r.status, r.typ, r.detail)
	}
}

// doneReplayer answers every redrive with a fixed result.
type doneReplayer struct{}

func (doneReplayer) Open(context.Context, consumers.ReplayRequest) (*consumers.Replay, error) {
	return nil, consumers.ErrClosed
}
func (doneReplayer) Redrive(_ context.Context, req consumers.RedriveRequest) (consumers.RedriveResult, error) {
	return consumers.RedriveResult{Topic: req.Topic, Target: req.Target, Matched: 3, Produced: 3}, nil
}

// TestAuditLine: a redrive logs one audit line naming who did it.
func TestAuditLine(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	srv, err := New(Config{}, table, Deps{Producer: &fakeProducer{}, Replayer: doneReplayer{}, Topics: nil},
		WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))), withPrincipals())
	if err != nil {
		t.Fatal(err)
	}
	r := handle(srv.App().Handler(), "POST", "/v1/replay/orders/redrive", "application/json", `{"target_topic": "orders.retry"}`,
		"X-Test-identity.Principal", "app_user:alice:admin")
	if r.status != 200 {
		t.Fatalf("redrive: %d %s", r.status, r.body)
	}
	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["log"] != "audit" {
			continue
		}
		found = true
		if l["action"] != "redrive" || l["authtype"] != "app_user" || l["authid"] != "alice" || l["target"] != "orders.retry" || l["produced"] != float64(3) {
			t.Errorf("audit line %v", l)
		}
	}
	if !found {
		t.Errorf("no audit line in:\n%s", logs.String())
	}
}

// syncBuf is a bytes.Buffer safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
