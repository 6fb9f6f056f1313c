package consumers

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseCursor checks the cursor text format. Invariants: ParseCursor
// never panics; what it accepts formats back to the same text and has no
// negative offset; what it refuses wraps ErrBadPosition; and the text of
// any cursor is made of [0-9a-z.] only, safe in an SSE id line.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"0", "1.2.3", "z.10.0", "1y2p0ij32e8e7", "1y2p0ij32e8e8", "00", "1..2", "", "1.", "Z", "+1", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			if !errors.Is(err, ErrBadPosition) {
				t.Errorf("ParseCursor(%q) = %v, want ErrBadPosition", s, err)
			}
			return
		}
		if got := c.String(); got != s || c.textLen() != len(s) {
			t.Errorf("ParseCursor(%q).String() = %q (textLen %d)", s, got, c.textLen())
		}
		for _, o := range c {
			if o < 0 {
				t.Errorf("ParseCursor(%q) has offset %d", s, o)
			}
		}
		if strings.Trim(s, "0123456789abcdefghijklmnopqrstuvwxyz.") != "" {
			t.Errorf("ParseCursor(%q) accepted characters outside [0-9a-z.]", s)
		}
	})
}

// FuzzParseFrom checks `from` parsing. Invariants: it never panics; errors
// wrap ErrBadPosition; a duration ago is never in the future.
func FuzzParseFrom(f *testing.F) {
	for _, s := range []string{"earliest", "latest", "-5m", "-1h30m", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123+02:00", "-0s", "--5m", "-+5m", "5m", "-9999999h", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseFrom(s, now)
		if err != nil {
			if !errors.Is(err, ErrBadPosition) {
				t.Errorf("ParseFrom(%q) = %v, want ErrBadPosition", s, err)
			}
			return
		}
		if strings.HasPrefix(s, "-") && (st.kind != startTime || st.time.After(now)) {
			t.Errorf("ParseFrom(%q) = %v, want a time before now", s, st)
		}
	})
}
