package topics

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record header names of the event contract (CloudEvents Kafka binding,
// binary content mode, plus W3C trace context and the authcontext
// extension). Clients can never set these.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderSource      = "ce_source"
	HeaderType        = "ce_type"
	HeaderTime        = "ce_time"
	HeaderAuthType    = "ce_authtype"
	HeaderAuthID      = "ce_authid"
	HeaderContentType = "content-type"
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"

	// SpecVersion is the CloudEvents version ferry writes.
	SpecVersion = "1.0"
)

// Request/reply header names. The kafka_* names are Spring Kafka's
// (KafkaHeaders.CORRELATION_ID, REPLY_TOPIC, REPLY_PARTITION), so that an
// unchanged @KafkaListener @SendTo responder answers ferry: Spring copies
// kafka_correlationId to its reply and sends it to kafka_replyTopic and
// kafka_replyPartition. The ferry-* names are optional on replies.
const (
	// HeaderCorrelationID carries the request's event id (its ce_id, as
	// bytes). A reply must carry the same bytes.
	HeaderCorrelationID = "kafka_correlationId"
	// HeaderReplyTopic names the topic replies go to.
	HeaderReplyTopic = "kafka_replyTopic"
	// HeaderReplyPartition is the partition replies go to, a 4-byte
	// big-endian int32. Absent when any partition will do.
	HeaderReplyPartition = "kafka_replyPartition"

	// HeaderStatus on a reply is the HTTP status of the response, in
	// decimal; default 200.
	HeaderStatus = "ferry-status"
	// HeaderFinal set to "false" marks a progress reply; the request
	// stays open for more. Any other value, or none, is the final reply.
	HeaderFinal = "ferry-final"
	// HeaderResponsePrefix prefixes reply headers that become response
	// headers: ferry-header-Cache-Control becomes Cache-Control, when
	// the name is on the correlator's allowlist.
	HeaderResponsePrefix = "ferry-header-"
)

// NoPartition in ReplyTo.Partition omits kafka_replyPartition.
const NoPartition int32 = -1

// ReplyTo asks responders to answer a request on a topic, and on one
// partition of it unless Partition is NoPartition.
type ReplyTo struct {
	Topic     string
	Partition int32
}

// AppendPartition appends p as kafka_replyPartition encodes it: 4 bytes,
// big-endian.
func AppendPartition(dst []byte, p int32) []byte {
	return append(dst, byte(uint32(p)>>24), byte(uint32(p)>>16), byte(uint32(p)>>8), byte(uint32(p)))
}

// ParsePartition decodes a kafka_replyPartition value; ok is false unless it
// is exactly 4 bytes holding a non-negative int32.
func ParsePartition(b []byte) (p int32, ok bool) {
	if len(b) != 4 {
		return 0, false
	}
	p = int32(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return p, p >= 0
}

// ReplyAddress reads the request/reply headers of a request record: the
// correlation id to copy into the reply, and where to send it. partition is
// NoPartition when the header is absent or malformed. ok is false when the
// record asks for no reply (no correlation id or no reply topic).
func ReplyAddress(hs []kgo.RecordHeader) (correlationID []byte, to ReplyTo, ok bool) {
	to.Partition = NoPartition
	for _, h := range hs {
		switch h.Key {
		case HeaderCorrelationID:
			correlationID = h.Value
		case HeaderReplyTopic:
			to.Topic = string(h.Value)
		case HeaderReplyPartition:
			if p, pok := ParsePartition(h.Value); pok {
				to.Partition = p
			}
		}
	}
	return correlationID, to, len(correlationID) > 0 && to.Topic != ""
}

// IsReservedHeader reports whether a record header name belongs to the
// event contract, so that neither routes nor clients may set it: ce_*,
// content-type, traceparent, tracestate, kafka_* (Spring) and ferry-*.
func IsReservedHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "ce_") || strings.HasPrefix(n, "kafka_") ||
		strings.HasPrefix(n, "ferry-") || n == HeaderContentType ||
		n == HeaderTraceParent || n == HeaderTraceState
}

// Header is one extra record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one event to publish: the request body plus the metadata that
// becomes the record's key and CloudEvents headers.
type Message struct {
	Topic       string
	Key         []byte // nil is a null key
	Value       []byte
	ID          string
	Source      string
	Type        string
	Time        time.Time
	ContentType string
	TraceParent string
	AuthType    string // ce_authtype; omitted when empty
	AuthID      string // ce_authid; omitted when empty
	Extra       []Header
	// Reply, when set, adds the request/reply headers: kafka_correlationId
	// (the bytes of ID), kafka_replyTopic and, unless its Partition is
	// NoPartition, kafka_replyPartition.
	Reply *ReplyTo
}

// Record encodes m as a Kafka record in CloudEvents binary content mode.
// Extra headers with reserved names are dropped.
func (m *Message) Record() *kgo.Record {
	r := new(kgo.Record)
	m.fill(r, nil, nil)
	return r
}

// fill encodes m into r (see Record), its header values appended to buf
// and its headers to hs (both from their start; reallocated when short):
// a caller that reuses r once franz-go is done with it passes the
// previous buf and hs, and keeps those returned.
func (m *Message) fill(r *kgo.Record, buf []byte, hs []kgo.RecordHeader) ([]byte, []kgo.RecordHeader) {
	// Every header value is a slice of one buffer: one allocation, not
	// one per header.
	n := len(SpecVersion) + len(m.ID) + len(m.Source) + len(m.Type) + len(time.RFC3339Nano) + len(m.ContentType) +
		len(m.TraceParent) + len(m.AuthType) + len(m.AuthID)
	if m.Reply != nil {
		n += len(m.ID) + len(m.Reply.Topic) + 11 // a partition: up to 10 digits and a sign
	}
	if cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	buf = buf[:0]
	val := func(s string) []byte {
		buf = append(buf, s...)
		return buf[len(buf)-len(s) : len(buf) : len(buf)]
	}
	if want := 12 + len(m.Extra); cap(hs) < want {
		hs = make([]kgo.RecordHeader, 0, want)
	}
	hs = append(hs[:0],
		kgo.RecordHeader{Key: HeaderSpecVersion, Value: val(SpecVersion)},
		kgo.RecordHeader{Key: HeaderID, Value: val(m.ID)},
		kgo.RecordHeader{Key: HeaderSource, Value: val(m.Source)},
		kgo.RecordHeader{Key: HeaderType, Value: val(m.Type)},
	)
	start := len(buf)
	buf = m.Time.UTC().AppendFormat(buf, time.RFC3339Nano)
	hs = append(hs, kgo.RecordHeader{Key: HeaderTime, Value: buf[start:len(buf):len(buf)]})
	if m.ContentType != "" { // a tombstone has no data, so no datacontenttype
		hs = append(hs, kgo.RecordHeader{Key: HeaderContentType, Value: val(m.ContentType)})
	}
	hs = append(hs, kgo.RecordHeader{Key: HeaderTraceParent, Value: val(m.TraceParent)})
	if m.AuthType != "" {
		hs = append(hs, kgo.RecordHeader{Key: HeaderAuthType, Value: val(m.AuthType)})
	}
	if m.AuthID != "" {
		hs = append(hs, kgo.RecordHeader{Key: HeaderAuthID, Value: val(m.AuthID)})
	}
	if m.Reply != nil {
		hs = append(hs,
			kgo.RecordHeader{Key: HeaderCorrelationID, Value: val(m.ID)},
			kgo.RecordHeader{Key: HeaderReplyTopic, Value: val(m.Reply.Topic)},
		)
		if m.Reply.Partition >= 0 {
			start := len(buf)
			buf = AppendPartition(buf, m.Reply.Partition)
			hs = append(hs, kgo.RecordHeader{Key: HeaderReplyPartition, Value: buf[start:len(buf):len(buf)]})
		}
	}
	for _, h := range m.Extra {
		if !IsReservedHeader(h.Key) {
			hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	*r = kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: hs, Timestamp: m.Time}
	return buf, hs
}

// NewEventID returns a unique, time-sortable event id: a UUIDv7 (RFC 9562).
func NewEventID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidTraceParent reports whether s is a W3C traceparent of version 00 (or
// a later version, read as 00) with non-zero trace and parent ids.
func ValidTraceParent(s string) bool {
	// 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
	if len(s) < 55 || (len(s) > 55 && (s[:2] == "00" || s[55] != '-')) {
		return false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	if s[:2] == "ff" || !isLowerHex(s[:2]) || !isLowerHex(s[3:35]) || !isLowerHex(s[36:52]) || !isLowerHex(s[53:55]) {
		return false
	}
	return strings.Trim(s[3:35], "0") != "" && strings.Trim(s[36:52], "0") != ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NewTraceParent starts a new W3C trace: random trace and parent ids, not
// sampled.
func NewTraceParent() string {
	var id [24]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	var b [TraceParentLen]byte
	return string(AppendTraceParent(b[:0], &id))
}

// TraceParentLen is the length of a version 00 traceparent.
const TraceParentLen = 55

// AppendTraceParent appends a traceparent of version 00, not sampled,
// whose trace id is id[:16] and parent id id[16:]: random bytes.
func AppendTraceParent(dst []byte, id *[24]byte) []byte {
	dst = append(dst, "00-"...)
	dst = hex.AppendEncode(dst, id[:16])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, id[16:])
	return append(dst, "-00"...)
}
