package stream

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// This file is the pure part of /v1/streams: Server-Sent Events framing and
// the parsing of what a subscriber asks for.

// AppendEvent appends one SSE event: its id, its type, and data, one
// "data:" line per line of data (CR, LF and CRLF all end a line, as the
// SSE parser reads them), so that a value cannot inject fields.
func AppendEvent(dst []byte, id, event string, data []byte) []byte {
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "event: "...)
	dst = append(dst, event...)
	dst = append(dst, '\n')
	for {
		i := 0
		for i < len(data) && data[i] != '\n' && data[i] != '\r' {
			i++
		}
		dst = append(dst, "data: "...)
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if i == len(data) {
			break
		}
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(dst, '\n')
}

// appendPreamble appends what opens a stream: the reconnection delay, and
// the subscriber's start position as an id-only block, which sets the
// client's last event id without dispatching an event. A client that
// reconnects before its first event then resumes where it started.
func appendPreamble(dst []byte, retry time.Duration, id string) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, retry.Milliseconds(), 10)
	dst = append(dst, "\nid: "...)
	dst = append(dst, id...)
	return append(dst, "\n\n"...)
}

// appendHeartbeat appends a comment that keeps proxies from timing the
// stream out. When id is not empty it also moves the client's last event
// id past records its filter skipped, so a resume need not re-read them.
func appendHeartbeat(dst []byte, id string) []byte {
	dst = append(dst, ": ping\n"...)
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

// Reasons carried by a final `event: error`.
const (
	endSlowConsumer = "slow_consumer"
	endTokenExpired = "token_expired"
	endShutdown     = "shutdown"
	endRemoved      = "stream_removed"
)

// appendEnd appends the final event of a stream the server ends.
func appendEnd(dst []byte, reason, detail string) []byte {
	data := make([]byte, 0, 64+len(detail))
	data = append(data, `{"reason":`...)
	data = appendJSONString(data, reason)
	data = append(data, `,"detail":`...)
	data = appendJSONString(data, detail)
	data = append(data, '}')
	return AppendEvent(dst, "", "error", data)
}

// eventName is the SSE event type of a record: its ce_type, or "message"
// when it has none or one that would not survive the SSE line format.
func eventName(ceType string) string {
	if ceType == "" || len(ceType) > 256 || strings.ContainsAny(ceType, "\r\n\x00") || !utf8.ValidString(ceType) {
		return "message"
	}
	return ceType
}

// appendEnvelope appends a record as the JSON object sent with
// ?envelope=true: {"key","headers","partition","offset","timestamp",
// "value"}. The value is embedded as JSON when it is JSON, else as a
// string; key and value bytes that are not UTF-8 are sent in base64 and
// flagged with key_encoding / value_encoding "base64". Header values are
// text; a repeated header name keeps its first value.
func appendEnvelope(dst []byte, d *consumers.Delivery) []byte {
	dst = append(dst, `{"key":`...)
	dst, keyB64 := appendBytesField(dst, d.Key, d.Key == nil)
	if keyB64 {
		dst = append(dst, `,"key_encoding":"base64"`...)
	}
	dst = append(dst, `,"headers":{`...)
	seen := make([]string, 0, len(d.Headers))
	for _, h := range d.Headers {
		if slices.Contains(seen, h.Key) {
			continue
		}
		if len(seen) > 0 {
			dst = append(dst, ',')
		}
		seen = append(seen, h.Key)
		dst = appendJSONString(dst, h.Key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, string(h.Value))
	}
	dst = append(dst, `},"partition":`...)
	dst = strconv.AppendInt(dst, int64(d.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, d.Offset, 10)
	dst = append(dst, `,"timestamp":"`...)
	dst = d.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","value":`...)
	if len(d.Value) > 0 && json.Valid(d.Value) {
		dst = appendCompactJSON(dst, d.Value)
	} else {
		var b64 bool
		dst, b64 = appendBytesField(dst, d.Value, false)
		if b64 {
			dst = append(dst, `,"value_encoding":"base64"`...)
		}
	}
	return append(dst, '}')
}

// appendCompactJSON appends valid JSON without insignificant whitespace,
// so that a multi-line value stays on one data line.
func appendCompactJSON(dst, doc []byte) []byte {
	inString, escaped := false, false
	for _, b := range doc {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == ' ' || b == '\t' || b == '\n' || b == '\r':
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

// appendBytesField appends b as a JSON string, or null, or base64 when it
// is not UTF-8 (reported by the second result).
func appendBytesField(dst, b []byte, null bool) ([]byte, bool) {
	switch {
	case null:
		return append(dst, "null"...), false
	case utf8.Valid(b):
		return appendJSONString(dst, string(b)), false
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"'), true
}

// appendJSONString appends s as a JSON string. s must be valid UTF-8
// (invalid bytes become U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			dst = append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

// parseLastEventID parses an SSE id this server sent (a consumers.Cursor)
// back from a Last-Event-ID header or last_event_id parameter.
func parseLastEventID(id string) (consumers.Cursor, error) {
	if len(id) > maxLastEventID {
		return nil, problem.New(problem.BadPosition, "Last-Event-ID is too long")
	}
	c, err := consumers.ParseCursor(id)
	if err != nil {
		return nil, problem.New(problem.BadPosition, "Last-Event-ID is not an id this stream sent")
	}
	return c, nil
}

// maxLastEventID bounds the id a client may send back (14 bytes per
// partition covers thousands of partitions).
const maxLastEventID = 64 << 10

// QueryArg is one query parameter, copied out of the request.
type QueryArg struct{ Key, Value string }

// Params is what a subscriber asked for.
type Params struct {
	// Start is where the subscription starts.
	Start consumers.Start
	// Filter selects the records sent.
	Filter consumers.Filter
	// Envelope sends each record as its JSON envelope.
	Envelope bool
	// Positioned reports whether the request named its start (a
	// Last-Event-ID or from=); otherwise Start is latest.
	Positioned bool
}

// ParseParams reads the start position and the filters of a
// subscription. The start is Last-Event-ID (header, else the last_event_id
// parameter), else from=earliest|latest|RFC 3339|-DURATION, else latest:
// a reconnecting EventSource keeps its URL, so its Last-Event-ID must win
// over from. Filters are key= and header.NAME=, each allowed by the
// stream's config; anything else is refused, so that a typo cannot widen a
// subscription silently.
func ParseParams(args []QueryArg, lastEventID string, sc topics.StreamConfig, now time.Time) (Params, error) {
	var p Params
	var from, qid string
	seen := make(map[string]bool, len(args))
	for _, a := range args {
		if seen[a.Key] && a.Key != "where" {
			return p, problem.New(problem.BadRequest, "parameter "+QuoteParam(a.Key)+" is given twice")
		}
		seen[a.Key] = true
		switch {
		case a.Key == "from":
			from = a.Value
		case a.Key == "last_event_id":
			qid = a.Value
		case a.Key == "envelope":
			switch a.Value {
			case "true", "1":
				p.Envelope = true
			case "false", "0", "":
			default:
				return p, problem.New(problem.BadRequest, "envelope must be true or false")
			}
		case a.Key == "key":
			if !slices.Contains(sc.Filters, "key") {
				return p, problem.New(problem.BadFilter, "stream "+sc.Name+" does not allow filtering by key")
			}
			p.Filter.Key, p.Filter.ByKey = a.Value, true
		case a.Key == "where":
			if !slices.Contains(sc.Filters, "where") {
				return p, problem.New(problem.BadFilter, "stream "+sc.Name+" does not allow filtering by value (where)")
			}
			w, err := consumers.ParseWhere(a.Value)
			if err != nil {
				return p, problem.New(problem.BadFilter, err.Error())
			}
			p.Filter.Where = append(p.Filter.Where, w)
		case strings.HasPrefix(a.Key, "header."):
			name := a.Key[len("header."):]
			if !slices.ContainsFunc(sc.Filters, func(f string) bool { return strings.EqualFold(f, "header."+name) }) || name == "" {
				return p, problem.New(problem.BadFilter, "stream "+sc.Name+" does not allow filtering by "+QuoteParam(a.Key))
			}
			p.Filter = p.Filter.WithHeader(name, a.Value)
		default:
			return p, problem.New(problem.BadRequest, "unknown parameter "+QuoteParam(a.Key)+"; streams take from, last_event_id, envelope, key, header.NAME and where")
		}
	}
	if lastEventID == "" {
		lastEventID = qid
	}
	p.Positioned = lastEventID != "" || from != ""
	switch {
	case lastEventID != "":
		c, err := parseLastEventID(lastEventID)
		if err != nil {
			return p, err
		}
		p.Start = consumers.StartAfter(c)
	case from != "":
		st, err := consumers.ParseFrom(from, now)
		if err != nil {
			return p, problem.New(problem.BadPosition, "from must be earliest, latest, an RFC 3339 time or -DURATION (e.g. -5m), not "+QuoteParam(from))
		}
		p.Start = st
	}
	return p, nil
}

// Bind narrows f to the records of the subscriber whose claim (m.Claim)
// is claim: the records whose m.Header header, or whose string at the
// JSON Pointer m.Pointer, equals it. It never widens f: a subscriber's own
// filters still apply. Its error (a pointer ferry check lets through
// cannot fail) wraps consumers.ErrBadWhere.
func Bind(f consumers.Filter, m topics.MatchConfig, claim string) (consumers.Filter, error) {
	if m.Pointer == "" {
		return f.WithHeader(m.Header, claim), nil
	}
	w, err := consumers.PointerEquals(m.Pointer, claim)
	if err != nil {
		return f, err
	}
	f.Where = append(f.Where[:len(f.Where):len(f.Where)], w)
	return f, nil
}

// QuoteParam quotes client input for a problem detail, cut to a sane size.
func QuoteParam(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// AcceptsEventStream reports whether an Accept header admits
// text/event-stream: absent, text/event-stream, text/* or */*, with a
// non-zero q.
func AcceptsEventStream(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for r := range strings.SplitSeq(accept, ",") {
		mt, params, _ := strings.Cut(r, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt != "text/event-stream" && mt != "text/*" && mt != "*/*" {
			continue
		}
		zero := false
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q == 0 {
					zero = true
				}
			}
		}
		if !zero {
			return true
		}
	}
	return false
}

// ParseResultEventID reads the Last-Event-ID of a result stream: the
// number of replies the client already has. ok is false for anything but a
// small non-negative decimal.
func ParseResultEventID(s string) (n int, ok bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || strconv.Itoa(v) != s {
		return 0, false
	}
	return v, true
}
