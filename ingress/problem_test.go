package ingress

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestProblemTypesInDocs keeps docs/http-api.md's table in step with the
// append-only table in problem.go.
func TestProblemTypesInDocs(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, pt := range ProblemTypes {
		if seen[pt.Type] {
			t.Errorf("problem type %s appears twice in ProblemTypes", pt.Type)
		}
		seen[pt.Type] = true
		row := "| `" + pt.Type + "` | " + strconv.Itoa(pt.Status) + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("docs/http-api.md has no row starting %q", row)
		}
	}
}
