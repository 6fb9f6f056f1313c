package consumers

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCursorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		c    Cursor
		err  bool
	}{
		{text: "0", c: Cursor{0}},
		{text: "0.1b.z", c: Cursor{0, 47, 35}},
		{text: "1y2p0ij32e8e7", c: Cursor{1<<63 - 1}},
		{text: "1y2p0ij32e8e8", err: true}, // overflows int64
		{text: "", err: true},
		{text: "01", err: true},
		{text: "1..2", err: true},
		{text: "1.", err: true},
		{text: "A", err: true},
		{text: "-1", err: true},
		{text: "1 ", err: true},
	}
	for _, tt := range tests {
		c, err := ParseCursor(tt.text)
		if tt.err {
			if !errors.Is(err, ErrBadPosition) {
				t.Errorf("ParseCursor(%q) = %v, %v; want ErrBadPosition", tt.text, c, err)
			}
			continue
		}
		if err != nil || !c.Equal(tt.c) {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v", tt.text, c, err, tt.c)
		}
		if got := tt.c.String(); got != tt.text {
			t.Errorf("%v.String() = %q, want %q", tt.c, got, tt.text)
		}
		if n := tt.c.textLen(); n != len(tt.text) {
			t.Errorf("%v.textLen() = %d, want %d", tt.c, n, len(tt.text))
		}
	}
}

func TestParseFrom(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for s, want := range map[string]string{
		"earliest":                  "earliest",
		"latest":                    "latest",
		"-5m":                       "2026-01-02T02:59:05Z",
		"2026-01-01T00:00:00+01:00": "2025-12-31T23:00:00Z",
		"2026-01-01T00:00:00.25Z":   "2026-01-01T00:00:00.25Z",
	} {
		st, err := ParseFrom(s, now)
		if err != nil || st.String() != want {
			t.Errorf("ParseFrom(%q) = %v, %v; want %s", s, st, err, want)
		}
	}
	for _, s := range []string{"", "now", "5m", "-0s", "--5m", "-5", "2026-01-01", "-1000000h"} {
		if _, err := ParseFrom(s, now); !errors.Is(err, ErrBadPosition) {
			t.Errorf("ParseFrom(%q) = %v, want ErrBadPosition", s, err)
		}
	}
}

func TestHubConfig(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(HubConfig{Buffer: DefaultBuffer, History: DefaultHistory}, HubConfig{}.WithDefaults()); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if got := (HubConfig{Buffer: 10000}).WithDefaults().History; got != 10000 {
		t.Errorf("history with a larger buffer = %d, want 10000", got)
	}
	if err := (HubConfig{Buffer: 100, History: 10}).Validate(); err == nil {
		t.Error("history < buffer validated")
	}
	if err := (HubConfig{Buffer: -1}).Validate(); err == nil {
		t.Error("negative buffer validated")
	}
}

// BenchmarkCursor measures the position encoding of every SSE event id:
// appending a 12-partition cursor, and parsing one back (Last-Event-ID).
func BenchmarkCursor(b *testing.B) {
	c := make(Cursor, 12)
	for i := range c {
		c[i] = int64(i) * 1_234_567
	}
	text := c.String()
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 128)
		for b.Loop() {
			buf = c.Append(buf[:0])
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseCursor(text); err != nil {
				b.Fatal(err)
			}
		}
	})
}
