package problem_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-gw/ferry/consumers/respond"
	"github.com/ferry-gw/ferry/ingress/problem"
)

// TestTypesInDocs keeps docs/http-api.md's table in step with the
// append-only catalog.
func TestTypesInDocs(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, pt := range problem.Types {
		if seen[pt.URI] {
			t.Errorf("problem type %s appears twice in Types", pt.URI)
		}
		seen[pt.URI] = true
		row := "| `" + pt.URI + "` | " + strconv.Itoa(pt.Status) + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("docs/http-api.md has no row starting %q", row)
		}
	}
}

// TestResponderFailed: the responder SDK writes the catalog's type, which
// problem cannot import it from.
func TestResponderFailed(t *testing.T) {
	t.Parallel()
	if problem.ResponderFailed.URI != respond.ProblemResponderFailed {
		t.Errorf("ResponderFailed.URI = %q, the SDK writes %q", problem.ResponderFailed.URI, respond.ProblemResponderFailed)
	}
}

// TestErrorBody: Body renders every field RFC 9457 and ferry name; the
// cause stays out.
func TestErrorBody(t *testing.T) {
	t.Parallel()
	e := &problem.Error{Type: problem.Validation, Detail: "d", Errors: []string{"x"}, RetryAfter: 1, Cause: os.ErrNotExist}
	b, err := e.Body("/v1/orders", "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"urn:ferry:problem:validation-failed","title":"Request Body Violates Its Schema","status":422,"detail":"d","instance":"/v1/orders","request_id":"r1","errors":["x"]}`
	if string(b) != want {
		t.Errorf("Body = %s, want %s", b, want)
	}
	if !strings.Contains(e.Error(), os.ErrNotExist.Error()) {
		t.Errorf("Error() = %q, want the cause for the log", e.Error())
	}
}
