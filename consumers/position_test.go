package consumers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParsePosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Position
		err  bool
	}{
		{name: "earliest", in: "earliest", want: Position{Kind: PositionEarliest}},
		{name: "latest upper case", in: "LATEST", want: Position{Kind: PositionLatest}},
		{name: "one offset", in: "0:120", want: Position{Kind: PositionOffsets, Offsets: []PartitionOffset{{0, 120}}}},
		{name: "offsets sorted", in: "2:5,0:7,1:0", want: Position{Kind: PositionOffsets, Offsets: []PartitionOffset{{0, 7}, {1, 0}, {2, 5}}}},
		{name: "time", in: "2026-01-02T15:04:05Z", want: Position{Kind: PositionTime, Time: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)}},
		{name: "time with offset", in: "2026-01-02T16:04:05.5+01:00", want: Position{Kind: PositionTime, Time: time.Date(2026, 1, 2, 15, 4, 5, 5e8, time.UTC)}},
		{name: "time with + unescaped", in: "2026-01-02T16:04:05 01:00", want: Position{Kind: PositionTime, Time: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)}},
		{name: "duration", in: "-15m", want: Position{Kind: PositionAgo, Ago: 15 * time.Minute}},
		{name: "compound duration", in: "-1h30m", want: Position{Kind: PositionAgo, Ago: 90 * time.Minute}},
		{name: "empty", in: "", err: true},
		{name: "bare number", in: "42", err: true},
		{name: "duplicate partition", in: "0:1,0:2", err: true},
		{name: "negative offset", in: "0:-1", err: true},
		{name: "leading zero", in: "01:1", err: true},
		{name: "partition too large", in: "2147483648:0", err: true},
		{name: "missing offset", in: "0:", err: true},
		{name: "trailing comma", in: "0:1,", err: true},
		{name: "zero duration", in: "-0s", err: true},
		{name: "double negative", in: "--5m", err: true},
		{name: "positive duration", in: "15m", err: true},
		{name: "date only", in: "2026-01-02", err: true},
		{name: "garbage", in: "yesterday", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePosition(tt.in)
			if tt.err {
				if !errors.Is(err, ErrBadPosition) {
					t.Errorf("ParsePosition(%q) = %v, %v; want an error wrapping ErrBadPosition", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePosition(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParsePosition(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from, to string
		want     string // "from..to", or "" for an error
	}{
		{"defaults", "", "", "earliest..latest"},
		{"offsets", "0:5", "0:9", "0:5..0:9"},
		{"times", "2026-01-02T15:00:00Z", "2026-01-02T16:00:00Z", "2026-01-02T15:00:00Z..2026-01-02T16:00:00Z"},
		{"durations", "-2h", "-1h", "-2h0m0s..-1h0m0s"},
		{"inverted times", "2026-01-02T16:00:00Z", "2026-01-02T15:00:00Z", ""},
		{"inverted durations", "-1h", "-2h", ""},
		{"inverted offsets", "0:9", "0:5", ""},
		{"inverted latest", "latest", "earliest", ""},
		{"inverted to earliest", "-1h", "earliest", ""},
		{"offsets of other partitions", "0:9", "1:5", "0:9..1:5"},
		{"bad from", "x", "", ""},
		{"bad to", "", "x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseRange(tt.from, tt.to)
			if tt.want == "" {
				want := ErrBadPosition
				if strings.HasPrefix(tt.name, "inverted") {
					want = ErrInvalidRange // one rule for every inverted range
				}
				if !errors.Is(err, want) {
					t.Errorf("ParseRange(%q, %q) = %v, %v; want %v", tt.from, tt.to, r, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRange(%q, %q): %v", tt.from, tt.to, err)
			}
			if got := r.From.String() + ".." + r.To.String(); got != tt.want {
				t.Errorf("ParseRange(%q, %q) = %s, want %s", tt.from, tt.to, got, tt.want)
			}
		})
	}
}
