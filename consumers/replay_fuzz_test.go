package consumers

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/topics"
)

// FuzzReplayRange parses untrusted from/to query values.
//
// Invariants: ParseRange never panics; it fails only with ErrBadPosition
// or ErrInvalidRange;
// a parsed Range formats (String) to text that parses back to an equal
// Range; offsets and partitions are never negative, partitions are sorted
// and unique; two times (or two durations) are never inverted.
func FuzzReplayRange(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"earliest", "latest"}, {"0:0", "0:10,1:3"}, {"-15m", "-5m"},
		{"2026-01-02T15:04:05Z", "2026-01-02T16:04:05.123+02:00"}, {"2026-01-02T15:04:05 02:00", ""},
		{"-1h30m", "latest"}, {"4294967296:1", ""}, {"0:1,0:2", ""}, {"-9999999h", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, from, to string) {
		r, err := ParseRange(from, to)
		if err != nil {
			if !errors.Is(err, ErrBadPosition) && !errors.Is(err, ErrInvalidRange) {
				t.Fatalf("ParseRange(%q, %q) error %v wraps neither ErrBadPosition nor ErrInvalidRange", from, to, err)
			}
			return
		}
		for _, p := range []Position{r.From, r.To} {
			for i, o := range p.Offsets {
				if o.Partition < 0 || o.Offset < 0 {
					t.Fatalf("negative offset in %v", p)
				}
				if i > 0 && p.Offsets[i-1].Partition >= o.Partition {
					t.Fatalf("offsets not sorted and unique: %v", p.Offsets)
				}
			}
			if p.Kind == PositionAgo && p.Ago <= 0 {
				t.Fatalf("non-positive duration %v", p.Ago)
			}
		}
		if r.From.Kind == PositionTime && r.To.Kind == PositionTime && r.From.Time.After(r.To.Time) {
			t.Fatalf("inverted range %v..%v", r.From, r.To)
		}
		again, err := ParseRange(r.From.String(), r.To.String())
		if err != nil {
			t.Fatalf("ParseRange(%q, %q) (formatted from %q, %q): %v", r.From, r.To, from, to, err)
		}
		if diff := cmp.Diff(r, again); diff != "" {
			t.Fatalf("round trip of %q, %q (-first +second):\n%s", from, to, diff)
		}
	})
}

// FuzzRecordJSON encodes records of arbitrary bytes.
//
// Invariants: AppendJSON always writes one line of valid UTF-8 JSON that
// UnmarshalJSON reads back to the same record, except that a JSON value
// comes back as equivalent JSON (the same once compacted; a JSON null value
// as a null value).
func FuzzRecordJSON(f *testing.F) {
	f.Add("orders", []byte("c-42"), []byte(`{"a": [1, 2]}`), "ce_type", []byte("x"))
	f.Add("t", []byte{0xff, 0}, []byte("plain text\n"), "h", []byte{0x80})
	f.Add("t\n\"", []byte(nil), []byte("{\n \"multi\": \"line\"\n}"), "", []byte(nil))
	f.Add("t", []byte(""), []byte(""), "k", []byte("\u2028\t"))
	f.Fuzz(func(t *testing.T, topic string, key, value []byte, hk string, hv []byte) {
		if !utf8.ValidString(topic) || !utf8.ValidString(hk) {
			t.Skip("topic names and header keys are strings")
		}
		in := Record{Topic: topic, Partition: 3, Offset: 99, Timestamp: time.UnixMilli(1767366245123).UTC(),
			Key: key, Value: value, Headers: []topics.Header{{Key: hk, Value: hv}}}
		line := in.AppendJSON(nil)
		if bytes.ContainsAny(line, "\r\n") || !utf8.Valid(line) || !json.Valid(line) {
			t.Fatalf("AppendJSON wrote %q: not one line of valid JSON", line)
		}
		var out Record
		if err := json.Unmarshal(line, &out); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", line, err)
		}
		want := in
		want.Headers = []topics.Header{{Key: hk, Value: nonNil(hv)}}
		if json.Valid(value) && utf8.Valid(value) && len(value) > 0 {
			want.Value, out.Value = compact(value), compact(out.Value)
			if string(want.Value) == "null" {
				want.Value = nil
			}
		} else if value != nil {
			want.Value = nonNil(value)
		}
		if key != nil {
			want.Key = nonNil(key)
		}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Fatalf("round trip of %s (-want +got):\n%s", line, diff)
		}
	})
}

func compact(b []byte) []byte {
	if b == nil {
		return nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return b
	}
	return out.Bytes()
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// FuzzValidJSON differentially tests ValidJSON against encoding/json.
//
// Invariant: ValidJSON(b) == json.Valid(b) for every input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,-0,true,false,null,"x\u00e9\n"]}`, ` [] `, `{}`, `"`, `01`, `1.`, `-`, `1e`, `[1,]`,
		`{"a" 1}`, `{"a":1,}`, "\"\x01\"", `"\x"`, `"\u12g4"`, `nul`, `[[[[]]]]`, "\xef\xbb\xbf{}", `1 2`, `{"a":{"b":[{}]}}`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 10000) + strings.Repeat("]", 10000)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := ValidJSON(b), json.Valid(b); got != want {
			t.Fatalf("ValidJSON(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}
