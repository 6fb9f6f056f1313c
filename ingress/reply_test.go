package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

const confirmationID = "https://example.com/schemas/order-confirmation.json"

// syncedBuffer is a log sink safe for concurrent writes.
type syncedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// replyServer serves sync routes with and without a reply schema, and
// returns its log.
func replyServer(tb testing.TB, v Validator) (*Server, map[string]topics.Route, *syncedBuffer) {
	tb.Helper()
	m, err := metrics.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "place-order", Path: "/v1/orders", Topic: "orders.commands", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "orders.replies", Schema: confirmationID}},
		{Name: "any-reply", Path: "/v1/any", Topic: "orders.commands", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "orders.replies"}},
		{Name: "async", Path: "/v1/async", Topic: "orders.commands", Auth: topics.AuthNone},
		{Name: "unknown-schema", Path: "/v1/unknown", Topic: "orders.commands", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "orders.replies", Schema: "https://example.com/schemas/nope.json"}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	logs := &syncedBuffer{}
	srv, err := New(Config{}, table, Deps{Producer: nopProducer{}, Validator: v, Correlator: newFakeCorrelator(), Results: &fakeResults{}},
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))), WithMetrics(m))
	if err != nil {
		tb.Fatal(err)
	}
	routes := make(map[string]topics.Route)
	for _, r := range table.Routes() {
		routes[r.Name] = r
	}
	return srv, routes, logs
}

// replySchemas loads the quickstart schemas and the reply schema of
// apidocs/testdata.
func replySchemas(tb testing.TB) *schemas.Set {
	tb.Helper()
	dir := tb.TempDir()
	files, _ := filepath.Glob("../testdata/schemas/*.json")
	for _, f := range append(files, "apidocs/testdata/order-confirmation.json") {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	set, err := schemas.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

func TestCheckReply(t *testing.T) {
	t.Parallel()
	srv, routes, _ := replyServer(t, replySchemas(t))
	const (
		good     = `{"order_id": "o-1", "status": "accepted", "total": 12.5}`
		bad      = `{"order_id": "", "status": "maybe", "total": -1, "extra": true}`
		notJSON  = `{"order_id": `
		badCount = 4 // additionalProperties, minLength, enum, minimum
	)
	tests := []struct {
		name, route string
		status      int
		body        string
		bad         bool  // a bad-reply problem
		is          error // in the error chain
		violations  int
	}{
		{"conforms", "place-order", 200, good, false, nil, 0},
		{"conforms, 201", "place-order", 201, good, false, nil, 0},
		{"violates", "place-order", 200, bad, true, nil, badCount},
		{"violates, 204", "place-order", 204, bad, true, nil, badCount},
		{"not JSON", "place-order", 200, notJSON, true, schemas.ErrNotJSON, 0},
		{"an error reply is not checked", "place-order", 404, notJSON, false, nil, 0},
		{"a redirect is not checked", "place-order", 303, bad, false, nil, 0},
		{"no reply schema", "any-reply", 200, notJSON, false, nil, 0},
		{"not a sync route", "async", 200, bad, false, nil, 0},
		{"unknown schema is a config bug", "unknown-schema", 200, good, false, schemas.ErrUnknownSchema, 0},
	}
	want := map[string]float64{}
	for _, tt := range tests {
		err := srv.checkReply(routes[tt.route], tt.status, []byte(tt.body))
		if tt.bad {
			want[tt.route]++
		}
		var pe *problem.Error
		switch {
		case tt.bad && (!errors.As(err, &pe) || pe.Type != problem.BadReply):
			t.Errorf("%s: checkReply = %v, want a bad-reply problem", tt.name, err)
			continue
		case !tt.bad && tt.is == nil && err != nil:
			t.Errorf("%s: checkReply = %v, want nil", tt.name, err)
			continue
		case !tt.bad && errors.As(err, &pe):
			t.Errorf("%s: checkReply = %v, want no problem of its own", tt.name, err)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: checkReply = %v, want %v in its chain", tt.name, err, tt.is)
		}
		if tt.is == schemas.ErrUnknownSchema {
			if p := toProblem(err); p.Type != problem.Internal {
				t.Errorf("%s: answered as %s, want internal", tt.name, p.Type.URI)
			}
		}
		if pe != nil {
			if pe.Type.Status != fiber.StatusBadGateway || pe.Errors != nil || pe.Detail == "" {
				t.Errorf("%s: problem %+v, want 502 with a detail and no errors for the client", tt.name, pe)
			}
		}
		var ve *schemas.ValidationError
		if tt.violations > 0 && (!errors.As(err, &ve) || len(ve.Violations) != tt.violations) {
			t.Errorf("%s: checkReply = %v, want the %d violations in its chain, for the log", tt.name, err, tt.violations)
		}
	}
	for _, route := range []string{"place-order", "any-reply", "async", "unknown-schema"} {
		if got := rejected(t, srv, route); got != want[route] {
			t.Errorf("ferry_replies_rejected_total{route=%q} = %v, want %v", route, got, want[route])
		}
	}
}

// rejected reads ferry_replies_rejected_total{route}.
func rejected(tb testing.TB, srv *Server, route string) float64 {
	tb.Helper()
	return sample(tb, srv.metrics, `ferry_replies_rejected_total{route="`+route+`"}`)
}

// TestCheckReplyWithoutValidator: with no Validator, a route with a reply
// schema still refuses a reply that is not JSON.
func TestCheckReplyWithoutValidator(t *testing.T) {
	t.Parallel()
	srv, routes, _ := replyServer(t, nil)
	if err := srv.checkReply(routes["place-order"], 200, []byte(`{"anything": 1}`)); err != nil {
		t.Errorf("checkReply(JSON) = %v, want nil", err)
	}
	var pe *problem.Error
	if err := srv.checkReply(routes["place-order"], 200, []byte(`nope`)); !errors.As(err, &pe) || pe.Type != problem.BadReply {
		t.Errorf("checkReply(not JSON) = %v, want a bad-reply problem", err)
	}
}

// TestBadReplyResponse renders a bad reply the way a sync route will:
// the client gets a 502 problem without the backend's violations, and the
// log gets every violation with the request id and route.
func TestBadReplyResponse(t *testing.T) {
	t.Parallel()
	srv, routes, logs := replyServer(t, replySchemas(t))
	r := routes["place-order"]
	app := fiber.New(fiber.Config{ErrorHandler: srv.handleError})
	app.Use(srv.requestContext)
	app.Post("/reply", func(c *fiber.Ctx) error {
		info(c).route = r.Name
		return srv.checkReply(r, 200, c.Body())
	})
	req := httptest.NewRequest("POST", "/reply", strings.NewReader(`{"order_id": "", "status": "maybe"}`))
	req.Header.Set("X-Request-ID", "req-bad-reply")
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != fiber.StatusBadGateway || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("bad reply answered %d %s %s, want a 502 problem", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p["type"] != problem.BadReply.URI || p["request_id"] != "req-bad-reply" {
		t.Errorf("problem = %s, want type %s with the request id", body, problem.BadReply.URI)
	}
	if _, ok := p["errors"]; ok || strings.Contains(string(body), "maybe") || strings.Contains(string(body), "minLength") {
		t.Errorf("problem = %s; the backend's violations are for the log, not the client", body)
	}
	log := logs.String()
	for _, want := range []string{"level=ERROR", "request_id=req-bad-reply", "route=place-order",
		"reply on orders.replies violates schema " + confirmationID, "/order_id: ", "/status: "} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestBadReplyErrorMessage(t *testing.T) {
	t.Parallel()
	ve := &schemas.ValidationError{SchemaID: confirmationID}
	for i := range 12 {
		ve.Violations = append(ve.Violations, schemas.Violation{InstancePath: "/" + string(rune('a'+i)), Message: "bad"})
	}
	ve.Violations[0].InstancePath = ""
	got := (&badReplyError{topic: "orders.replies", ve: ve}).Error()
	want := "reply on orders.replies violates schema " + confirmationID +
		": (root): bad; /b: bad; /c: bad; /d: bad; /e: bad; /f: bad; /g: bad; /h: bad; /i: bad; /j: bad; and 2 more"
	if got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
}

// TestResultReplySchema: a reply read later from GET /v1/results/{id} is
// held to its route's reply schema as a synchronous answer is: a 502
// bad-reply problem (JSON) or an error event (SSE) for a reply that
// violates it; results of routes without one, and results kept without a
// route, pass as they are.
func TestResultReplySchema(t *testing.T) {
	t.Parallel()
	srv, _, _ := replyServer(t, replySchemas(t))
	const (
		good = `{"order_id": "o-1", "status": "accepted", "total": 12.5}`
		bad  = `{"order_id": "", "status": "maybe"}`
	)
	result := func(route, body string) *correlator.Result {
		return &correlator.Result{ID: topics.NewEventID(), Owner: "anonymous", Route: route,
			Replies: []correlator.Reply{{Status: 200, Final: true, Body: []byte(body), ContentType: "application/json"}}}
	}
	tests := []struct {
		name string
		res  *correlator.Result
		want int
	}{
		{"good reply", result("place-order", good), 200},
		{"reply violating the schema", result("place-order", bad), 502},
		{"route without a reply schema", result("any-reply", bad), 200},
		{"result kept without a route", result("", bad), 200},
	}
	results := make(map[string]*correlator.Result)
	for _, tt := range tests {
		results[tt.res.ID] = tt.res
	}
	srv.deps.Results.(*fakeResults).results = results
	for _, tt := range tests {
		resp, err := srv.app.Test(httptest.NewRequest("GET", resultsPath+tt.res.ID, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: GET = %d %s, want %d", tt.name, resp.StatusCode, body, tt.want)
		}
		if tt.want == 502 && !strings.Contains(string(body), problem.BadReply.URI) {
			t.Errorf("%s: body %s, want a bad-reply problem", tt.name, body)
		}

		req := httptest.NewRequest("GET", resultsPath+tt.res.ID, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err = srv.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		wantEvent := "event: result"
		if tt.want == 502 {
			wantEvent = "event: error"
		}
		if !strings.Contains(string(body), wantEvent) {
			t.Errorf("%s: SSE stream %q, want %q", tt.name, body, wantEvent)
		}
	}
}

// TestResultStreamEnvelope: with envelope=true, a result stream's events
// carry each reply's status and headers, so that a responder's 500 is
// not read as its 201; without it, the data is the bare body as before.
func TestResultStreamEnvelope(t *testing.T) {
	t.Parallel()
	srv, _, _ := replyServer(t, replySchemas(t))
	res := &correlator.Result{ID: topics.NewEventID(), Owner: "anonymous", Route: "any-reply",
		Replies: []correlator.Reply{
			{Status: 202, Body: []byte(`{"step":1}`)},
			{Status: 500, Final: true, Body: []byte(`{"error":"boom"}`), Header: []correlator.HeaderField{{Name: "ETag", Value: `"v1"`}}},
		}}
	srv.deps.Results.(*fakeResults).results = map[string]*correlator.Result{res.ID: res}
	get := func(query string) (int, string) {
		req := httptest.NewRequest("GET", resultsPath+res.ID+query, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := srv.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, body := get("?envelope=true")
	for _, want := range []string{
		"event: progress\ndata: {\"status\":202,\"headers\":{},\"body\":{\"step\":1}}\n",
		"event: result\ndata: {\"status\":500,\"headers\":{\"ETag\":\"\\\"v1\\\"\"},\"body\":{\"error\":\"boom\"}}\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("envelope stream %q lacks %q", body, want)
		}
	}
	if _, body := get(""); !strings.Contains(body, "event: result\ndata: {\"error\":\"boom\"}\n") {
		t.Errorf("stream without envelope %q, want the bare body", body)
	}
	if st, body := get("?envelope=maybe"); st != 400 {
		t.Errorf("envelope=maybe = %d %s, want 400", st, body)
	}
}
