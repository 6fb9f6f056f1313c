package schemas

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// Validate checks doc, a JSON document such as a request body, against the
// schema with this $id. It returns nil if doc conforms; a *ValidationError
// listing every violation if it does not; an error wrapping ErrNotJSON if
// doc is not a single valid JSON value; and an error wrapping
// ErrUnknownSchema if the Set has no such schema.
//
// Numbers are compared exactly, not as float64. Because exact arithmetic on
// huge literals is slow, a number longer than 100 characters or with an
// exponent beyond ±400 is reported as a violation (with an empty
// SchemaPath) instead of being checked.
//
// Any other error is a fault of the schema or the validator, not of the
// document. Validate is safe for concurrent use and does not keep doc.
func (s *Set) Validate(id string, doc []byte) error {
	_, err := s.ValidateMember(id, doc, "")
	return err
}

// ValidateMember is Validate that also returns the raw JSON value of
// doc's top-level member name (the last one, as the JSON pointer /name
// reads it), when the fast path validated doc in one pass and met that
// member on the way: a key template then need not read the body again.
// The value is nil otherwise (the document went to v5, or has no such
// member); the caller then reads it itself. It aliases doc.
func (s *Set) ValidateMember(id string, doc []byte, name string) ([]byte, error) {
	e := s.lookup(id)
	if e == nil {
		return nil, fmt.Errorf("validate against %s: %w", id, ErrUnknownSchema)
	}
	if e.fast != nil {
		if v, member := e.fast.checkMember(doc, name); v == fastValid {
			return member, nil // see fast.go: anything but valid goes through v5
		}
	}
	return nil, e.validate(doc)
}

// validate checks doc with jsonschema v5, which says why a document fails.
func (e *entry) validate(doc []byte) (err error) {
	v, limits, err := decode(doc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	if len(limits) > 0 {
		sortViolations(limits)
		return &ValidationError{SchemaID: e.id, Violations: slices.Compact(limits)}
	}
	defer func() {
		// The validator has panicked on documents before (on numbers
		// math/big refuses, now kept out by decode). One request body
		// must not take the gateway down; FuzzValidate reports this
		// error as a failure, so such bugs still surface.
		if r := recover(); r != nil {
			err = fmt.Errorf("validate against %s: validator panicked: %v", e.id, r)
		}
	}()
	err = e.schema.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return &ValidationError{SchemaID: e.id, Violations: violations(ve)}
	}
	// Only an infinite $ref loop gets here; it is a fault of the schema,
	// not of the document.
	return fmt.Errorf("validate against %s: %w", e.id, err)
}

// violations flattens the tree of errors from the validator into its leaves,
// the failures that say what is actually wrong, deduplicated and in a stable
// order.
func violations(ve *jsonschema.ValidationError) []Violation {
	var out []Violation
	var walk func(*jsonschema.ValidationError)
	walk = func(ve *jsonschema.ValidationError) {
		if len(ve.Causes) == 0 {
			kw := keyword(ve.KeywordLocation)
			msg := ve.Message
			if kw == "additionalProperties" {
				msg = sortNames(msg)
			}
			out = append(out, Violation{
				InstancePath: ve.InstanceLocation,
				SchemaPath:   ve.KeywordLocation,
				Keyword:      kw,
				Message:      msg,
			})
			return
		}
		for _, c := range ve.Causes {
			walk(c)
		}
	}
	walk(ve)
	sortViolations(out)
	return slices.Compact(out)
}

func sortViolations(vs []Violation) {
	slices.SortFunc(vs, func(a, b Violation) int {
		return cmp.Or(
			cmp.Compare(a.InstancePath, b.InstancePath),
			cmp.Compare(a.SchemaPath, b.SchemaPath),
			cmp.Compare(a.Message, b.Message),
			cmp.Compare(a.Keyword, b.Keyword),
		)
	})
}

// sortNames sorts the property names in the validator's message
// "additionalProperties 'b', 'a' not allowed", which it lists in map order,
// so that the same document always gets the same message. Each name is
// quoted with any ' inside escaped as \', so "', '" only ever separates two
// names.
func sortNames(msg string) string {
	names, ok := strings.CutPrefix(msg, "additionalProperties '")
	if !ok {
		return msg
	}
	names, ok = strings.CutSuffix(names, "' not allowed")
	if !ok {
		return msg
	}
	list := strings.Split(names, "', '")
	if len(list) < 2 {
		return msg
	}
	slices.Sort(list)
	return "additionalProperties '" + strings.Join(list, "', '") + "' not allowed"
}

// Keywords whose value is an object keyed by names chosen by the schema
// author: the path segment after one is a name, not a keyword.
var namedKeywords = map[string]bool{
	"properties":        true,
	"patternProperties": true,
	"$defs":             true,
	"definitions":       true,
	"dependentSchemas":  true,
	"dependencies":      true, // draft 7 and earlier: a schema or a list of names
	"dependentRequired": true, // a list of names per property
}

// Keywords whose value is an array of subschemas (items only before
// 2020-12): the path segment after one is an index.
var indexedKeywords = map[string]bool{
	"allOf":       true,
	"anyOf":       true,
	"oneOf":       true,
	"prefixItems": true,
	"items":       true,
}

// keyword names the keyword at the end of a keyword location, skipping the
// property names and indexes that follow some keywords:
// "/dependentRequired/a/0" fails dependentRequired, and "/properties/a"
// points at a false schema held by properties. The document is forbidden by
// a false root schema when path is "".
func keyword(path string) string {
	if path == "" {
		return "false"
	}
	segs := strings.Split(path[1:], "/")
	kw := ""
	for i := 0; i < len(segs); i++ {
		kw = segs[i]
		switch {
		case namedKeywords[kw] && i+1 < len(segs):
			i++ // the name
			if (kw == "dependentRequired" || kw == "dependencies") && i+1 < len(segs) && isIndex(segs[i+1]) {
				i++ // the n-th required name
			}
		case indexedKeywords[kw] && i+1 < len(segs) && isIndex(segs[i+1]):
			i++
		}
	}
	return kw
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
