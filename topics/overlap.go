package topics

import (
	"fmt"
	"strings"
)

// builtinEndpoints are the endpoints ferry serves itself for every method
// (the listed ones, and a 405 for the others), registered before the
// routes: a parameterised route that matches one of their paths never gets
// those requests. (The GET-only endpoints cannot collide: routes are never
// GET.)
var builtinEndpoints = []struct{ path, methods string }{
	{"/v1/topics", "GET"},
	{"/v1/topics/{topic}", "GET"},
	{"/v1/replay/{topic}", "GET"},
	{"/v1/replay/{topic}/redrive", "POST"},
}

// Overlaps reports routes that share requests with another endpoint: two
// routes of one method whose paths match a common request path without
// being the same endpoint (POST /v1/{kind} and POST /v1/orders), and
// routes whose parameters match an endpoint ferry serves itself
// (/v1/topics). The route listed first answers such a request. Each report
// starts with the field path of the route that loses requests. They are
// warnings, not errors: an overlap may be meant.
func (t *Table) Overlaps() []string {
	var out []string
	for j, b := range t.routes {
		bs := segments(b.Path)
		for _, e := range builtinEndpoints {
			if common, ok := commonPath(segments(e.path), bs); ok {
				out = append(out, fmt.Sprintf("routes[%d].path: %s %s also matches %s, which ferry serves itself (%s; other methods get 405): %s %s never reaches the route",
					j, b.Method, b.Path, e.path, e.methods, b.Method, common))
			}
		}
		for i, a := range t.routes[:j] {
			if a.Method != b.Method {
				continue
			}
			common, ok := commonPath(segments(a.Path), bs)
			if !ok {
				continue
			}
			msg := fmt.Sprintf("routes[%d].path: %s %s overlaps routes[%d] (%s %s): routes[%d] is listed first and answers %s %s",
				j, b.Method, b.Path, i, a.Method, a.Path, i, a.Method, common)
			if common == b.Path {
				msg += fmt.Sprintf(", so routes[%d] never receives a request; list it first", j)
			}
			out = append(out, msg)
		}
	}
	return out
}

func segments(path string) []string { return strings.Split(strings.TrimPrefix(path, "/"), "/") }

// commonPath reports whether two paths of {param} and literal segments
// match a common request path, and returns the most literal one of them:
// a literal where either path has one, else the second path's parameter.
// Two paths of the same shape (the same endpoint, refused by NewTable)
// are not an overlap.
func commonPath(a, b []string) (string, bool) {
	if len(a) != len(b) {
		return "", false
	}
	same := true
	var sb strings.Builder
	for i := range a {
		pa, pb := strings.HasPrefix(a[i], "{"), strings.HasPrefix(b[i], "{")
		seg := b[i]
		switch {
		case pa && pb:
		case pa:
			same = false
		case pb:
			same, seg = false, a[i]
		case a[i] != b[i]:
			return "", false
		}
		sb.WriteString("/" + seg)
	}
	return sb.String(), !same
}
