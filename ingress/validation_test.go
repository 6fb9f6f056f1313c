package ingress_test

import (
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// TestValidationProblem posts the quickstart's invalid order through the
// whole HTTP path and checks the answer: a 422 problem whose errors list
// every violation the Set finds, in the Set's stable order, the same body
// every time (testdata/problems/validation-failed.json, with the request
// id masked), and nothing produced.
func TestValidationProblem(t *testing.T) {
	t.Parallel()
	set, err := schemas.Load("../testdata/schemas")
	if err != nil {
		t.Fatal(err)
	}
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		t.Fatal(err)
	}
	producer := &fakeProducer{}
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: producer, Validator: set}, ingress.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	invalid := readFile(t, "../testdata/payloads/order-invalid.json")
	var ve *schemas.ValidationError
	if err := set.Validate("https://example.com/schemas/order.json", invalid); !errors.As(err, &ve) {
		t.Fatalf("Validate(order-invalid.json) = %v, want violations", err)
	}
	requestID := regexp.MustCompile(`"request_id":"[0-9a-f]{32}"`)
	var first string
	for i := range 20 {
		req := httptest.NewRequest("POST", "/v1/orders", strings.NewReader(string(invalid)))
		req.Header.Set("Content-Type", "application/json")
		resp, body := call(t, srv, req)
		if resp.StatusCode != 422 {
			t.Fatalf("POST /v1/orders (invalid) = %d %s, want 422", resp.StatusCode, body)
		}
		p := decodeProblem(t, body)
		if diff := cmp.Diff(ve.Violations, p.Errors); diff != "" {
			t.Fatalf("problem errors differ from the Set's violations (-set +problem):\n%s", diff)
		}
		got := requestID.ReplaceAllString(string(body), `"request_id":"REQUEST-ID"`)
		if i == 0 {
			first = got
			checkGolden(t, "testdata/problems/validation-failed.json", []byte(got+"\n"))
		} else if got != first {
			t.Fatalf("request %d answered differently:\n%s\nfirst:\n%s", i, got, first)
		}
	}
	if n := len(producer.Messages()); n != 0 {
		t.Errorf("%d messages produced for invalid requests, want none", n)
	}
}
