package schemas

import "regexp/syntax"

// asciiRun decides the most common pattern of a schema, a whole string
// of characters from one ASCII class (^[A-Z0-9-]+$, ^\d{4}$, ^[a-z_]*$),
// with a byte table instead of the regexp engine, and with the regexp's
// verdict: every byte of an ASCII string is a character, and a byte
// outside ASCII is in no ASCII class, whether it starts a rune or is not
// UTF-8 at all (the regexp reads that as U+FFFD).
type asciiRun struct {
	in       [256]bool
	min, max int // characters; max -1: no bound
}

// compileASCIIRun returns the asciiRun for a pattern of the form
// ^C+$, ^C*$, ^C{m}$, ^C{m,}$ or ^C{m,n}$ where C is a character class
// of ASCII characters only (Go regexp syntax, as jsonschema v5 compiles
// it), else nil.
func compileASCIIRun(expr string) *asciiRun {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) != 3 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[2].Op != syntax.OpEndText {
		return nil
	}
	rep := re.Sub[1]
	r := &asciiRun{max: -1}
	switch rep.Op {
	case syntax.OpPlus:
		r.min = 1
	case syntax.OpStar:
	case syntax.OpRepeat:
		r.min, r.max = rep.Min, rep.Max
	default:
		return nil
	}
	if len(rep.Sub) != 1 || rep.Sub[0].Op != syntax.OpCharClass {
		return nil
	}
	ranges := rep.Sub[0].Rune
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if hi > 0x7f {
			return nil
		}
		for c := lo; c <= hi; c++ {
			r.in[c] = true
		}
	}
	return r
}

// match reports whether the regexp would match s.
func (r *asciiRun) match(s []byte) bool {
	if len(s) < r.min || (r.max >= 0 && len(s) > r.max) {
		return false
	}
	for _, c := range s {
		if !r.in[c] {
			return false
		}
	}
	return true
}
