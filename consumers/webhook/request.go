package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// The Standard Webhooks headers of every request, written in lower case
// as the specification writes them (HTTP header names are case-insensitive).
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// Attributes given to records that lack them (records written by other
// producers than ferry): the CloudEvents HTTP binding requires id, source,
// specversion and type.
const (
	// DefaultType is ce-type of a record without ce_type.
	DefaultType = "ferry.kafka.record"
	// sourcePrefix + topic is ce-source of a record without ce_source.
	sourcePrefix = "/ferry/topics/"
)

// userAgent identifies ferry to endpoints.
const userAgent = "ferry-webhook"

// MessageID returns the id of rec's deliveries, the same for every attempt
// and every instance: webhook-id and, when rec has none, ce-id. It is rec's
// ce_id when that is 1 to 128 characters of letters, digits, '-' and '_'
// (ferry's own ids are); otherwise (a record from another producer, or an
// id with a '.', which the signed "id.timestamp.body" must not contain)
// "ferry_" and a hash of the record's topic, partition, offset and
// timestamp, so that a redelivery after a crash carries the same id and
// receivers can drop it.
func MessageID(rec *kgo.Record) string {
	for _, h := range rec.Headers {
		if h.Key == topics.HeaderID && safeID(h.Value) {
			return string(h.Value)
		}
	}
	var b [8 + 4 + 8 + 8]byte
	buf := append(b[:0], rec.Topic...)
	buf = append(buf, 0)
	buf = strconv.AppendInt(buf, int64(rec.Partition), 10)
	buf = append(buf, '/')
	buf = strconv.AppendInt(buf, rec.Offset, 10)
	buf = append(buf, '/')
	buf = strconv.AppendInt(buf, rec.Timestamp.UnixMilli(), 10)
	sum := sha256.Sum256(buf)
	return "ferry_" + hex.EncodeToString(sum[:16])
}

func safeID(v []byte) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// requestHeader returns the headers of one attempt to deliver rec, signed
// at now: the record's CloudEvents attributes in binary content mode
// (every ce_X record header as ce-X, percent-encoded as the HTTP binding
// says; the required ones filled in when missing; the key as
// ce-partitionkey), content-type, traceparent and tracestate, and the
// Standard Webhooks id, timestamp and signature. No other record header is
// sent.
func requestHeader(rec *kgo.Record, id string, now time.Time, secrets []Secret) http.Header {
	h := make(http.Header, 12)
	var has struct{ id, source, spec, typ, time, pkey bool }
	for _, rh := range rec.Headers {
		switch {
		case strings.HasPrefix(rh.Key, "ce_") && len(rh.Key) > 3:
			attr := rh.Key[3:]
			switch attr {
			case "id":
				has.id = true
			case "source":
				has.source = true
			case "specversion":
				has.spec = true
			case "type":
				has.typ = true
			case "time":
				has.time = true
			case "partitionkey":
				has.pkey = true
			}
			if !headerRe.MatchString(attr) {
				continue // not a header name: no CloudEvents attribute either
			}
			h["ce-"+attr] = []string{percentEncode(rh.Value)}
		case rh.Key == topics.HeaderContentType && plainValue(rh.Value):
			h["Content-Type"] = []string{string(rh.Value)}
		case rh.Key == topics.HeaderTraceParent && plainValue(rh.Value):
			h["Traceparent"] = []string{string(rh.Value)}
		case rh.Key == topics.HeaderTraceState && plainValue(rh.Value):
			h["Tracestate"] = []string{string(rh.Value)}
		}
	}
	if !has.spec {
		h["ce-specversion"] = []string{"1.0"}
	}
	if !has.id {
		h["ce-id"] = []string{id}
	}
	if !has.source {
		h["ce-source"] = []string{percentEncode([]byte(sourcePrefix + rec.Topic))}
	}
	if !has.typ {
		h["ce-type"] = []string{DefaultType}
	}
	if !has.time && !rec.Timestamp.IsZero() {
		h["ce-time"] = []string{rec.Timestamp.UTC().Format(time.RFC3339Nano)}
	}
	if !has.pkey && rec.Key != nil {
		h["ce-partitionkey"] = []string{percentEncode(rec.Key)}
	}
	ts := now.Unix()
	h[HeaderWebhookID] = []string{id}
	h[HeaderWebhookTimestamp] = []string{strconv.FormatInt(ts, 10)}
	h[HeaderWebhookSignature] = []string{Sign(secrets, id, ts, rec.Value)}
	h["User-Agent"] = []string{userAgent}
	return h
}

// percentEncode encodes what the CloudEvents HTTP binding says a header
// value must not carry as is: bytes outside printable ASCII, space, '"'
// and '%'. (UTF-8 text comes out as its percent-encoded bytes.)
func percentEncode(v []byte) string {
	clean := true
	for _, c := range v {
		if needsEscape(c) {
			clean = false
			break
		}
	}
	if clean {
		return string(v)
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(v) + 16)
	for _, c := range v {
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// plainValue reports whether v may be sent as a header value unchanged: no
// control characters (a value with a line break would be refused by the
// HTTP client, failing every attempt).
func plainValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func needsEscape(c byte) bool { return c <= ' ' || c > '~' || c == '"' || c == '%' }
