package ingress

import (
	"bytes"
	"strings"
	"testing"
)

func TestAppendSSE(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		id, event string
		data      string
		want      string
	}{
		{name: "one line", id: "1", event: "result", data: `{"a":1}`, want: "id: 1\nevent: result\ndata: {\"a\":1}\n\n"},
		{name: "empty data", data: "", want: "data: \n\n"},
		{name: "lines", id: "2", event: "progress", data: "a\nb\r\nc\rd", want: "id: 2\nevent: progress\ndata: a\ndata: b\ndata: c\ndata: d\n\n"},
		{name: "trailing newline", data: "x\n", want: "data: x\ndata: \n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendSSE(nil, tt.id, tt.event, []byte(tt.data))); got != tt.want {
				t.Errorf("appendSSE(%q, %q, %q) = %q, want %q", tt.id, tt.event, tt.data, got, tt.want)
			}
		})
	}
}

func TestParseResultEventID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int{"0": 0, "1": 1, "256": 256} {
		if got, ok := parseResultEventID(s); !ok || got != want {
			t.Errorf("parseResultEventID(%q) = %d, %v, want %d, true", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-1", "01", "+1", "1e3", "9999999", " 1", "a"} {
		if got, ok := parseResultEventID(s); ok {
			t.Errorf("parseResultEventID(%q) = %d, true, want false", s, got)
		}
	}
}

// FuzzAppendSSE frames arbitrary data as an SSE event.
//
// Invariants:
//   - the event ends with exactly one blank line and contains no other;
//   - reading it back as an SSE parser does (data lines joined by LF)
//     gives the data with every CRLF and CR turned into LF.
//
// Run: go test -run=^$ -fuzz=FuzzAppendSSE -fuzztime=30s ./ingress/
func FuzzAppendSSE(f *testing.F) {
	f.Add([]byte("a\nb\r\nc\r"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := appendSSE(nil, "7", "progress", data)
		if !bytes.HasSuffix(ev, []byte("\n\n")) || bytes.Contains(ev[:len(ev)-1], []byte("\n\n")) {
			t.Fatalf("appendSSE(%q) = %q: want one blank line, at the end", data, ev)
		}
		var lines []string
		for _, l := range strings.Split(string(ev[:len(ev)-2]), "\n") {
			if v, ok := strings.CutPrefix(l, "data: "); ok {
				lines = append(lines, v)
			}
		}
		want := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
		if got := strings.Join(lines, "\n"); got != want {
			t.Fatalf("appendSSE(%q) reads back as %q, want %q", data, got, want)
		}
	})
}
