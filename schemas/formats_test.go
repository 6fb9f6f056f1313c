package schemas

import (
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// formatSeeds are values around every rule of the quick answers.
var formatSeeds = []string{
	"ada@example.com", "a.b-c+d@mail.example.co.uk", "x@y", "a..b@example.com", ".a@example.com", "a.@example.com",
	"@example.com", "a@", "a@-example.com", "a@example-.com", "a@example..com", "a@example.com.", "a@[127.0.0.1]",
	`"quoted"@example.com`, "a@b@example.com", "é@example.com", "a@exa_mple.com", "a b@example.com",
	strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 65) + "@example.com",
	"a@" + strings.Repeat("b", 63) + ".com", "a@" + strings.Repeat("b", 64) + ".com",
	"2025-01-31", "2025-02-28", "2025-02-29", "2024-02-29", "2025-04-31", "2025-13-01", "2025-00-10", "2025-01-00",
	"2025-1-01", "+025-01-01", "2025/01/01", "0000-01-01",
	"2025-01-31T12:00:00Z", "2025-01-31t12:00:00z", "2025-01-31T23:59:59.999999999+14:00", "2025-01-31T00:00:00-00:00",
	"2025-01-31T24:00:00Z", "2025-01-31T12:60:00Z", "2025-12-31T23:59:60Z", "2025-01-31T12:00:00.Z", "2025-01-31T12:00:00",
	"2025-01-31T12:00:00+1:00", "2025-01-31T12:00:00+24:00", "2025-01-31T12:00:00+02:60", "2025-01-31 12:00:00Z",
	"2025-01-31T+1:00:00Z", "2025-01-31T12:00:00ZZ", "2025-01-31T12:00:00+02:00x",
}

// FuzzQuickFormats checks the quick answers against v5: v5 accepts every
// value a quick answer accepts.
//
// Run: go test -run=^$ -fuzz=FuzzQuickFormats -fuzztime=60s ./schemas/
func FuzzQuickFormats(f *testing.F) {
	for _, s := range formatSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, quick := range quickFormats {
			if quick([]byte(s)) && !jsonschema.Formats[name](s) {
				t.Fatalf("format %s: the quick answer accepts %q, v5 does not", name, s)
			}
		}
	})
}

// TestQuickFormatsDecide checks that the quick answers take the plain
// values, which is their point, and leave the rest to v5; and that the
// fast path's checker gives v5's verdict either way.
func TestQuickFormatsDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format, value string
		quick         bool
	}{
		{"email", "ada@example.com", true},
		{"email", "first.last+tag@mail.example.co.uk", true},
		{"email", `"quoted"@example.com`, false},
		{"email", "a@[127.0.0.1]", false},
		{"email", "a..b@example.com", false},
		{"date", "2025-01-31", true},
		{"date", "2024-02-29", false}, // valid, but left to v5
		{"date", "2025-02-29", false},
		{"date-time", "2025-01-31T12:00:00Z", true},
		{"date-time", "2025-01-31T12:00:00.123+02:00", true},
		{"date-time", "2016-12-31T23:59:60Z", false}, // a leap second: v5's
		{"date-time", "2025-01-31T12:00:00", false},
	}
	for _, tt := range tests {
		if got := quickFormats[tt.format]([]byte(tt.value)); got != tt.quick {
			t.Errorf("quick %s(%q) = %v, want %v", tt.format, tt.value, got, tt.quick)
		}
		v5 := jsonschema.Formats[tt.format]
		if got, want := formatCheck(tt.format, v5)([]byte(tt.value)), v5(tt.value); got != want {
			t.Errorf("formatCheck %s(%q) = %v, v5 says %v", tt.format, tt.value, got, want)
		}
	}
}
