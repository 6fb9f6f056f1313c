package consumers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ferry-gw/ferry/topics"
)

// Record is one record read from Kafka, in plain Go types.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	// Key is nil for a null key.
	Key []byte
	// Headers are in record order; names may repeat.
	Headers []topics.Header
	// Value is nil for a tombstone.
	Value []byte
}

// Header returns the value of the first header named name.
func (r *Record) Header(name string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == name {
			return h.Value, true
		}
	}
	return nil, false
}

// encodingBase64 marks bytes that are not sent as they are.
const encodingBase64 = "base64"

// timeLayout is RFC 3339 in UTC with the milliseconds Kafka keeps.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// AppendJSON appends r as one line of JSON, the record format of the replay
// API:
//
//	{"topic":"orders","partition":0,"offset":7,"timestamp":"2026-01-02T15:04:05.123Z",
//	 "key":"c-42","headers":[{"key":"ce_type","value":"order.created"}],"value":{"id":1}}
//
// A value that is JSON (and UTF-8) is embedded as JSON (compacted onto one line); any
// other value is base64 with "encoding":"base64". Keys and header values
// are strings when they are UTF-8, else base64 with "key_encoding" or the
// header's "encoding". A null key or value is null. The output never holds
// a newline, so it is also an NDJSON line and an SSE data line.
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendString(dst, r.Topic)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendInt(dst, int64(r.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	dst = append(dst, `,"timestamp":"`...)
	dst = appendTimestamp(dst, r.Timestamp)
	dst = append(dst, `","key":`...)
	keyB64 := false
	switch {
	case r.Key == nil:
		dst = append(dst, "null"...)
	case utf8.Valid(r.Key):
		dst = appendString(dst, r.Key)
	default:
		dst = appendBase64(dst, r.Key)
		keyB64 = true
	}
	if keyB64 {
		dst = append(dst, `,"key_encoding":"base64"`...)
	}
	dst = append(dst, `,"headers":[`...)
	for i, h := range r.Headers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendString(dst, h.Key)
		dst = append(dst, `,"value":`...)
		if utf8.Valid(h.Value) {
			dst = appendString(dst, h.Value)
			dst = append(dst, '}')
		} else {
			dst = appendBase64(dst, h.Value)
			dst = append(dst, `,"encoding":"base64"}`...)
		}
	}
	dst = append(dst, `],"value":`...)
	switch {
	case r.Value == nil:
		dst = append(dst, "null}"...)
	case len(r.Value) > 0 && utf8.Valid(r.Value) && ValidJSON(r.Value):
		dst = appendCompact(dst, r.Value)
		dst = append(dst, '}')
	default:
		dst = appendBase64(dst, r.Value)
		dst = append(dst, `,"encoding":"base64"}`...)
	}
	return dst
}

// appendTimestamp appends t in UTC as timeLayout does, several times
// faster than time.AppendFormat (the replay API formats every record's).
func appendTimestamp(dst []byte, t time.Time) []byte {
	const maxMilli = 253402300800000 // 10000-01-01T00:00:00Z
	ms := t.UnixMilli()
	if ms < 0 || ms >= maxMilli {
		return t.UTC().AppendFormat(dst, timeLayout)
	}
	secs, milli := ms/1000, ms%1000
	days, sod := secs/86400, secs%86400
	y, m, d := cachedDate(days)
	b := [24]byte{4: '-', 7: '-', 10: 'T', 13: ':', 16: ':', 19: '.', 23: 'Z'}
	putPair(b[0:], y/100)
	putPair(b[2:], y%100)
	putPair(b[5:], m)
	putPair(b[8:], d)
	putPair(b[11:], sod/3600)
	putPair(b[14:], sod/60%60)
	putPair(b[17:], sod%60)
	b[20] = byte('0' + milli/100)
	putPair(b[21:], milli%100)
	return append(dst, b[:]...)
}

const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// putPair writes v (0-99) as two digits.
func putPair(b []byte, v int64) {
	b[0], b[1] = digitPairs[2*v], digitPairs[2*v+1]
}

// lastDate caches the last date civilDate computed, packed as
// days<<23 | y<<9 | m<<5 | d (days < 2^22 and y < 2^14 below maxMilli),
// plus one so that the zero value is empty. A replay's records mostly
// share their day; the cache spares each a civilDate. Safe for
// concurrent use: the whole entry is one atomic word.
var lastDate atomic.Uint64

// cachedDate is civilDate(days), for 0 <= days < 2^22.
func cachedDate(days int64) (y, m, d int64) {
	if e := lastDate.Load(); e != 0 && int64((e-1)>>23) == days {
		e--
		return int64(e >> 9 & (1<<14 - 1)), int64(e >> 5 & 0xf), int64(e & 0x1f)
	}
	y, m, d = civilDate(days)
	lastDate.Store(uint64(days)<<23 | uint64(y)<<9 | uint64(m)<<5 | uint64(d) + 1)
	return y, m, d
}

// civilDate converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's civil_from_days), for days >= 0.
func civilDate(days int64) (y, m, d int64) {
	z := days + 719468 // >= 0: callers pass days >= 0
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendCompact appends valid JSON on one line: as it is when it has no
// line breaks (the common case, and the cheap one), else compacted.
func appendCompact(dst, v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return append(dst, v...)
	}
	b := bytes.NewBuffer(dst)
	if err := json.Compact(b, v); err != nil {
		// Unreachable: v is valid JSON. Keep the output valid anyway.
		return appendString(b.Bytes(), "")
	}
	return b.Bytes()
}

func appendBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s, valid UTF-8, as a JSON string.
func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// wireRecord is the JSON shape of a Record, for decoding.
type wireRecord struct {
	Topic       string          `json:"topic"`
	Partition   int32           `json:"partition"`
	Offset      int64           `json:"offset"`
	Timestamp   time.Time       `json:"timestamp"`
	Key         *string         `json:"key"`
	KeyEncoding string          `json:"key_encoding"`
	Headers     []wireHeader    `json:"headers"`
	Value       json.RawMessage `json:"value"`
	Encoding    string          `json:"encoding"`
}

type wireHeader struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Encoding string `json:"encoding"`
}

// UnmarshalJSON decodes the format AppendJSON writes. A JSON value comes
// back as the compact JSON text.
func (r *Record) UnmarshalJSON(b []byte) error {
	var w wireRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	out := Record{Topic: w.Topic, Partition: w.Partition, Offset: w.Offset, Timestamp: w.Timestamp}
	var err error
	if w.Key != nil {
		if out.Key, err = decodeBytes(*w.Key, w.KeyEncoding); err != nil {
			return fmt.Errorf("key: %w", err)
		}
	}
	for i, h := range w.Headers {
		v, err := decodeBytes(h.Value, h.Encoding)
		if err != nil {
			return fmt.Errorf("headers[%d]: %w", i, err)
		}
		out.Headers = append(out.Headers, topics.Header{Key: h.Key, Value: v})
	}
	switch {
	case len(w.Value) == 0 || string(w.Value) == "null":
	case w.Encoding == encodingBase64:
		var s string
		if err := json.Unmarshal(w.Value, &s); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		if out.Value, err = decodeBytes(s, w.Encoding); err != nil {
			return fmt.Errorf("value: %w", err)
		}
	case w.Encoding != "":
		return fmt.Errorf("value: unknown encoding %q", w.Encoding)
	default:
		out.Value = bytes.Clone(w.Value)
	}
	*r = out
	return nil
}

func decodeBytes(s, encoding string) ([]byte, error) {
	switch encoding {
	case "":
		return []byte(s), nil
	case encodingBase64:
		return base64.StdEncoding.DecodeString(s)
	}
	return nil, errors.New("unknown encoding " + strconv.Quote(encoding))
}
