package schemas

import (
	"math/big"
	"regexp"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// Why ferry has a fast path in front of jsonschema v5: v5 validates a tree
// of map[string]any built for it, turns every number into a math/big.Rat,
// and builds instance-location strings even when nothing fails. On the
// quickstart order that is ~38 µs, 31 KB and 651 allocations per request
// (BenchmarkValidate), most of a publish's CPU.
//
// The fast path compiles a v5 schema, after v5 has resolved every $ref,
// into a tree of fastNodes for the keywords real request schemas use: type,
// required, properties, additionalProperties, enum and const of strings,
// numeric bounds, multipleOf, minLength/maxLength, minItems/maxItems, pattern, format
// (the formats v5 asserts, with v5's own checkers behind quick answers
// for plain values: formats.go), items, and $ref. A
// schema that uses anything else anywhere has no fast path and goes to v5
// as a whole.
//
// It then checks the raw bytes in one pass, building nothing. Its verdict
// is fastValid, fastInvalid or fastUnsure (escaped strings, exponents,
// numbers too long to compare cheaply, invalid UTF-8). Only fastValid is
// trusted: anything else runs v5, so a rejected document's violations are
// always v5's, word for word. FuzzFastPath checks the fast path against v5
// on every document: valid means v5 finds no violation, and invalid means
// v5 finds one (except where a duplicate key hides the failing value from
// v5, which keeps the last).

// fastVerdict is the fast path's answer about one document.
type fastVerdict int8

const (
	fastUnsure fastVerdict = iota
	fastValid
	fastInvalid
)

// Type bits of fastNode.types.
const (
	typeNull uint8 = 1 << iota
	typeBoolean
	typeNumber
	typeInteger
	typeString
	typeArray
	typeObject
)

var typeBits = map[string]uint8{
	"null": typeNull, "boolean": typeBoolean, "number": typeNumber, "integer": typeInteger,
	"string": typeString, "array": typeArray, "object": typeObject,
}

// fastFormats are the formats whose v5 checkers the fast path calls, on
// strings only: each of them passes every value that is not a string.
var fastFormats = map[string]bool{
	"date-time": true, "date": true, "time": true, "duration": true, "email": true, "hostname": true,
	"ipv4": true, "ipv6": true, "uri": true, "uri-reference": true, "uuid": true,
}

// fastNode is one compiled schema. A nil *fastNode accepts anything.
type fastNode struct {
	never bool  // the false schema
	types uint8 // allowed types; 0 allows all

	// Strings.
	minLen, maxLen int // -1: no bound
	pattern        *regexp.Regexp
	run            *asciiRun // pattern's verdict without the regexp engine, when it is that simple
	format         func([]byte) bool
	enum           []string // allowed strings, when hasEnum
	hasEnum        bool

	// Numbers.
	bounds     []fastBound
	multipleOf *big.Rat

	// Arrays.
	minItems, maxItems int // -1: no bound
	items              *fastNode

	// Objects.
	props        map[string]fastProp
	required     uint64 // bits of the required properties
	noAdditional bool   // additionalProperties: false
	additional   *fastNode
}

// fastProp is a property an object schema names: in properties, or only in
// required.
type fastProp struct {
	node   *fastNode
	bit    uint64 // this property's bit (each named property has one)
	listed bool   // in properties, so never additional
}

// fastBound is one of minimum, maximum, exclusiveMinimum, exclusiveMaximum.
type fastBound struct {
	// lt, eq and gt say whether a number below, equal to or above the
	// bound passes.
	lt, eq, gt bool
	isInt      bool // the bound is the int64 i; else the rational r
	i          int64
	r          *big.Rat
}

// compileFast returns the fast path of s, or nil when s uses a keyword it
// does not support.
func compileFast(s *jsonschema.Schema) *fastNode {
	c := fastCompiler{done: make(map[*jsonschema.Schema]*fastNode), refs: make(map[*jsonschema.Schema]bool)}
	n := c.node(s)
	if c.unsupported {
		return nil
	}
	return n
}

type fastCompiler struct {
	done        map[*jsonschema.Schema]*fastNode
	refs        map[*jsonschema.Schema]bool // schemas on the current chain of bare $refs
	unsupported bool
}

func (c *fastCompiler) node(s *jsonschema.Schema) *fastNode {
	if c.unsupported || s == nil {
		return nil
	}
	if n, ok := c.done[s]; ok {
		return n
	}
	if s.Ref != nil && bareRef(s) {
		// {"$ref": X} is X. A cycle of bare $refs never reaches a value:
		// v5 reports it as an error, so leave it to v5.
		if c.refs[s] {
			c.unsupported = true
			return nil
		}
		c.refs[s] = true
		n := c.node(s.Ref)
		delete(c.refs, s)
		c.done[s] = n
		return n
	}
	if !fastSupported(s) {
		c.unsupported = true
		return nil
	}
	n := &fastNode{minLen: s.MinLength, maxLen: s.MaxLength, minItems: s.MinItems, maxItems: s.MaxItems, pattern: s.Pattern}
	if s.Pattern != nil {
		n.run = compileASCIIRun(s.Pattern.String())
	}
	c.done[s] = n // before the children: schemas may recurse through properties and items
	if s.Always != nil {
		if *s.Always {
			c.done[s] = nil
			return nil
		}
		n.never = true
		return n
	}
	for _, t := range s.Types {
		n.types |= typeBits[t]
	}
	if s.Format != "" && fastFormats[s.Format] {
		n.format = formatCheck(s.Format, jsonschema.Formats[s.Format])
	}
	for _, v := range s.Enum {
		str, ok := v.(string)
		if !ok {
			c.unsupported = true
			return nil
		}
		n.enum, n.hasEnum = append(n.enum, str), true
	}
	if len(s.Constant) > 0 {
		str, ok := s.Constant[0].(string)
		if !ok || n.hasEnum {
			c.unsupported = true
			return nil
		}
		n.enum, n.hasEnum = []string{str}, true
	}
	for _, b := range []struct {
		r          *big.Rat
		lt, eq, gt bool
	}{
		{s.Minimum, false, true, true}, {s.ExclusiveMinimum, false, false, true},
		{s.Maximum, true, true, false}, {s.ExclusiveMaximum, true, false, false},
	} {
		if b.r == nil {
			continue
		}
		fb := fastBound{lt: b.lt, eq: b.eq, gt: b.gt, r: b.r}
		if b.r.IsInt() && b.r.Num().IsInt64() {
			fb.isInt, fb.i = true, b.r.Num().Int64()
		}
		n.bounds = append(n.bounds, fb)
	}
	n.multipleOf = s.MultipleOf
	if len(s.Properties)+len(s.Required) > 64 {
		c.unsupported = true
		return nil
	}
	if len(s.Properties) > 0 || len(s.Required) > 0 {
		n.props = make(map[string]fastProp, len(s.Properties)+len(s.Required))
	}
	for name, ps := range s.Properties {
		n.props[name] = fastProp{node: c.node(ps), bit: 1 << len(n.props), listed: true}
	}
	for _, name := range s.Required {
		p, ok := n.props[name]
		if !ok {
			p = fastProp{bit: 1 << len(n.props)}
			n.props[name] = p
		}
		n.required |= p.bit
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		n.noAdditional = !a
	case *jsonschema.Schema:
		n.additional = c.node(a)
	}
	n.items = c.node(s.Items2020)
	if s.Ref != nil {
		c.unsupported = true // $ref beside other keywords: leave it to v5
	}
	return n
}

// bareRef reports whether s is {"$ref": X} with nothing else to check.
func bareRef(s *jsonschema.Schema) bool {
	return s.Always == nil && len(s.Types) == 0 && s.Format == "" && len(s.Enum) == 0 && len(s.Constant) == 0 &&
		fastSupported(s) && s.Minimum == nil && s.Maximum == nil && s.ExclusiveMinimum == nil && s.ExclusiveMaximum == nil &&
		len(s.Properties) == 0 && len(s.Required) == 0 && s.AdditionalProperties == nil && s.Items2020 == nil &&
		s.MinLength == -1 && s.MaxLength == -1 && s.Pattern == nil && s.MinItems == -1 && s.MaxItems == -1
}

// fastSupported reports whether s uses only keywords the fast path checks
// (or annotations, which check nothing).
func fastSupported(s *jsonschema.Schema) bool {
	return s.RecursiveRef == nil && s.DynamicRef == nil && s.Not == nil && len(s.AllOf) == 0 && len(s.AnyOf) == 0 &&
		len(s.OneOf) == 0 && s.If == nil && s.MinProperties == -1 && s.MaxProperties == -1 && s.PropertyNames == nil &&
		len(s.PatternProperties) == 0 && len(s.Dependencies) == 0 && len(s.DependentRequired) == 0 &&
		len(s.DependentSchemas) == 0 && s.UnevaluatedProperties == nil && !s.UniqueItems && s.Items == nil &&
		s.AdditionalItems == nil && len(s.PrefixItems) == 0 && s.Contains == nil && s.UnevaluatedItems == nil &&
		s.ContentEncoding == "" && s.ContentMediaType == "" && s.ContentSchema == nil &&
		len(s.Extensions) == 0 && (s.Format == "" || fastFormats[s.Format] || jsonschema.Formats[s.Format] == nil)
}

// check gives the fast path's verdict on doc.
func (n *fastNode) check(doc []byte) fastVerdict {
	v, _ := n.checkMember(doc, "")
	return v
}

// checkMember is check that also returns the raw value of doc's
// top-level member name (the last one, as a JSON pointer reads it) when
// the verdict is fastValid and doc is an object with that member; nil
// otherwise, and for name "".
func (n *fastNode) checkMember(doc []byte, name string) (fastVerdict, []byte) {
	if !utf8.Valid(doc) {
		return fastUnsure, nil
	}
	sc := fastScanner{data: doc, member: name}
	sc.space()
	v := sc.value(n, 0)
	if v != fastValid {
		return v, nil
	}
	sc.space()
	if sc.pos != len(sc.data) {
		return fastUnsure, nil // not one JSON value: v5's path says what is wrong
	}
	return fastValid, sc.value0
}

// fastScanner reads one JSON document, checking it against fastNodes.
type fastScanner struct {
	data []byte
	pos  int
	// member names a top-level member whose raw value the scan keeps in
	// value0 (the last one seen), or is "".
	member string
	value0 []byte
}

func (sc *fastScanner) space() {
	for sc.pos < len(sc.data) {
		switch sc.data[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

// value reads the value at sc.pos and checks it against n.
func (sc *fastScanner) value(n *fastNode, depth int) fastVerdict {
	if depth > maxDepth || sc.pos >= len(sc.data) {
		return fastUnsure
	}
	if n != nil && n.never {
		return fastInvalid
	}
	switch c := sc.data[sc.pos]; {
	case c == '{':
		if !n.allows(typeObject) {
			return fastInvalid
		}
		return sc.object(n, depth)
	case c == '[':
		if !n.allows(typeArray) {
			return fastInvalid
		}
		return sc.array(n, depth)
	case c == '"':
		s, ok := sc.str()
		if !ok {
			return fastUnsure
		}
		return n.checkString(s)
	case c == 't', c == 'f', c == 'n':
		var lit string
		var t uint8
		switch c {
		case 't':
			lit, t = "true", typeBoolean
		case 'f':
			lit, t = "false", typeBoolean
		default:
			lit, t = "null", typeNull
		}
		if len(sc.data)-sc.pos < len(lit) || string(sc.data[sc.pos:sc.pos+len(lit)]) != lit {
			return fastUnsure
		}
		sc.pos += len(lit)
		if !n.allows(t) || (n != nil && n.hasEnum) {
			return fastInvalid
		}
		return fastValid
	case c == '-' || (c >= '0' && c <= '9'):
		return sc.number(n)
	}
	return fastUnsure
}

// allows reports whether the type bit t passes n's type keyword.
func (n *fastNode) allows(t uint8) bool {
	return n == nil || n.types == 0 || n.types&t != 0
}

func (sc *fastScanner) object(n *fastNode, depth int) fastVerdict {
	sc.pos++ // {
	var seen uint64
	sc.space()
	if sc.pos < len(sc.data) && sc.data[sc.pos] == '}' {
		sc.pos++
		return n.checkRequired(seen)
	}
	for {
		sc.space()
		if sc.pos >= len(sc.data) || sc.data[sc.pos] != '"' {
			return fastUnsure
		}
		key, ok := sc.str()
		if !ok {
			return fastUnsure
		}
		sc.space()
		if sc.pos >= len(sc.data) || sc.data[sc.pos] != ':' {
			return fastUnsure
		}
		sc.pos++
		sc.space()
		var child *fastNode
		if n != nil {
			if p, named := n.props[string(key)]; named && p.listed {
				if seen&p.bit != 0 {
					return fastUnsure // a duplicate key: v5 sees only the last
				}
				seen |= p.bit
				child = p.node
			} else {
				if named {
					seen |= p.bit
				}
				if n.noAdditional {
					return fastInvalid
				}
				child = n.additional
			}
		}
		start := sc.pos
		if v := sc.value(child, depth+1); v != fastValid {
			return v
		}
		if depth == 0 && sc.member != "" && string(key) == sc.member {
			sc.value0 = sc.data[start:sc.pos] // keys here have no escapes (str)
		}
		sc.space()
		if sc.pos >= len(sc.data) {
			return fastUnsure
		}
		switch sc.data[sc.pos] {
		case ',':
			sc.pos++
		case '}':
			sc.pos++
			return n.checkRequired(seen)
		default:
			return fastUnsure
		}
	}
}

func (n *fastNode) checkRequired(seen uint64) fastVerdict {
	if n != nil && seen&n.required != n.required {
		return fastInvalid
	}
	if n != nil && n.hasEnum {
		return fastInvalid
	}
	return fastValid
}

func (sc *fastScanner) array(n *fastNode, depth int) fastVerdict {
	sc.pos++ // [
	var items *fastNode
	if n != nil {
		items = n.items
		if n.hasEnum {
			return fastInvalid
		}
	}
	count := 0
	sc.space()
	if sc.pos < len(sc.data) && sc.data[sc.pos] == ']' {
		sc.pos++
		return n.checkItems(count)
	}
	for {
		sc.space()
		if v := sc.value(items, depth+1); v != fastValid {
			return v
		}
		count++
		sc.space()
		if sc.pos >= len(sc.data) {
			return fastUnsure
		}
		switch sc.data[sc.pos] {
		case ',':
			sc.pos++
		case ']':
			sc.pos++
			return n.checkItems(count)
		default:
			return fastUnsure
		}
	}
}

func (n *fastNode) checkItems(count int) fastVerdict {
	if n != nil && ((n.minItems >= 0 && count < n.minItems) || (n.maxItems >= 0 && count > n.maxItems)) {
		return fastInvalid
	}
	return fastValid
}

// str reads a string without escapes and returns its contents; ok is false
// for an escape (left to v5) or a control character (a syntax error).
func (sc *fastScanner) str() ([]byte, bool) {
	start := sc.pos + 1
	for i := start; i < len(sc.data); i++ {
		switch c := sc.data[i]; {
		case c == '"':
			sc.pos = i + 1
			return sc.data[start:i], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (n *fastNode) checkString(s []byte) fastVerdict {
	if n == nil {
		return fastValid
	}
	if !n.allows(typeString) {
		return fastInvalid
	}
	if n.minLen >= 0 || n.maxLen >= 0 {
		l := utf8.RuneCount(s)
		if (n.minLen >= 0 && l < n.minLen) || (n.maxLen >= 0 && l > n.maxLen) {
			return fastInvalid
		}
	}
	if n.run != nil {
		if !n.run.match(s) {
			return fastInvalid
		}
	} else if n.pattern != nil && !n.pattern.Match(s) {
		return fastInvalid
	}
	if n.hasEnum {
		found := false
		for _, e := range n.enum {
			if string(s) == e {
				found = true
				break
			}
		}
		if !found {
			return fastInvalid
		}
	}
	if n.format != nil && !n.format(s) {
		return fastInvalid
	}
	return fastValid
}

// number reads a number literal and checks it: exactly, with int64
// arithmetic when the number and the bound allow it, else math/big.
func (sc *fastScanner) number(n *fastNode) fastVerdict {
	start := sc.pos
	d := sc.data
	i := sc.pos
	neg := d[i] == '-'
	if neg {
		i++
	}
	intStart := i
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return fastUnsure
	}
	intEnd := i
	frac := false // a non-zero digit after the point
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return fastUnsure
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			frac = frac || d[i] != '0'
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		return fastUnsure // exponents (and their limits) are v5's
	}
	sc.pos = i
	if i-start > maxNumberLen || intEnd-intStart > 18 {
		return fastUnsure
	}
	if n == nil {
		return fastValid
	}
	if n.hasEnum || !n.allows(typeNumber|typeInteger) {
		return fastInvalid
	}
	if n.types != 0 && n.types&typeNumber == 0 && frac { // integer, not number
		return fastInvalid
	}
	if n.multipleOf != nil {
		// As v5 does it, with math/big: exact for every decimal.
		x, ok := new(big.Rat).SetString(string(d[start:i]))
		if !ok {
			return fastUnsure
		}
		if !x.Quo(x, n.multipleOf).IsInt() {
			return fastInvalid
		}
	}
	if len(n.bounds) == 0 {
		return fastValid
	}
	var ip int64
	for _, c := range d[intStart:intEnd] {
		ip = ip*10 + int64(c-'0')
	}
	for _, b := range n.bounds {
		var c int
		if b.isInt {
			c = cmpDecimalInt(neg, ip, frac, b.i)
		} else {
			x, ok := new(big.Rat).SetString(string(d[start:i]))
			if !ok {
				return fastUnsure
			}
			c = x.Cmp(b.r)
		}
		if (c < 0 && !b.lt) || (c == 0 && !b.eq) || (c > 0 && !b.gt) {
			return fastInvalid
		}
	}
	return fastValid
}

// cmpDecimalInt compares x = ±(ip + f), where f is in [0, 1) and non-zero
// exactly when frac, with the integer b: -1, 0 or +1.
func cmpDecimalInt(neg bool, ip int64, frac bool, b int64) int {
	if !neg {
		switch {
		case ip < b:
			return -1 // even with f: ip + f < ip + 1 <= b
		case ip > b || frac:
			return 1
		}
		return 0
	}
	// x = -ip - f, in (-ip-1, -ip]; ip >= 0, so -ip is exact.
	switch {
	case -ip > b:
		return 1 // integers: -ip-1 >= b, and x > -ip-1
	case -ip < b:
		return -1
	case frac:
		return -1 // x < -ip = b
	}
	return 0
}
