package schemas

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Why ferry has its own JSON decoder: on the quickstart order (~1 KB)
// json.Decoder with UseNumber takes about 11 µs to build the tree the
// validator walks; this decoder builds the same tree (objects as
// map[string]any, arrays as []any, numbers as json.Number, strings decoded
// exactly as encoding/json does) in about 4.5 µs (BenchmarkDecode), and
// checks the number limits below on the way, where encoding/json would need
// a second walk. FuzzDecode checks it against encoding/json.
//
// It copies the document into one string up front and hands out plain
// strings, keys and numbers as slices of it: on the quickstart order that
// is 53 allocations instead of 101 (BenchmarkDecode). The validator keeps
// nothing of the tree, so the copy dies with it.

// Limits on number literals. The validator compares numbers exactly with
// math/big, whose cost grows with the number of digits and with the
// exponent (1e1000000 takes ~25 ms, a million-digit integer over a second),
// and it panics on exponents that math/big refuses. Real payloads stay far
// inside these limits.
const (
	maxNumberLen = 100
	maxExponent  = 400
)

// firstInvalidUTF8 is the offset of the first byte of doc that does not
// start a valid UTF-8 sequence, or len(doc).
func firstInvalidUTF8(doc []byte) int {
	off := 0
	for off < len(doc) {
		r, size := utf8.DecodeRune(doc[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	return off
}

// maxDepth is how deeply arrays and objects may nest, the same limit as
// encoding/json's.
const maxDepth = 10000

// decode parses doc, which must hold exactly one JSON value (RFC 8259) in
// UTF-8, into the form the validator expects. It returns a violation for
// each number outside the limits above; the tree is complete even then.
// Unlike encoding/json, it refuses bytes that are not UTF-8 instead of
// reading them as U+FFFD: JSON exchanged between systems must be UTF-8
// (RFC 8259, section 8.1), and a document that passed would reach its
// consumers with bytes they cannot decode.
func decode(doc []byte) (any, []Violation, error) {
	if !utf8.Valid(doc) {
		d := decoder{data: doc, pos: firstInvalidUTF8(doc)}
		return nil, nil, d.errorf("%s is not UTF-8", quoteChar(doc[d.pos]))
	}
	d := decoder{data: doc, str: string(doc)}
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, nil, err
	}
	d.skipSpace()
	if d.pos < len(d.data) {
		return nil, nil, d.syntaxError("after top-level value")
	}
	return v, d.limits, nil
}

// decoder is a recursive-descent JSON parser over a byte slice.
type decoder struct {
	data   []byte
	str    string // a copy of data: plain strings and numbers are slices of it
	pos    int
	depth  int
	path   []segment // where the value being parsed sits, for violations
	limits []Violation
}

// segment is one step of an instance path: an object key or an array index.
type segment struct {
	key   string
	index int // -1 for a key
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.eof()
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.string()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	default:
		return nil, d.syntaxError("looking for beginning of value")
	}
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // {
	m := make(map[string]any)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return m, nil
	}
	for {
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		if d.data[d.pos] != '"' {
			return nil, d.syntaxError("looking for beginning of object key string")
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		if d.data[d.pos] != ':' {
			return nil, d.syntaxError("after object key")
		}
		d.pos++
		d.skipSpace()
		d.path = append(d.path, segment{key: k, index: -1})
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		d.path = d.path[:len(d.path)-1]
		m[k] = v
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case '}':
			d.pos++
			d.depth--
			return m, nil
		default:
			return nil, d.syntaxError("after object key:value pair")
		}
	}
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // [
	a := make([]any, 0, 4)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return a, nil
	}
	for {
		d.path = append(d.path, segment{index: len(a)})
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		d.path = d.path[:len(d.path)-1]
		a = append(a, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case ']':
			d.pos++
			d.depth--
			return a, nil
		default:
			return nil, d.syntaxError("after array element")
		}
	}
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return d.errorf("exceeded max depth of %d", maxDepth)
	}
	return nil
}

// string parses a string literal. Plain ASCII and valid UTF-8 without
// escapes are copied directly; anything else is handed to encoding/json, so
// that escapes and invalid UTF-8 (replaced by U+FFFD) decode exactly as
// they would there.
func (d *decoder) string() (string, error) {
	start := d.pos
	d.pos++ // "
	simple, ascii := true, true
	for {
		if d.pos >= len(d.data) {
			return "", d.eof()
		}
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			lit := d.data[start+1 : d.pos-1]
			if simple && (ascii || utf8.Valid(lit)) {
				return d.str[start+1 : d.pos-1], nil
			}
			var s string
			if err := json.Unmarshal(d.data[start:d.pos], &s); err != nil {
				d.pos = start
				return "", d.errorf("invalid string literal: %v", err)
			}
			return s, nil
		case c == '\\':
			simple = false
			d.pos++
			if d.pos >= len(d.data) {
				return "", d.eof()
			}
			switch d.data[d.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.pos++
			case 'u':
				d.pos++
				for range 4 {
					if d.pos >= len(d.data) {
						return "", d.eof()
					}
					if !isHex(d.data[d.pos]) {
						return "", d.syntaxError("in \\u hexadecimal character escape")
					}
					d.pos++
				}
			default:
				return "", d.syntaxError("in string escape code")
			}
		case c < 0x20:
			return "", d.syntaxError("in string literal")
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			d.pos++
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (d *decoder) literal(word string) error {
	for i := 0; i < len(word); i++ {
		if d.pos >= len(d.data) {
			return d.eof()
		}
		if d.data[d.pos] != word[i] {
			return d.syntaxError("in literal " + word + " (expecting " + quoteChar(word[i]) + ")")
		}
		d.pos++
	}
	return nil
}

// number parses -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and checks
// it against the limits.
func (d *decoder) number() (any, error) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	if d.pos >= len(d.data) {
		return nil, d.eof()
	}
	switch c := d.data[d.pos]; {
	case c == '0':
		d.pos++
	case c >= '1' && c <= '9':
		d.digits()
	default:
		return nil, d.syntaxError("in numeric literal")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		if !isDigit(d.data[d.pos]) {
			return nil, d.syntaxError("after decimal point in numeric literal")
		}
		d.digits()
	}
	exp := 0
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		neg := false
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			neg = d.data[d.pos] == '-'
			d.pos++
		}
		if d.pos >= len(d.data) {
			return nil, d.eof()
		}
		if !isDigit(d.data[d.pos]) {
			return nil, d.syntaxError("in exponent of numeric literal")
		}
		for d.pos < len(d.data) && isDigit(d.data[d.pos]) {
			if exp <= maxExponent {
				exp = exp*10 + int(d.data[d.pos]-'0')
			}
			d.pos++
		}
		if neg {
			exp = -exp
		}
	}
	switch {
	case d.pos-start > maxNumberLen:
		d.limit("number has more than " + strconv.Itoa(maxNumberLen) + " characters")
	case exp > maxExponent || exp < -maxExponent:
		d.limit("number exponent is beyond ±" + strconv.Itoa(maxExponent))
	}
	return json.Number(d.str[start:d.pos]), nil
}

func (d *decoder) digits() {
	for d.pos < len(d.data) && isDigit(d.data[d.pos]) {
		d.pos++
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// limit records a number outside the limits at the current path.
func (d *decoder) limit(msg string) {
	var b strings.Builder
	for _, s := range d.path {
		b.WriteByte('/')
		if s.index >= 0 {
			b.WriteString(strconv.Itoa(s.index))
			continue
		}
		b.WriteString(escapePointer(s.key))
	}
	d.limits = append(d.limits, Violation{InstancePath: b.String(), Message: msg})
}

// escapePointer escapes a key for use in a JSON Pointer (RFC 6901).
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func (d *decoder) eof() error {
	return d.errorf("unexpected end of JSON input")
}

// syntaxError reports the byte at the current position, in the words
// encoding/json uses.
func (d *decoder) syntaxError(context string) error {
	return d.errorf("invalid character %s %s", quoteChar(d.data[d.pos]), context)
}

func (d *decoder) errorf(format string, args ...any) error {
	line, col := position(d.data, d.pos)
	return fmt.Errorf("line %d, column %d: %s", line, col, fmt.Sprintf(format, args...))
}

// quoteChar formats a byte for a message.
func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= 0x20 && c < 0x7f:
		return "'" + string(c) + "'"
	default:
		return fmt.Sprintf("byte 0x%02x", c)
	}
}
