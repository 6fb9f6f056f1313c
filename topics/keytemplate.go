package topics

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// KeyTemplate builds a record key (or header value) from a request: literal
// text around {path.NAME}, {header.NAME}, {body./json/pointer},
// {claim.NAME}, {client.ip} (the client's address) and {now} (when the
// request was received, RFC 3339 in UTC with milliseconds) references.
// "{{" and "}}" stand for literal braces.
// A KeyTemplate is immutable and safe for concurrent use.
type KeyTemplate struct {
	src   string
	parts []part
	body  bool
	// member is the top-level body member that every body reference of
	// the template names ({body./NAME}), or "" when they name others or
	// several (BodyMember).
	member string
}

type partKind uint8

const (
	partLiteral partKind = iota
	partPath
	partHeader
	partBody
	partClaim
	partClientIP
	partNow
)

type part struct {
	kind partKind
	name string   // literal text, parameter, header or claim name
	ptr  []string // decoded JSON pointer tokens for partBody
}

// Fields gives a template the values of one request. Absent values are "".
type Fields interface {
	// Param returns the value of a path parameter.
	Param(name string) string
	// Header returns the value of a request header.
	Header(name string) string
	// Claim returns a claim of the authenticated principal.
	Claim(name string) (string, bool)
	// ClientIP returns the client's address (behind trusted proxies, the
	// address they forwarded).
	ClientIP() string
	// Now returns when the request was received.
	Now() time.Time
}

// ParseKeyTemplate parses a template. It fails on unbalanced braces, unknown
// reference kinds, empty names and malformed JSON pointers.
func ParseKeyTemplate(src string) (*KeyTemplate, error) {
	k := &KeyTemplate{src: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			k.parts = append(k.parts, part{kind: partLiteral, name: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '{' && i+1 < len(src) && src[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(src) && src[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("unmatched } at offset %d (write }} for a literal brace)", i)
		case c == '{':
			end := strings.IndexByte(src[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed { at offset %d", i)
			}
			p, err := parseRef(src[i+1 : i+end])
			if err != nil {
				return nil, err
			}
			flush()
			k.parts = append(k.parts, p)
			k.body = k.body || p.kind == partBody
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	k.member = oneMember(k.parts)
	return k, nil
}

// oneMember returns the top-level member that every body reference of
// parts names, or "" when there is none, or more than one, or a deeper
// pointer.
func oneMember(parts []part) string {
	name := ""
	for _, p := range parts {
		if p.kind != partBody {
			continue
		}
		if len(p.ptr) != 1 || p.ptr[0] == "" || (name != "" && p.ptr[0] != name) {
			return ""
		}
		name = p.ptr[0]
	}
	return name
}

func parseRef(ref string) (part, error) {
	switch ref {
	case "now":
		return part{kind: partNow}, nil
	case "client.ip":
		return part{kind: partClientIP}, nil
	}
	kind, name, ok := strings.Cut(ref, ".")
	if !ok || name == "" {
		return part{}, fmt.Errorf("{%s}: want {path.NAME}, {header.NAME}, {body./pointer}, {claim.NAME}, {client.ip} or {now}", ref)
	}
	switch kind {
	case "path":
		return part{kind: partPath, name: name}, nil
	case "header":
		if !hdrRe.MatchString(name) {
			return part{}, fmt.Errorf("{%s}: %q is not a header name", ref, name)
		}
		return part{kind: partHeader, name: name}, nil
	case "claim":
		return part{kind: partClaim, name: name}, nil
	case "body":
		if !strings.HasPrefix(name, "/") {
			return part{}, fmt.Errorf("{%s}: a body reference is a JSON pointer starting with /", ref)
		}
		toks := strings.Split(name[1:], "/")
		for i, t := range toks {
			if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(t, "~0", ""), "~1", ""), "~") {
				return part{}, fmt.Errorf("{%s}: bad escape in JSON pointer (use ~0 for ~ and ~1 for /)", ref)
			}
			toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		}
		return part{kind: partBody, name: name, ptr: toks}, nil
	}
	return part{}, fmt.Errorf("{%s}: unknown reference kind %q", ref, kind)
}

// String returns the template's source text.
func (k *KeyTemplate) String() string { return k.src }

// UsesBody reports whether the template reads the request body.
func (k *KeyTemplate) UsesBody() bool { return k.body }

// BodyMember returns the top-level body member that the template's body
// references all name ({body./customer_id} names customer_id), when
// there is exactly one: a validator that reads the body anyway can take
// its value on the way (NewValidatedBody), so that the template does not
// read the body again. ok is false for a nil template.
func (k *KeyTemplate) BodyMember() (name string, ok bool) {
	if k == nil {
		return "", false
	}
	return k.member, k.member != ""
}

// Headers returns the names of the request headers the template reads, as
// written, each once, in order of appearance (for API descriptions: a
// missing one makes the request fail with ErrKeyUnresolved).
func (k *KeyTemplate) Headers() []string {
	var names []string
	for _, p := range k.parts {
		if p.kind == partHeader && !slices.Contains(names, p.name) {
			names = append(names, p.name)
		}
	}
	return names
}

// Append appends the template's value for one request to dst. Every
// reference must resolve to a non-empty value, else the error wraps
// ErrKeyUnresolved. body is decoded at most once across calls sharing it.
func (k *KeyTemplate) Append(dst []byte, f Fields, body *Body) ([]byte, error) {
	for _, p := range k.parts {
		var v string
		switch p.kind {
		case partLiteral:
			dst = append(dst, p.name...)
			continue
		case partPath:
			v = f.Param(p.name)
		case partHeader:
			v = f.Header(p.name)
		case partClaim:
			v, _ = f.Claim(p.name)
		case partClientIP:
			v = f.ClientIP()
		case partNow:
			dst = f.Now().UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
			continue
		case partBody:
			start := len(dst)
			var err error
			if dst, err = body.appendPointer(dst, p); err != nil {
				return nil, err
			}
			if i := controlByte(string(dst[start:])); i >= 0 {
				return nil, fmt.Errorf("%w: {%s} holds the control character 0x%02x", ErrKeyInvalid, refName(p), dst[start+i])
			}
			continue
		}
		if v == "" {
			return nil, fmt.Errorf("%w: {%s} is empty or missing", ErrKeyUnresolved, refName(p))
		}
		if i := controlByte(v); i >= 0 {
			return nil, fmt.Errorf("%w: {%s} holds the control character 0x%02x", ErrKeyInvalid, refName(p), v[i])
		}
		dst = append(dst, v...)
	}
	return dst, nil
}

func refName(p part) string {
	switch p.kind {
	case partPath:
		return "path." + p.name
	case partHeader:
		return "header." + p.name
	case partClaim:
		return "claim." + p.name
	case partClientIP:
		return "client.ip"
	}
	return "body." + p.name
}

// Body is a request body that key templates read through JSON pointers. It
// checks once, on first use, that the body is JSON, then finds each
// pointer's value by scanning the bytes, without decoding the rest of the
// body (the body was usually decoded already, for schema validation). The
// zero value is an empty body.
type Body struct {
	raw     []byte
	checked bool
	valid   bool
	// member's value is at hand (NewValidatedBody): the raw JSON of the
	// top-level member of that name, as lookupPointer would find it.
	member string
	value  []byte
}

// NewBody wraps raw JSON bytes; they are not copied and must not change.
func NewBody(raw []byte) *Body { return &Body{raw: raw} }

// NewValidatedBody wraps raw bytes the caller has already found to be
// one valid JSON value (a schema validator or a syntax check did), so
// that templates do not check them a second time. value, when not nil,
// is the raw JSON of raw's top-level member name (the last one, as a
// JSON pointer reads it), which the validator handed over, so that a
// template reading {body./name} does not scan the body for it; a nil
// value says nothing, and the member is looked up as usual. The bytes
// are not copied and must not change.
func NewValidatedBody(raw []byte, name string, value []byte) Body {
	return Body{raw: raw, checked: true, valid: true, member: name, value: value}
}

func (b *Body) appendPointer(dst []byte, p part) ([]byte, error) {
	if !b.checked {
		b.checked = true
		b.valid = json.Valid(b.raw)
	}
	if !b.valid {
		return nil, fmt.Errorf("%w: {body.%s}: body is not JSON", ErrKeyUnresolved, p.name)
	}
	var v []byte
	ok := false
	if b.value != nil && len(p.ptr) == 1 && p.ptr[0] == b.member {
		v, ok = b.value, true
	} else {
		v, ok = lookupPointer(b.raw, p.ptr)
	}
	if !ok {
		return nil, fmt.Errorf("%w: {body.%s} is missing", ErrKeyUnresolved, p.name)
	}
	switch v[0] {
	case '"':
		if len(v) > 2 {
			return appendString(dst, v), nil
		}
	case 't', 'f':
		return append(dst, v...), nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return append(dst, v...), nil // the literal, as json.Number keeps it
	}
	return nil, fmt.Errorf("%w: {body.%s} must be a non-empty string, a number or a boolean", ErrKeyUnresolved, p.name)
}

// controlByte returns the index of the first C0 control or DEL in s, or
// -1: the bytes no value copied into a key or a header may carry.
func controlByte(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return i
		}
	}
	return -1
}
