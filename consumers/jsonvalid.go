package consumers

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// ValidJSON reports whether b is exactly one JSON value (RFC 8259) with
// optional surrounding whitespace. It accepts what encoding/json's Valid
// accepts, nesting limit included (FuzzValidJSON checks that), at about
// three times its speed: the replay API checks every value it embeds, and
// a batch body is checked with it. It is a loop over an explicit stack of
// open containers, without a call per token. Like json.Valid it does not
// check that strings are UTF-8; callers check that with utf8.Valid.
func ValidJSON(b []byte) bool {
	var small [64]byte
	stack := small[:0] // '{' or '[' per open container
	i := skipSpace(b, 0)
	var ok bool
value:
	if i >= len(b) {
		return false
	}
	switch c := b[i]; c {
	case '{', '[':
		if stack = append(stack, c); len(stack) > maxJSONDepth {
			return false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == c+2 { // '}' is '{'+2, ']' is '['+2
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		if c == '{' {
			goto key
		}
		goto value
	case '"':
		i, ok = validString(b, i)
	case 't':
		i, ok = literal(b, i, "true")
	case 'f':
		i, ok = literal(b, i, "false")
	case 'n':
		i, ok = literal(b, i, "null")
	default:
		if c != '-' && (c < '0' || c > '9') {
			return false
		}
		i, ok = validNumber(b, i)
	}
	if !ok {
		return false
	}
after:
	i = skipSpace(b, i)
	if len(stack) == 0 {
		return i == len(b)
	}
	if i >= len(b) {
		return false
	}
	switch top := stack[len(stack)-1]; b[i] {
	case ',':
		i = skipSpace(b, i+1)
		if top == '{' {
			goto key
		}
		goto value
	case top + 2:
		stack = stack[:len(stack)-1]
		i++
		goto after
	}
	return false
key:
	if i >= len(b) || b[i] != '"' {
		return false
	}
	if i, ok = validString(b, i); !ok {
		return false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return false
	}
	i = skipSpace(b, i+1)
	goto value
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// plainString marks the bytes a JSON string holds as they are: not a
// control character, quote or backslash.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// Words of eight equal bytes, for scanning strings eight bytes at a time.
const (
	ones      = 0x0101010101010101
	highs     = 0x8080808080808080
	quotes    = '"' * ones
	backslash = '\\' * ones
	spaces    = 0x20 * ones
)

// plainRun returns the index of the first byte from i on that is not a
// plain string byte (or len(b)).
func plainRun(b []byte, i int) int {
	for n := 0; len(b)-i >= 8; n++ {
		if n == 2 {
			// Sixteen plain bytes: likely a long string (a payload,
			// padding), which longRun scans several times faster.
			return longRun(b, i)
		}
		v := binary.LittleEndian.Uint64(b[i:])
		q, bs := v^quotes, v^backslash
		// A byte is flagged when it is < 0x20, or 0 after the xor (a quote
		// or backslash): the classic "has a byte less than n" test on v, q
		// and bs. Bytes >= 0x80 are never flagged in v; in q and bs they
		// cannot be zero.
		m := ((v - spaces) &^ v) | ((q - ones) &^ q) | ((bs - ones) &^ bs)
		if m &= highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && plainString[b[i]] {
		i++
	}
	return i
}

// longRun is plainRun for long runs: bytes.IndexByte (SIMD) finds the
// next quote, then a backslash before it, and a word-at-a-time check
// looks for a control character before either, the only test left.
func longRun(b []byte, i int) int {
	end := len(b)
	if k := bytes.IndexByte(b[i:], '"'); k >= 0 {
		end = i + k
	}
	if k := bytes.IndexByte(b[i:end], '\\'); k >= 0 {
		end = i + k
	}
	if k := controlIndex(b[i:end]); k >= 0 {
		end = i + k
	}
	return end
}

// controlIndex returns the index of the first control character (< 0x20)
// in s, or -1.
func controlIndex(s []byte) int {
	i := 0
	for ; len(s)-i >= 16; i += 16 {
		v, w := binary.LittleEndian.Uint64(s[i:]), binary.LittleEndian.Uint64(s[i+8:])
		if ((v-spaces)&^v|(w-spaces)&^w)&highs != 0 {
			break // one of the two words holds one: find it below
		}
	}
	for ; i < len(s); i++ {
		if s[i] < 0x20 {
			return i
		}
	}
	return -1
}

func validString(b []byte, i int) (int, bool) {
	i++ // opening quote
	for {
		i = plainRun(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	return i, true
}
