package consumers

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestValidJSONStrings checks ValidJSON against encoding/json on strings
// of every length up to past where plainRun turns to longRun, with each
// kind of special byte (or an escape) at each position, alone or after
// another one: the cases where the word-at-a-time and the IndexByte scans
// hand over.
func TestValidJSONStrings(t *testing.T) {
	t.Parallel()
	specials := []string{`"`, `\`, `\"`, `\\`, `\n`, `\u00e9`, `\u12g4`, "\x00", "\x01", "\x1f", "\x7f", "é", "\xff", " "}
	for n := range 70 {
		for p := range n + 1 {
			for _, sp := range specials {
				for _, more := range []string{"", `"`, `\`, "\x01", `\"`} {
					s := strings.Repeat("x", p) + sp + strings.Repeat("y", n-p) + more
					for _, doc := range []string{`"` + s + `"`, `["` + s + `",1]`, `{"` + s + `":"` + s + `"}`} {
						if got, want := ValidJSON([]byte(doc)), json.Valid([]byte(doc)); got != want {
							t.Fatalf("ValidJSON(%q) = %v, json.Valid = %v", doc, got, want)
						}
					}
				}
			}
		}
	}
}
