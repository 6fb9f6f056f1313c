package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics"
)

// printer writes records, given as lines of the replay JSON format, to
// stdout: as they are (ndjson, json) or readable (pretty).
type printer struct {
	w        io.Writer
	stderr   io.Writer // notes; nil discards them
	format   string    // pretty, ndjson or json
	stream   string    // ferry tail's stream: its lines are stream envelopes
	color    bool
	tty      bool // w is a terminal: the progress line must get out of its way
	progress *progress
	count    int64
	buf      []byte
}

// ANSI styles of pretty output.
const (
	styleTitle  = "\x1b[1;36m" // bold cyan: topic partition/offset
	styleDim    = "\x1b[2m"    // faint: timestamp, header names
	styleKey    = "\x1b[33m"   // yellow: key
	styleReset  = "\x1b[0m"
	styleAccent = "\x1b[35m" // magenta: tombstones and binary
)

// line prints one record.
func (p *printer) line(line []byte) error {
	p.count++
	if p.progress != nil && p.tty {
		p.progress.clear()
	}
	b := p.buf[:0]
	if p.format == "pretty" {
		var r consumers.Record
		var err error
		if p.stream != "" {
			r, err = fromEnvelope(p.stream, line)
		} else {
			err = json.Unmarshal(line, &r)
		}
		if err != nil {
			// Not a record (a stream with its own event shape): as it is.
			b = append(append(b, line...), '\n')
		} else {
			b = p.appendPretty(b, &r)
		}
	} else if p.format == "json" {
		if p.count == 1 {
			b = append(b, "[\n"...)
		} else {
			b = append(b, ",\n"...)
		}
		b = append(b, line...)
	} else {
		b = append(append(b, line...), '\n')
	}
	p.buf = b
	if _, err := p.w.Write(b); err != nil {
		return err
	}
	if p.progress != nil {
		p.progress.add(len(line) + 1)
	}
	return nil
}

// envelope is an event of GET /v1/streams/{name}?envelope=true
// (ingress/sse.go appendEnvelope).
type envelope struct {
	Key           *string         `json:"key"`
	KeyEncoding   string          `json:"key_encoding"`
	Headers       json.RawMessage `json:"headers"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Timestamp     time.Time       `json:"timestamp"`
	Value         json.RawMessage `json:"value"`
	ValueEncoding string          `json:"value_encoding"`
}

// fromEnvelope reads a stream envelope as a record of the topic (named
// after the stream: the envelope does not name its topic), for pretty
// output. Headers keep their order; a JSON value stays JSON, a string
// value is its text.
func fromEnvelope(stream string, line []byte) (consumers.Record, error) {
	var e envelope
	if err := json.Unmarshal(line, &e); err != nil {
		return consumers.Record{}, err
	}
	r := consumers.Record{Topic: stream, Partition: e.Partition, Offset: e.Offset, Timestamp: e.Timestamp}
	var err error
	if e.Key != nil {
		if r.Key, err = decodeField(*e.Key, e.KeyEncoding); err != nil {
			return r, err
		}
	}
	var s string
	switch {
	case len(e.Value) == 0 || string(e.Value) == "null":
	case json.Unmarshal(e.Value, &s) == nil:
		if r.Value, err = decodeField(s, e.ValueEncoding); err != nil {
			return r, err
		}
	default:
		r.Value = e.Value
	}
	dec := json.NewDecoder(bytes.NewReader(e.Headers))
	if _, err := dec.Token(); err != nil { // {
		return r, err
	}
	for dec.More() {
		var k, v string
		if t, err := dec.Token(); err == nil {
			k, _ = t.(string)
		}
		if err := dec.Decode(&v); err != nil {
			return r, err
		}
		r.Headers = append(r.Headers, topics.Header{Key: k, Value: []byte(v)})
	}
	return r, nil
}

// decodeField is a key's or value's bytes: as they are, or base64.
func decodeField(s, encoding string) ([]byte, error) {
	if encoding == "base64" {
		return base64.StdEncoding.DecodeString(s)
	}
	return []byte(s), nil
}

// finish ends the output: it closes the JSON array. It is not called when
// the replay failed, so that a failed replay's array stays unclosed and
// never parses as complete.
func (p *printer) finish() error {
	if p.format != "json" {
		return nil
	}
	end := "\n]\n"
	if p.count == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(p.w, end)
	return err
}

// note tells the user something on stderr that is not a record, quoted
// when it is not safe to print on a terminal.
func (p *printer) note(s string) {
	if p.stderr == nil {
		return
	}
	if !printable([]byte(s)) || strings.ContainsRune(s, '\n') {
		s = strconv.Quote(s)
	}
	fmt.Fprintln(p.stderr, "ferry:", s)
}

func (p *printer) style(dst []byte, style, s string) []byte {
	if !p.color {
		return append(dst, s...)
	}
	dst = append(dst, style...)
	dst = append(dst, s...)
	return append(dst, styleReset...)
}

// appendPretty formats a record for a terminal:
//
//	orders.events 0/12  2026-01-02T15:04:05.123Z  key=c-42
//	  ce_type: com.example.order.created
//	  {
//	    "order_id": "o-1"
//	  }
func (p *printer) appendPretty(dst []byte, r *consumers.Record) []byte {
	dst = p.style(dst, styleTitle, r.Topic+" "+strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10))
	dst = append(dst, "  "...)
	dst = p.style(dst, styleDim, r.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	dst = append(dst, "  "...)
	switch {
	case r.Key == nil:
		dst = p.style(dst, styleDim, "key=null")
	case printable(r.Key):
		dst = p.style(dst, styleKey, "key="+string(r.Key))
	default:
		dst = p.style(dst, styleKey, "key="+binary(r.Key))
	}
	dst = append(dst, '\n')
	for _, h := range r.Headers {
		dst = append(dst, "  "...)
		dst = p.style(dst, styleDim, h.Key+":")
		dst = append(dst, ' ')
		if printable(h.Value) {
			dst = append(dst, h.Value...)
		} else {
			dst = p.style(dst, styleAccent, binary(h.Value))
		}
		dst = append(dst, '\n')
	}
	switch {
	case r.Value == nil:
		dst = append(dst, "  "...)
		dst = p.style(dst, styleAccent, "(null value: tombstone)")
		dst = append(dst, '\n')
	case json.Valid(r.Value) && printable(r.Value): // JSON strings may hold raw C1 controls
		var ind bytes.Buffer
		if err := json.Indent(&ind, r.Value, "  ", "  "); err == nil {
			dst = append(dst, "  "...)
			dst = append(dst, ind.Bytes()...)
			dst = append(dst, '\n')
			break
		}
		fallthrough
	case printable(r.Value):
		for _, l := range bytes.Split(bytes.TrimSuffix(r.Value, []byte("\n")), []byte("\n")) {
			dst = append(dst, "  "...)
			dst = append(dst, l...)
			dst = append(dst, '\n')
		}
	default:
		dst = append(dst, "  "...)
		dst = p.style(dst, styleAccent, binary(r.Value))
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

// printable reports whether b is UTF-8 text without control characters
// other than tabs and newlines, safe to print on a terminal.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return false
		}
	}
	return true
}

// binary describes bytes that are not text: their size and base64, cut
// after 48 characters.
func binary(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	if len(s) > 48 {
		s = s[:48] + "..."
	}
	return "<" + strconv.Itoa(len(b)) + " bytes, base64 " + s + ">"
}

// progress draws "12,345 of <=100,000 records, 3.2 MB, 1.5s" on stderr
// while a long replay runs, when stderr is a terminal. It appears after a
// second, redraws at most ten times a second, and erases itself at the end.
type progress struct {
	w       io.Writer
	on      bool
	total   int64 // -1: unknown
	start   time.Time
	last    time.Time
	n       int64
	bytes   int64
	visible bool
}

// progressDelay and progressEvery pace the progress line.
const (
	progressDelay = time.Second
	progressEvery = 100 * time.Millisecond
)

func newProgress(w io.Writer, on bool, inRange string) *progress {
	total, err := strconv.ParseInt(inRange, 10, 64)
	if err != nil {
		total = -1
	}
	now := time.Now()
	return &progress{w: w, on: on, total: total, start: now, last: now}
}

func (p *progress) add(n int) {
	p.n++
	p.bytes += int64(n)
	if !p.on {
		return
	}
	now := time.Now()
	if now.Sub(p.start) < progressDelay || now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	p.draw(now.Sub(p.start))
}

func (p *progress) draw(elapsed time.Duration) {
	s := "\r\x1b[K" + thousands(p.n)
	if p.total >= 0 {
		s += " of <=" + thousands(p.total)
	}
	s += fmt.Sprintf(" records, %.1f MB, %.1fs", float64(p.bytes)/1e6, elapsed.Seconds())
	_, _ = io.WriteString(p.w, s)
	p.visible = true
}

// clear erases the progress line, before stdout writes to the same
// terminal.
func (p *progress) clear() {
	if p.visible {
		_, _ = io.WriteString(p.w, "\r\x1b[K")
		p.visible = false
	}
}

func (p *progress) done() { p.clear() }

// thousands formats n with thousands separators: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
