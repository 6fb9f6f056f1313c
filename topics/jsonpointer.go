package topics

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Why key templates scan instead of decoding: the body of a route with a
// schema has just been decoded for validation, and decoding it again with
// encoding/json to read one member cost the quickstart order (~1 KB) about
// 110 allocations and a sixth of the publish handler's time. lookupPointer
// finds the member in the bytes. FuzzLookupPointer checks it against
// decoding with encoding/json.

// lookupPointer returns the bytes of the value at the JSON Pointer tokens
// toks in raw, which must be valid JSON (json.Valid). As in encoding/json, a
// key that appears twice in an object takes its last value, and keys are
// compared after unescaping. An array index is what strconv.Atoi reads,
// without leading zeros. ok is false when the pointer leads nowhere.
func lookupPointer(raw []byte, toks []string) (v []byte, ok bool) {
	v = bytes.TrimSpace(raw)
	for _, tok := range toks {
		switch v[0] {
		case '{':
			if v, ok = member(v, tok); !ok {
				return nil, false
			}
		case '[':
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			if v, ok = element(v, i); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return v, true
}

// member returns the last value of key in the object obj.
func member(obj []byte, key string) (v []byte, ok bool) {
	i := skipSpace(obj, 1)
	for obj[i] != '}' {
		kEnd := skipString(obj, i)
		k := obj[i:kEnd]
		i = skipSpace(obj, kEnd)
		i = skipSpace(obj, i+1) // ':'
		vEnd := skipValue(obj, i)
		if keyEquals(k, key) {
			v, ok = obj[i:vEnd], true
		}
		i = skipSpace(obj, vEnd)
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return v, ok
}

// element returns the n-th value of the array arr.
func element(arr []byte, n int) ([]byte, bool) {
	i := skipSpace(arr, 1)
	for idx := 0; arr[i] != ']'; idx++ {
		end := skipValue(arr, i)
		if idx == n {
			return arr[i:end], true
		}
		i = skipSpace(arr, end)
		if arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return nil, false
}

// keyEquals compares a quoted key literal with a key.
func keyEquals(lit []byte, key string) bool {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner) == key
	}
	var s string
	return json.Unmarshal(lit, &s) == nil && s == key
}

// appendString appends the value of a quoted string literal.
func appendString(dst, lit []byte) []byte {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return append(dst, inner...)
	}
	var s string
	_ = json.Unmarshal(lit, &s) // valid JSON; invalid UTF-8 becomes U+FFFD, as when decoding
	return append(dst, s...)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value starting at i.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}
