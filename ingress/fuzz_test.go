package ingress_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
)

// FuzzPublish posts arbitrary bodies to the quickstart order route (schema
// and body key) and to a route without a schema, through app.Handler()
// with a fake producer.
//
// Invariants:
//   - the handler never panics and always answers;
//   - a body the route accepts (UTF-8, and schemas.Set.Validate is nil;
//     json.Valid without a schema) is published: 202, one message to the
//     route's topic whose value is the body, byte for byte;
//   - any other body publishes nothing: 400 malformed-json when it is not
//     JSON or not UTF-8 (which encoding/json and the Set would take), else
//     422 validation-failed whose errors are exactly the Set's violations,
//     complete and in the Set's order.
//
// Run: go test -run '^$' -fuzz FuzzPublish -fuzztime 30s ./ingress
func FuzzPublish(f *testing.F) {
	set, table := testSetAndTable(f)
	producer := &fakeProducer{}
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: producer, Validator: set}, ingress.WithLogger(testLogger()))
	if err != nil {
		f.Fatal(err)
	}
	h := srv.App().Handler()

	f.Add(readFile(f, "../testdata/payloads/order.json"))
	f.Add(readFile(f, "../testdata/payloads/order-invalid.json"))
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `{"a":`, `{"customer_id": "c", "items": []}`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 0}]}`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1e400, "price": 1}]}`,
		`{"customer_id": "\u00e9", "items": [{"sku": "A-1", "qty": 2, "price": 0.5}], "placed_at": "2025-03-14T09:26:53Z"}`,
		"{\"customer_id\": \"\xff\", \"items\": [{\"sku\": \"A\", \"qty\": 1, \"price\": 1}]}",
	} {
		f.Add([]byte(s))
	}
	const orderID = "https://example.com/schemas/order.json"
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, route := range []struct{ path, topic, schema string }{
			{"/v1/orders", "orders", orderID},
			{"/v1/anything", "anything", ""},
		} {
			producer.Reset()
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI(route.path)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBody(body)
			h(&ctx)
			status, resp := ctx.Response.StatusCode(), ctx.Response.Body()
			produced := producer.Messages()

			var verr error
			if !utf8.Valid(body) {
				verr = schemas.ErrNotJSON
			} else if route.schema != "" {
				verr = set.Validate(route.schema, body)
			} else if !json.Valid(body) {
				verr = schemas.ErrNotJSON
			}
			var ve *schemas.ValidationError
			switch {
			case verr == nil && len(body) > 0:
				if status != 202 || len(produced) != 1 {
					t.Fatalf("POST %s %q = %d %s with %d messages; the body is valid, want 202 and one message", route.path, body, status, resp, len(produced))
				}
				if m := produced[0]; m.Topic != route.topic || !bytes.Equal(m.Value, body) {
					t.Fatalf("POST %s %q produced %q to %s, want the body to %s", route.path, body, m.Value, m.Topic, route.topic)
				}
			case len(produced) != 0:
				t.Fatalf("POST %s %q = %d %s produced %d messages; the body is invalid, want none", route.path, body, status, resp, len(produced))
			case errors.As(verr, &ve):
				p := decodeProblem(t, resp)
				if status != 422 || p.Type != problem.Validation.URI {
					t.Fatalf("POST %s %q = %d %s, want 422 validation-failed", route.path, body, status, resp)
				}
				if diff := cmp.Diff(ve.Violations, p.Errors); diff != "" {
					t.Fatalf("POST %s %q: problem errors differ from the Set's violations (-set +problem):\n%s", route.path, body, diff)
				}
			default: // not JSON, or empty
				if p := decodeProblem(t, resp); status != 400 || p.Type != problem.MalformedJSON.URI {
					t.Fatalf("POST %s %q = %d %s, want 400 malformed-json", route.path, body, status, resp)
				}
			}
		}
	})
}

// problemBody is a problem+json body with its violations typed.
type problemBody struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail"`
	Instance  string              `json:"instance"`
	RequestID string              `json:"request_id"`
	Errors    []schemas.Violation `json:"errors"`
}

func decodeProblem(tb testing.TB, b []byte) problemBody {
	tb.Helper()
	var p problemBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		tb.Fatalf("problem body %q: %v", b, err)
	}
	return p
}
