package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/apidocs"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

const (
	orderSchema        = "https://example.com/schemas/order.json"
	confirmationSchema = "https://example.com/schemas/order-confirmation.json"
)

// docRoutes show each feature the API descriptions describe: a schema with
// a $ref across files, a body key, path parameters, header templates,
// request/reply with a reply schema, on_timeout fail, auth with scopes, a
// route without a schema, and two routes on one topic.
var docRoutes = []topics.RouteConfig{
	{Name: "create-order", Path: "/v1/orders", Topic: "orders.commands", Key: "{body./customer_id}",
		EventType: "com.example.order.create", Schema: orderSchema, Auth: topics.AuthNone},
	{Name: "place-order", Path: "/v1/tenants/{tenant}/orders", Topic: "orders.commands", Key: "{path.tenant}-{body./customer_id}",
		Headers: map[string]string{"x-region": "{header.X-Region}"}, EventType: "com.example.order.place", Schema: orderSchema,
		Scopes: []string{"orders:write"}, Reply: &topics.ReplyConfig{Topic: "orders.replies", Schema: confirmationSchema}},
	{Name: "amend-order", Method: "PATCH", Path: "/v1/tenants/{tenant}/orders/{id}", Topic: "orders.commands", Key: "{path.id}",
		Reply: &topics.ReplyConfig{Topic: "orders.replies", Timeout: 2 * time.Second, OnTimeout: "fail"}},
	{Name: "customer-event", Method: "PUT", Path: "/v1/customers/{id}/events", Topic: "customers.events", Key: "customer-{path.id}",
		Headers: map[string]string{"x-tenant": "{header.X-Tenant}"}, Auth: topics.AuthNone},
	{Name: "customer-note", Path: "/v1/customers/{customer}/events", Topic: "customers.events", Key: "{path.customer}",
		Auth: topics.AuthNone},
	{Name: "audit", Path: "/v1/audit", Topic: "audit", Auth: topics.AuthNone},
	{Name: "import-orders", Path: "/v1/orders/batch", Topic: "orders.commands", Key: "{body./customer_id}",
		Schema: orderSchema, Auth: topics.AuthNone, Batch: &topics.BatchConfig{MaxRecords: 100}},
	{Name: "canary-order", Path: "/v1/canary/orders", Key: "{body./customer_id}", Auth: topics.AuthNone,
		Split: []topics.SplitTarget{{Topic: "orders.commands", Weight: 9}, {Topic: "orders.commands.v2", Weight: 1,
			When: &topics.SplitWhen{Header: map[string]string{"X-Canary": "always"}}}}},
	{Name: "delete-customer", Method: "DELETE", Path: "/v1/customers/{id}", Topic: "customers.events", Key: "{path.id}", Auth: topics.AuthNone},
}

var docAuth = ingress.AuthConfig{Config: identity.Config{
	JWT:     &identity.JWTConfig{Issuer: "https://id.example.com", Audience: "ferry", JWKSURL: "https://id.example.com/jwks.json"},
	APIKeys: []identity.APIKeyConfig{{ID: "ci-bot", SHA256: strings.Repeat("ab", 32), Scopes: []string{"orders:write"}}},
}}

// docSchemas loads the quickstart schemas plus the reply schema of
// apidocs/testdata.
func docSchemas(tb testing.TB) *schemas.Set {
	tb.Helper()
	dir := tb.TempDir()
	files, err := filepath.Glob("../testdata/schemas/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("quickstart schemas: %v", err)
	}
	for _, f := range append(files, "apidocs/testdata/order-confirmation.json") {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), readFile(tb, f), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	set, err := schemas.Load(dir)
	if err != nil {
		tb.Fatalf("schemas.Load: %v", err)
	}
	return set
}

// docServer builds a server on docRoutes with the given validator.
func docServer(tb testing.TB, p ingress.Producer, v ingress.Validator) *ingress.Server {
	tb.Helper()
	table, err := topics.NewTable(docRoutes)
	if err != nil {
		tb.Fatalf("NewTable: %v", err)
	}
	corr, res := ingress.FakeReplyDeps(nil)
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: p, Validator: v, Correlator: corr, Results: res},
		ingress.WithLogger(testLogger()),
		ingress.WithAPIDocs(apidocs.Info{
			Title: "ferry test", Version: "1.2.3", Description: "The routes of ingress/apidocs_test.go.",
			Auth: docAuth.Config, Brokers: []string{"127.0.0.1:9092"},
		}))
	if err != nil {
		tb.Fatalf("ingress.New: %v", err)
	}
	return srv
}

// call sends one request through app.Test and returns the response with
// its body read.
func call(tb testing.TB, srv *ingress.Server, req *http.Request) (*http.Response, []byte) {
	tb.Helper()
	resp, err := srv.App().Test(req, -1)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}

func getDoc(tb testing.TB, srv *ingress.Server, path string) []byte {
	tb.Helper()
	resp, body := call(tb, srv, httptest.NewRequest("GET", path, nil))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Errorf("GET %s Content-Type = %q, want application/json", path, ct)
	}
	return body
}

// TestAPIDocsGolden pins both documents for docRoutes. Review a change
// with git diff after go test ./ingress -run TestAPIDocsGolden -update.
func TestAPIDocsGolden(t *testing.T) {
	t.Parallel()
	set := docSchemas(t)
	srv := docServer(t, &fakeProducer{}, set)
	for _, name := range []string{"openapi.json", "asyncapi.json"} {
		got := getDoc(t, srv, "/"+name)
		checkGolden(t, "apidocs/testdata/routes."+name, got)
		// Built once, the same every time.
		if again := getDoc(t, docServer(t, &fakeProducer{}, set), "/"+name); !bytes.Equal(got, again) {
			t.Errorf("/%s differs between two servers with the same config", name)
		}
	}
}

func TestAPIDocsCaching(t *testing.T) {
	t.Parallel()
	srv := docServer(t, &fakeProducer{}, docSchemas(t))
	for _, path := range []string{"/openapi.json", "/asyncapi.json"} {
		resp, _ := call(t, srv, httptest.NewRequest("GET", path, nil))
		tag := resp.Header.Get("ETag")
		if tag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("GET %s: ETag %q, Cache-Control %q; want an ETag and no-cache", path, tag, resp.Header.Get("Cache-Control"))
		}
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("If-None-Match", tag)
		if resp, body := call(t, srv, req); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET %s If-None-Match: %s = %d with %d bytes, want 304 and none", path, tag, resp.StatusCode, len(body))
		}
		if resp, _ := call(t, srv, httptest.NewRequest("POST", path, nil)); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			// ferry's own paths take GET (and HEAD) only.
			t.Errorf("POST %s = %d (Allow %q), want 405 with Allow: GET, HEAD", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// loadOpenAPI loads and validates an OpenAPI document with kin-openapi.
func loadOpenAPI(tb testing.TB, raw []byte) *openapi3.T {
	tb.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		tb.Fatalf("kin-openapi cannot load /openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
		tb.Fatalf("/openapi.json is not a valid OpenAPI 3.1 document: %v", err)
	}
	return doc
}

// TestOpenAPIValid checks /openapi.json with kin-openapi: it loads (every
// $ref resolves), it validates as OpenAPI 3.1, and it is a true contract:
// requests ferry refuses are refused by the document too, and every answer
// ferry gives (status, headers, body) is one the document describes.
func TestOpenAPIValid(t *testing.T) {
	t.Parallel()
	producer := &fakeProducer{ProduceFunc: func(_ context.Context, m *topics.Message) (topics.Position, error) {
		if string(m.Key) == "c-unavailable" {
			return topics.Position{}, topics.ErrUnavailable
		}
		return topics.Position{Topic: m.Topic, Partition: 2, Offset: 7, Timestamp: m.Time}, nil
	}}
	srv := docServer(t, producer, docSchemas(t))
	doc := loadOpenAPI(t, getDoc(t, srv, "/openapi.json"))
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	order := readFile(t, "../testdata/payloads/order.json")
	invalid := readFile(t, "../testdata/payloads/order-invalid.json")
	unavailable := bytes.Replace(order, []byte(`"c-42"`), []byte(`"c-unavailable"`), 1)
	tests := []struct {
		name, method, path, ct string
		body                   []byte
		hdr                    []string
		status                 int
		requestValid           bool
	}{
		{"order", "POST", "/v1/orders", "application/json", order, nil, 202, true},
		{"order with ferry's headers", "POST", "/v1/orders", "application/json", order,
			[]string{"X-Request-ID", "req-1", "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, 202, true},
		{"schema violation", "POST", "/v1/orders", "application/json", invalid, nil, 422, false},
		{"not JSON", "POST", "/v1/orders", "application/json", []byte(`{"customer_id":`), nil, 400, false},
		{"not a JSON media type", "POST", "/v1/orders", "text/plain", order, nil, 415, false},
		{"broker unavailable", "POST", "/v1/orders", "application/json", unavailable, nil, 503, true},
		{"same path shape, other parameter name", "POST", "/v1/customers/8/events", "application/json", []byte(`{}`), nil, 202, true},
		{"no schema", "POST", "/v1/audit", "application/json", []byte(`[1, "two", {"three": 3}]`), nil, 202, true},
		{"path and header templates", "PUT", "/v1/customers/7/events", "application/json", []byte(`{}`), []string{"X-Tenant", "acme"}, 202, true},
		{"missing template header", "PUT", "/v1/customers/7/events", "application/json", []byte(`{}`), nil, 422, false},
		{"credentials required", "POST", "/v1/tenants/acme/orders", "application/json", order, []string{"X-Region", "eu"}, 401, true},
		{"credentials required, sync with on_timeout fail", "PATCH", "/v1/tenants/acme/orders/9", "application/json", []byte(`{"note": "x"}`), nil, 401, true},
		{"healthz", "GET", "/healthz", "", nil, nil, 200, true},
		{"readyz", "GET", "/readyz", "", nil, nil, 503, true},
		{"asyncapi.json", "GET", "/asyncapi.json", "", nil, nil, 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			newReq := func() *http.Request {
				req := httptest.NewRequest(tt.method, "http://ferry.test"+tt.path, bytes.NewReader(tt.body))
				if tt.ct != "" {
					req.Header.Set("Content-Type", tt.ct)
				}
				for i := 0; i+1 < len(tt.hdr); i += 2 {
					req.Header.Set(tt.hdr[i], tt.hdr[i+1])
				}
				return req
			}
			resp, body := call(t, srv, newReq())
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
			}

			req := newReq()
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("the document has no operation for %s %s: %v", tt.method, tt.path, err)
			}
			in := &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
			}
			err = openapi3filter.ValidateRequest(t.Context(), in)
			if tt.requestValid && err != nil {
				t.Errorf("the document refuses a request ferry accepts: %v", err)
			}
			if !tt.requestValid && err == nil {
				t.Errorf("the document accepts a request ferry refuses with %d", resp.StatusCode)
			}
			out := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in,
				Status:                 resp.StatusCode,
				Header:                 resp.Header,
				Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
			}
			out.SetBodyBytes(body)
			if err := openapi3filter.ValidateResponse(t.Context(), out); err != nil {
				t.Errorf("ferry's answer is not one the document describes: %v\n%d %s", err, resp.StatusCode, body)
			}
		})
	}
}

// TestOpenAPISecurity checks the security of each operation: auth: none
// routes and ferry's endpoints need nothing; others take either scheme
// with the route's scopes.
func TestOpenAPISecurity(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t, getDoc(t, docServer(t, &fakeProducer{}, docSchemas(t)), "/openapi.json"))
	if _, ok := doc.Components.SecuritySchemes["bearerAuth"]; !ok {
		t.Errorf("no bearerAuth scheme for the jwt section")
	}
	if s := doc.Components.SecuritySchemes["apiKey"]; s == nil || s.Value.In != "header" || s.Value.Name != "X-API-Key" {
		t.Errorf("apiKey scheme = %+v, want the X-API-Key header", s)
	}
	for _, tt := range []struct {
		method, path string
		want         string
	}{
		{"POST", "/v1/orders", "[]"},
		{"GET", "/healthz", "[]"},
		{"POST", "/v1/tenants/{tenant}/orders", `[{"apiKey":["orders:write"]},{"bearerAuth":["orders:write"]}]`},
		{"PATCH", "/v1/tenants/{tenant}/orders/{id}", `[{"apiKey":[]},{"bearerAuth":[]}]`},
	} {
		op := doc.Paths.Find(tt.path).GetOperation(tt.method)
		if op == nil || op.Security == nil {
			t.Errorf("%s %s: no operation or no security", tt.method, tt.path)
			continue
		}
		got, _ := json.Marshal(op.Security)
		if string(got) != tt.want {
			t.Errorf("%s %s security = %s, want %s", tt.method, tt.path, got, tt.want)
		}
	}
}

// TestOpenAPIMetrics: /metrics is described when it is served.
func TestOpenAPIMetrics(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	corr, res := ingress.FakeReplyDeps(nil)
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: &fakeProducer{}, Correlator: corr, Results: res}, ingress.WithMetrics(m), ingress.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	doc := loadOpenAPI(t, getDoc(t, srv, "/openapi.json"))
	if doc.Paths.Find("/metrics") == nil {
		t.Errorf("/metrics is served but not described")
	}
	if doc := loadOpenAPI(t, getDoc(t, docServer(t, &fakeProducer{}, nil), "/openapi.json")); doc.Paths.Find("/metrics") != nil {
		t.Errorf("/metrics is described but not served")
	}
}

// TestAPIDocsWithoutBundler builds the documents with a Validator that
// cannot hand out its schemas: they stay valid, naming each schema by $id.
func TestAPIDocsWithoutBundler(t *testing.T) {
	t.Parallel()
	srv := docServer(t, &fakeProducer{}, fakeValidator{})
	doc := loadOpenAPI(t, getDoc(t, srv, "/openapi.json"))
	s := doc.Paths.Find("/v1/orders").Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	if !strings.Contains(s.Description, orderSchema) {
		t.Errorf("request schema = %+v, want a description naming %s", s, orderSchema)
	}
	checkAsyncAPI(t, getDoc(t, srv, "/asyncapi.json"))
}

// asyncAPISchema compiles the official AsyncAPI 3.0.0 JSON Schema from
// apidocs/testdata/asyncapi.
func asyncAPISchema(tb testing.TB) *jsonschema.Schema {
	tb.Helper()
	const id = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
	c := jsonschema.NewCompiler()
	c.AssertFormat = true
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, errors.New("not fetching " + u)
	}
	if err := c.AddResource(id, bytes.NewReader(readFile(tb, "apidocs/testdata/asyncapi/3.0.0.json"))); err != nil {
		tb.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		tb.Fatalf("compile the AsyncAPI 3.0.0 schema: %v", err)
	}
	return sch
}

func decodeJSON(tb testing.TB, raw []byte) any {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// checkAsyncAPI checks a document against the official AsyncAPI 3.0.0
// JSON Schema, and what that schema cannot see: every $ref resolves inside
// the document, and each operation's messages belong to its channels.
func checkAsyncAPI(tb testing.TB, raw []byte) map[string]any {
	tb.Helper()
	doc := decodeJSON(tb, raw)
	if err := asyncAPISchema(tb).Validate(doc); err != nil {
		tb.Fatalf("/asyncapi.json is not a valid AsyncAPI 3.0.0 document: %#v", err)
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				if _, err := resolvePointer(doc, r); err != nil {
					tb.Errorf("%s: $ref %q: %v", at, r, err)
				}
			}
			for k, sub := range v {
				walk(sub, at+"/"+k)
			}
		case []any:
			for _, sub := range v {
				walk(sub, at+"/[]")
			}
		}
	}
	walk(doc, "")
	m := doc.(map[string]any)
	for name, op := range m["operations"].(map[string]any) {
		op := op.(map[string]any)
		ch := op["channel"].(map[string]any)["$ref"].(string)
		for _, msg := range op["messages"].([]any) {
			if r := msg.(map[string]any)["$ref"].(string); !strings.HasPrefix(r, ch+"/messages/") {
				tb.Errorf("operation %s: message %s is not one of its channel %s", name, r, ch)
			}
		}
		if reply, ok := op["reply"].(map[string]any); ok {
			rch := reply["channel"].(map[string]any)["$ref"].(string)
			for _, msg := range reply["messages"].([]any) {
				if r := msg.(map[string]any)["$ref"].(string); !strings.HasPrefix(r, rch+"/messages/") {
					tb.Errorf("operation %s: reply message %s is not one of its channel %s", name, r, rch)
				}
			}
		}
	}
	return m
}

// resolvePointer follows a same-document reference ("#/a/b").
func resolvePointer(doc any, ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, errors.New("not a same-document reference")
	}
	v := doc
	if p == "" {
		return v, nil
	}
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("no object at " + tok)
		}
		if v, ok = m[tok]; !ok {
			return nil, errors.New("no " + tok)
		}
	}
	return v, nil
}

// TestAsyncAPIValid checks /asyncapi.json against the official AsyncAPI
// 3.0.0 JSON Schema (shipped in apidocs/testdata/asyncapi), checks that the schema
// notices a broken document, and checks that the message payloads validate
// as the route schemas do.
func TestAsyncAPIValid(t *testing.T) {
	t.Parallel()
	set := docSchemas(t)
	raw := getDoc(t, docServer(t, &fakeProducer{}, set), "/asyncapi.json")
	doc := checkAsyncAPI(t, raw)

	// The official schema is not a rubber stamp.
	sch := asyncAPISchema(t)
	for name, breakIt := range map[string]func(m map[string]any){
		"no info": func(m map[string]any) { delete(m, "info") },
		"AsyncAPI 2 action": func(m map[string]any) {
			m["operations"].(map[string]any)["create-order"].(map[string]any)["action"] = "publish"
		},
		"server without url": func(m map[string]any) { delete(m["servers"].(map[string]any)["kafka"].(map[string]any), "host") },
	} {
		broken := decodeJSON(t, raw).(map[string]any)
		breakIt(broken)
		if err := sch.Validate(broken); err == nil {
			t.Errorf("the AsyncAPI schema accepts a document with %s", name)
		}
	}

	// Each route's message, and the reply message of place-order, reach
	// their schemas through the rewritten $refs.
	ops := doc["operations"].(map[string]any)
	for _, name := range []string{"create-order", "place-order", "amend-order", "customer-event", "customer-note", "audit"} {
		if _, ok := ops[name]; !ok {
			t.Errorf("no operation %s", name)
		}
	}
	if _, ok := ops["place-order"].(map[string]any)["reply"]; !ok {
		t.Errorf("place-order has no reply")
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	if err := c.AddResource("mem://asyncapi.json", bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	compile := func(ptr string) *jsonschema.Schema {
		s, err := c.Compile("mem://asyncapi.json#" + ptr)
		if err != nil {
			t.Fatalf("compile %s: %v", ptr, err)
		}
		return s
	}
	payload := compile("/components/messages/create-order/payload")
	if err := payload.Validate(decodeJSON(t, readFile(t, "../testdata/payloads/order.json"))); err != nil {
		t.Errorf("the create-order payload schema refuses the quickstart order: %v", err)
	}
	var ve *jsonschema.ValidationError
	if err := payload.Validate(decodeJSON(t, readFile(t, "../testdata/payloads/order-invalid.json"))); !errors.As(err, &ve) {
		t.Errorf("the create-order payload schema accepts the invalid order: %v", err)
	}
	reply := compile("/components/messages/place-order.reply/payload")
	if err := reply.Validate(decodeJSON(t, []byte(`{"order_id": "o-1", "status": "accepted", "total": 12.5}`))); err != nil {
		t.Errorf("the reply payload schema refuses a confirmation: %v", err)
	}
	if err := reply.Validate(decodeJSON(t, []byte(`{"order_id": "o-1", "status": "maybe", "total": -1}`))); err == nil {
		t.Errorf("the reply payload schema accepts a broken confirmation")
	}
	headers := compile("/components/messages/place-order/headers")
	if err := headers.Validate(decodeJSON(t, []byte(`{"ce_specversion": "1.0", "ce_id": "01a1fdb7-5238-798c-8b3a-2b3c4d5e6f70",
		"ce_source": "/ferry/routes/place-order", "ce_type": "com.example.order.place", "ce_time": "2026-01-02T03:04:05Z",
		"content-type": "application/json", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"x-region": "eu", "kafka_correlationId": "01a1fdb7-5238-798c-8b3a-2b3c4d5e6f70", "kafka_replyTopic": "orders.replies"}`))); err != nil {
		t.Errorf("the place-order headers schema refuses the headers ferry writes: %v", err)
	}
}
