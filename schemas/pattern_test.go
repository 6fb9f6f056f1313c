package schemas

import (
	"regexp"
	"testing"
)

// runPatterns are patterns compileASCIIRun takes (true) or leaves to the
// regexp (false). Case folding takes [a-z] beyond ASCII: (?i)k matches
// U+212A, the Kelvin sign.
var runPatterns = map[string]bool{
	`^[A-Z0-9-]+$`: true, `^\d{4}$`: true, `^[a-z_]*$`: true, `^[a-f0-9]{8,64}$`: true, `^[[:alpha:]]{2,}$`: true,
	`^[^"\\]+$`: false, `^[A-Z]+`: false, `[A-Z]+$`: false, `^.+$`: false, `^a+$`: false, `^[é]+$`: false,
	`^(?i)[a-z]+$`: false, `(?i)^[a-z]+$`: false, `(?i)^[0-9]+$`: true, `^[A-Z]+?$`: true, `^$`: false, `^[a-z]{0}$`: true,
}

func TestCompileASCIIRun(t *testing.T) {
	for expr, want := range runPatterns {
		if got := compileASCIIRun(expr) != nil; got != want {
			t.Errorf("compileASCIIRun(%q) taken = %v, want %v", expr, got, want)
		}
	}
}

// FuzzASCIIRun differentially tests asciiRun against Go's regexp, which
// jsonschema v5 uses for pattern.
//
// Invariant: for every pattern compileASCIIRun takes and every input,
// match(s) == regexp.Match(s).
func FuzzASCIIRun(f *testing.F) {
	for _, s := range []string{"", "A", "AB-1", "ab", "1234", "12345", "a_b", "\xff", "é", "A\n", "\nA", "ABC\x00", "deadbeef", "zz"} {
		f.Add([]byte(s))
	}
	var runs []*asciiRun
	var res []*regexp.Regexp
	for expr, taken := range runPatterns {
		if taken {
			runs = append(runs, compileASCIIRun(expr))
			res = append(res, regexp.MustCompile(expr))
		}
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		for i, r := range runs {
			if got, want := r.match(s), res[i].Match(s); got != want {
				t.Fatalf("%s: match(%q) = %v, regexp says %v", res[i], s, got, want)
			}
		}
	})
}
