package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

var updateSSE = flag.Bool("update-sse", false, "rewrite the golden files of TestSSEFramingGolden")

// sseCase is the input half of a testdata/sse golden file.
type sseCase struct {
	Kind      string      `json:"kind"` // event, envelope, preamble, heartbeat, end
	ID        string      `json:"id"`
	Type      string      `json:"type"`
	Key       *string     `json:"key"`
	KeyB64    string      `json:"key_b64"`
	Value     string      `json:"value"`
	ValueB64  string      `json:"value_b64"`
	Headers   [][2]string `json:"headers"`
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Timestamp time.Time   `json:"timestamp"`
	Retry     string      `json:"retry"`
	Reason    string      `json:"reason"`
	Detail    string      `json:"detail"`
}

func (c sseCase) delivery(t *testing.T) consumers.Delivery {
	e := &consumers.Event{Partition: c.Partition, Offset: c.Offset, Value: []byte(c.Value), Timestamp: c.Timestamp}
	if c.Key != nil {
		e.Key = []byte(*c.Key)
	}
	var err error
	if c.KeyB64 != "" {
		if e.Key, err = base64.StdEncoding.DecodeString(c.KeyB64); err != nil {
			t.Fatal(err)
		}
	}
	if c.ValueB64 != "" {
		if e.Value, err = base64.StdEncoding.DecodeString(c.ValueB64); err != nil {
			t.Fatal(err)
		}
	}
	if c.Type != "" {
		e.Headers = append(e.Headers, topics.Header{Key: topics.HeaderType, Value: []byte(c.Type)})
	}
	for _, h := range c.Headers {
		e.Headers = append(e.Headers, topics.Header{Key: h[0], Value: []byte(h[1])})
	}
	return consumers.Delivery{Event: e, ID: c.ID}
}

// TestSSEFramingGolden renders each testdata/sse/NAME.txt (a JSON case, a
// line of dashes, the exact bytes on the wire) and compares.
func TestSSEFramingGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/sse/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	const sep = "\n----------\n"
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(raw), sep)
			if !ok {
				t.Fatalf("%s: no %q separator", f, strings.TrimSpace(sep))
			}
			var c sseCase
			dec := json.NewDecoder(strings.NewReader(in))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var got []byte
			switch c.Kind {
			case "event", "envelope":
				d := c.delivery(t)
				b := &Body{envelope: c.Kind == "envelope"}
				got = b.appendDelivery(nil, &d)
			case "preamble":
				retry, err := time.ParseDuration(c.Retry)
				if err != nil {
					t.Fatal(err)
				}
				got = appendPreamble(nil, retry, c.ID)
			case "heartbeat":
				got = appendHeartbeat(nil, c.ID)
			case "end":
				got = appendEnd(nil, c.Reason, c.Detail)
			default:
				t.Fatalf("unknown kind %q", c.Kind)
			}
			if *updateSSE {
				if err := os.WriteFile(f, []byte(in+sep+string(got)), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", f, diff)
			}
		})
	}
}

// parseSSE reads frames the way the WHATWG EventSource does and returns
// each dispatched event's (id, event, data).
func parseSSE(stream []byte) [][3]string {
	var out [][3]string
	var id, event string
	var data []string
	hasData := false
	text := strings.ReplaceAll(strings.ReplaceAll(string(stream), "\r\n", "\n"), "\r", "\n")
	for _, line := range strings.SplitAfter(text, "\n") {
		if !strings.HasSuffix(line, "\n") {
			break // an unterminated line is not parsed
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if hasData {
				out = append(out, [3]string{id, event, strings.Join(data, "\n")})
			}
			event, data, hasData = "", nil, false
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				if !strings.Contains(value, "\x00") {
					id = value
				}
			case "event":
				event = value
			case "data":
				data, hasData = append(data, value), true
			}
		}
	}
	return out
}

// FuzzSSEEvent checks the framing of any record. Invariants: the frame
// parses back as exactly one event; its id is the one given; its type is
// the ce_type or "message"; its data is the value with every line ending
// (CR, LF, CRLF) turned into LF; and the envelope of the same record is
// one line of valid JSON.
func FuzzSSEEvent(f *testing.F) {
	f.Add("com.example.t", []byte("hello"))
	f.Add("", []byte("a\r\nb\rc\nd\n"))
	f.Add("x\ny", []byte("\n\n"))
	f.Add("ok", []byte{0xff, 0xfe, '\r'})
	f.Fuzz(func(t *testing.T, typ string, value []byte) {
		d := consumers.Delivery{Event: &consumers.Event{Value: value, Key: value,
			Headers: []topics.Header{{Key: topics.HeaderType, Value: []byte(typ)}, {Key: string(value), Value: value}}}, ID: "1.2"}
		w := &Body{}
		evs := parseSSE(w.appendDelivery(nil, &d))
		if len(evs) != 1 {
			t.Fatalf("%q parsed as %d events", value, len(evs))
		}
		wantType := eventName(typ)
		if evs[0][0] != "1.2" || evs[0][1] != wantType {
			t.Errorf("id, event = %q, %q; want 1.2, %q", evs[0][0], evs[0][1], wantType)
		}
		norm := strings.ReplaceAll(strings.ReplaceAll(string(value), "\r\n", "\n"), "\r", "\n")
		if evs[0][2] != norm {
			t.Errorf("data = %q, want %q", evs[0][2], norm)
		}
		w.envelope = true
		evs = parseSSE(w.appendDelivery(nil, &d))
		if len(evs) != 1 || strings.Contains(evs[0][2], "\n") || !json.Valid([]byte(evs[0][2])) {
			t.Fatalf("envelope of %q = %q", value, evs)
		}
		var env struct {
			Key           string `json:"key"`
			KeyEncoding   string `json:"key_encoding"`
			Value         any    `json:"value"`
			ValueEncoding string `json:"value_encoding"`
		}
		if err := json.Unmarshal([]byte(evs[0][2]), &env); err != nil {
			t.Fatal(err)
		}
		gotKey := []byte(env.Key)
		if env.KeyEncoding == "base64" {
			gotKey, _ = base64.StdEncoding.DecodeString(env.Key)
		}
		if !bytes.Equal(gotKey, value) {
			t.Errorf("envelope key = %q, want %q", gotKey, value)
		}
		if s, ok := env.Value.(string); ok && env.ValueEncoding == "" && utf8.Valid(value) && !json.Valid(value) && s != string(value) {
			t.Errorf("envelope value = %q, want %q", s, value)
		}
	})
}

// FuzzLastEventID checks the parser of ids sent back by clients.
// Invariants: it never panics; it accepts exactly the canonical text of a
// cursor, so formatting what it parsed gives the input back; and what it
// rejects is a bad-position problem.
func FuzzLastEventID(f *testing.F) {
	for _, s := range []string{"0", "0.0.0", "1b.z.0", "1y2p0ij32e8e7", "1y2p0ij32e8e8", "01", "", ".", "a..b", "-1", "A", strings.Repeat("9.", 5000) + "9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseLastEventID(s)
		if err != nil {
			if p := problemOf(err); p.Type != problem.BadPosition {
				t.Errorf("parseLastEventID(%q) = %v, want a bad-position problem", s, err)
			}
			return
		}
		if got := c.String(); got != s {
			t.Errorf("parseLastEventID(%q) formats back as %q", s, got)
		}
		for _, o := range c {
			if o < 0 {
				t.Errorf("parseLastEventID(%q) has a negative offset", s)
			}
		}
	})
}

func TestParseStreamParams(t *testing.T) {
	t.Parallel()
	sc := topics.StreamConfig{Name: "s", Filters: []string{"key", "header.tenant", "where"}}
	noWhere := topics.StreamConfig{Name: "s", Filters: []string{"key"}}
	failed, _ := consumers.ParseWhere(`/status="failed"`)
	big, _ := consumers.ParseWhere(`/amount>100`)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		query  string
		lastID string
		start  string
		filter consumers.Filter
		env    bool
		err    problem.Type
		sc     *topics.StreamConfig // default sc
	}{
		{name: "default", start: "latest"},
		{name: "earliest", query: "from=earliest", start: "earliest"},
		{name: "latest", query: "from=latest", start: "latest"},
		{name: "time", query: "from=2026-01-01T00:00:00Z", start: "2026-01-01T00:00:00Z"},
		{name: "ago", query: "from=-90m", start: "2026-01-02T01:34:05Z"},
		{name: "last event id wins", query: "from=earliest", lastID: "1.a", start: "after 1.a"},
		{name: "last_event_id param", query: "last_event_id=3&from=earliest", start: "after 3"},
		{name: "header id wins over param", query: "last_event_id=3", lastID: "4", start: "after 4"},
		{name: "filters", query: "key=k&header.Tenant=a&envelope=true", start: "latest",
			filter: consumers.Filter{Key: "k", ByKey: true, Headers: []consumers.HeaderMatch{{Name: "Tenant", Value: "a"}}}, env: true},
		{name: "empty key", query: "key=", start: "latest", filter: consumers.Filter{ByKey: true}},
		{name: "values", query: `where=/status="failed"&where=/amount>100`, start: "latest", filter: consumers.Filter{Where: []consumers.Where{failed, big}}},
		{name: "bad value filter", query: "where=/status=failed", err: problem.BadFilter},
		{name: "value filter not allowed", query: "where=/a=1", sc: &noWhere, err: problem.BadFilter},
		{name: "bad from", query: "from=soon", err: problem.BadPosition},
		{name: "negative ago", query: "from=--5m", err: problem.BadPosition},
		{name: "bad id", lastID: "x y", err: problem.BadPosition},
		{name: "header not allowed", query: "header.region=eu", err: problem.BadFilter},
		{name: "bare header", query: "header.=x", err: problem.BadFilter},
		{name: "twice", query: "from=earliest&from=latest", err: problem.BadRequest},
		{name: "unknown", query: "access_token=x", err: problem.BadRequest},
		{name: "envelope", query: "envelope=maybe", err: problem.BadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var args []QueryArg
			for kv := range strings.SplitSeq(tt.query, "&") {
				if kv == "" {
					continue
				}
				k, v, _ := strings.Cut(kv, "=")
				args = append(args, QueryArg{k, v})
			}
			cfg := sc
			if tt.sc != nil {
				cfg = *tt.sc
			}
			p, err := ParseParams(args, tt.lastID, cfg, now)
			if tt.err.URI != "" {
				if pe := problemOf(err); err == nil || pe.Type != tt.err {
					t.Fatalf("ParseParams(%q) = %v, want %s", tt.query, err, tt.err.URI)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseParams(%q) = %v", tt.query, err)
			}
			if got := p.Start.String(); got != tt.start {
				t.Errorf("start = %s, want %s", got, tt.start)
			}
			sameWhere := cmp.Comparer(func(a, b consumers.Where) bool { return a.String() == b.String() })
			if diff := cmp.Diff(tt.filter, p.Filter, sameWhere); diff != "" {
				t.Errorf("filter (-want +got):\n%s", diff)
			}
			if p.Envelope != tt.env {
				t.Errorf("envelope = %v, want %v", p.Envelope, tt.env)
			}
		})
	}
}

func TestAcceptsEventStream(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]bool{
		"":                                    true,
		"text/event-stream":                   true,
		"*/*":                                 true,
		"text/*;q=0.5":                        true,
		"application/json, text/event-stream": true,
		"TEXT/EVENT-STREAM":                   true,
		"application/json":                    false,
		"text/event-stream;q=0":               false,
		"text/html, application/xml;q=0.9":    false,
	} {
		if got := AcceptsEventStream(accept); got != want {
			t.Errorf("AcceptsEventStream(%q) = %v, want %v", accept, got, want)
		}
	}
}

func TestParseResultEventID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int{"0": 0, "1": 1, "256": 256} {
		if got, ok := ParseResultEventID(s); !ok || got != want {
			t.Errorf("ParseResultEventID(%q) = %d, %v, want %d, true", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-1", "01", "+1", "1e3", "9999999", " 1", "a"} {
		if got, ok := ParseResultEventID(s); ok {
			t.Errorf("ParseResultEventID(%q) = %d, true, want false", s, got)
		}
	}
}

// BenchmarkAppendEvent measures the SSE framing of one 256 B event with a
// 12-partition cursor as its id, into a reused buffer.
func BenchmarkAppendEvent(b *testing.B) {
	data := bytes.Repeat([]byte(`{"k":"v"},`), 25)
	id := "1b.2c.3d.4e.5f.6g.7h.8i.9j.ak.bl.cm"
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		buf = AppendEvent(buf[:0], id, "com.example.order.created", data)
	}
}

// problemOf returns the problem an error carries, or an empty one.
func problemOf(err error) *problem.Error {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe
	}
	return &problem.Error{}
}
