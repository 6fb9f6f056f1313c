package consumers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Where is a condition on a record's JSON value: the value at Pointer (an
// RFC 6901 JSON Pointer; "" is the whole value) compared with Value by Op.
// It is written `/status = "failed"` or `/amount > 100` (ParseWhere).
//
// = and != compare any JSON values (numbers by value: 100 = 1e2, objects
// whatever their key order); <, <=, > and >= compare two numbers, or two
// strings (by bytes, so RFC 3339 times in one zone sort as times). A
// record whose value is not JSON, or has nothing at Pointer, matches no
// condition, != included. A Where is immutable and safe for concurrent
// use.
type Where struct {
	// Pointer is the JSON Pointer as written; path its unescaped tokens.
	Pointer string
	path    []string
	// Op is =, !=, <, <=, > or >=.
	Op string
	// Value is the JSON value compared with, decoded (numbers as float64).
	Value any
	// text is Value as written, compacted.
	text string
}

// ops are the operators, longest first so that "<=" is not read as "<".
var ops = []string{"!=", "<=", ">=", "=", "<", ">"}

// ParseWhere reads a condition: a JSON Pointer, an operator and a JSON
// value (`/status="failed"`, `/amount > 100`, `/a/b != null`); spaces
// around the operator are allowed. The pointer ends at the first = ! < or
// > character. Its error wraps ErrBadWhere and says what is wrong, in
// words fit for a client.
func ParseWhere(s string) (Where, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!<>")
	if i < 0 {
		return Where{}, fmt.Errorf("%w: %s has no operator (=, !=, <, <=, >, >=)", ErrBadWhere, strconv.Quote(s))
	}
	w := Where{Pointer: strings.TrimSpace(s[:i])}
	for _, op := range ops {
		if strings.HasPrefix(s[i:], op) {
			w.Op = op
			break
		}
	}
	if w.Op == "" {
		return Where{}, fmt.Errorf("%w: %s has no operator (=, !=, <, <=, >, >=)", ErrBadWhere, strconv.Quote(s))
	}
	path, err := parsePointer(w.Pointer)
	if err != nil {
		return Where{}, err
	}
	w.path = path
	raw := []byte(strings.TrimSpace(s[i+len(w.Op):]))
	if err := json.Unmarshal(raw, &w.Value); err != nil {
		return Where{}, fmt.Errorf("%w: the value of %s must be one JSON value (a string in double quotes, a number, true, false, null, an array or an object)", ErrBadWhere, strconv.Quote(s))
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, raw) // raw is valid JSON: Unmarshal said so
	w.text = buf.String()
	if w.Op != "=" && w.Op != "!=" {
		switch w.Value.(type) {
		case float64, string:
		default:
			return Where{}, fmt.Errorf("%w: %s orders only numbers and strings", ErrBadWhere, w.Op)
		}
	}
	return w, nil
}

// PointerEquals returns the condition that the value at pointer (an RFC
// 6901 JSON Pointer) equals v, a JSON value as encoding/json decodes it
// (a string, a float64, ...): the value-bound tenant match of streams.
// Its error wraps ErrBadWhere.
func PointerEquals(pointer string, v any) (Where, error) {
	path, err := parsePointer(pointer)
	if err != nil {
		return Where{}, err
	}
	text, err := json.Marshal(v)
	if err != nil {
		return Where{}, fmt.Errorf("%w: %v", ErrBadWhere, err)
	}
	return Where{Pointer: pointer, path: path, Op: "=", Value: v, text: string(text)}, nil
}

// ParseWheres parses each condition of ss (ParseWhere); nil for none.
func ParseWheres(ss []string) ([]Where, error) {
	var out []Where
	for _, s := range ss {
		w, err := ParseWhere(s)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// parsePointer splits an RFC 6901 pointer into its unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("%w: %s is not a JSON Pointer: start it with / (/status, /items/0/sku)", ErrBadWhere, strconv.Quote(p))
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || t[j+1] != '0' && t[j+1] != '1') {
				return nil, fmt.Errorf("%w: in %s, ~ must be followed by 0 (for ~) or 1 (for /)", ErrBadWhere, strconv.Quote(p))
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// String returns the condition in ParseWhere's form, spaced.
func (w Where) String() string { return w.Pointer + " " + w.Op + " " + w.text }

// MatchWhere reports whether value, a record's value, meets every
// condition of ws. It decodes value once, and only when there is a
// condition: no condition holds for every record, JSON or not.
func MatchWhere(ws []Where, value []byte) bool {
	if len(ws) == 0 {
		return true
	}
	var doc any
	if json.Unmarshal(value, &doc) != nil {
		return false
	}
	for _, w := range ws {
		if !w.holds(doc) {
			return false
		}
	}
	return true
}

// holds reports whether the decoded document meets w.
func (w Where) holds(doc any) bool {
	v, ok := lookup(doc, w.path)
	if !ok {
		return false
	}
	switch w.Op {
	case "=":
		return reflect.DeepEqual(v, w.Value)
	case "!=":
		return !reflect.DeepEqual(v, w.Value)
	}
	c, ok := order(v, w.Value)
	if !ok {
		return false
	}
	switch w.Op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	default: // ">="
		return c >= 0
	}
}

// lookup resolves a pointer's tokens in a decoded document.
func lookup(doc any, path []string) (any, bool) {
	for _, tok := range path {
		switch d := doc.(type) {
		case map[string]any:
			v, ok := d[tok]
			if !ok {
				return nil, false
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(d) || tok != strconv.Itoa(i) {
				return nil, false
			}
			doc = d[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

// order compares two numbers or two strings: -1, 0 or 1, and whether
// they could be compared.
func order(a, b any) (int, bool) {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	}
	return 0, false
}
