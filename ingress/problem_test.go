package ingress_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-gw/ferry/ingress"
)

// TestProblemTypesInREADME keeps the README's table of problem types in
// step with ProblemTypes (STYLE.md rule 13): each type with its status.
func TestProblemTypesInREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range ingress.ProblemTypes {
		row := "| `" + pt.Type + "` | " + strconv.Itoa(pt.Status) + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md has no row %q for problem type %s", row, pt.Title)
		}
	}
}
