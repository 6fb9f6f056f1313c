package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrBodyEdit is wrapped by the errors of BodyEdit.Apply: the request's
// body does not have the shape the route's body edits need (a pointer
// runs through a string, say).
var ErrBodyEdit = errors.New("body edit failed")

// BodyConfig is a route's `body` section: edits of the JSON body by JSON
// pointer, made after the body is validated against the route's schema.
// The record's value is the edited body.
type BodyConfig struct {
	// Set maps JSON pointers to templates (as key templates); missing
	// objects on the way are created. The value is a JSON string.
	Set map[string]string `yaml:"set"`
	// Remove lists JSON pointers to delete; a missing one is fine.
	Remove []string `yaml:"remove"`
	// RecordSchema is the $id of a JSON Schema the edited body must
	// satisfy; a body that does not is a fault of the route (500).
	RecordSchema string `yaml:"record_schema"`
}

// BodyEdit is a compiled BodyConfig. It is immutable.
type BodyEdit struct {
	set          []bodySet
	remove       [][]string
	RecordSchema string
}

type bodySet struct {
	ptr  string
	toks []string
	tmpl *KeyTemplate
}

// compileBodyEdit checks a route's body section.
func compileBodyEdit(at string, bc *BodyConfig, errs *fieldErrors) *BodyEdit {
	e := &BodyEdit{RecordSchema: bc.RecordSchema}
	ptrs := make([]string, 0, len(bc.Set))
	for p := range bc.Set {
		ptrs = append(ptrs, p)
	}
	slices.Sort(ptrs)
	for _, p := range ptrs {
		toks, err := parsePointer(p)
		if err != nil {
			errs.addf(at+".set."+p, "%v", err)
			continue
		}
		tmpl, err := ParseKeyTemplate(bc.Set[p])
		if err != nil {
			errs.addf(at+".set."+p, "%v", err)
			continue
		}
		e.set = append(e.set, bodySet{ptr: p, toks: toks, tmpl: tmpl})
	}
	for i, p := range bc.Remove {
		toks, err := parsePointer(p)
		if err != nil {
			errs.addf(fmt.Sprintf("%s.remove[%d]", at, i), "%v", err)
			continue
		}
		e.remove = append(e.remove, toks)
	}
	if len(bc.Set)+len(bc.Remove) == 0 {
		errs.addf(at, "needs set or remove")
	}
	return e
}

// parsePointer parses a JSON pointer (RFC 6901) that names a member: it
// starts with / and is not the whole document.
func parsePointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") || p == "/" {
		return nil, fmt.Errorf("%q: want a JSON pointer such as /meta/tenant", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(t, "~0", ""), "~1", ""), "~") {
			return nil, fmt.Errorf("%q: bad escape (use ~0 for ~ and ~1 for /)", p)
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// Apply edits raw, a JSON document the route's schema accepted: one parse
// (numbers keep their text), the sets and removes, one write. f and body
// resolve the templates of the sets. Errors wrap ErrKeyUnresolved (a
// template) or ErrBodyEdit (the body's shape).
func (e *BodyEdit) Apply(raw []byte, f Fields, body *Body) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBodyEdit, err)
	}
	for _, s := range e.set {
		v, err := s.tmpl.Append(nil, f, body)
		if err != nil {
			return nil, fmt.Errorf("body.set %s: %w", s.ptr, err)
		}
		if doc, err = setPointer(doc, s.toks, string(v)); err != nil {
			return nil, fmt.Errorf("%w: body.set %s: %v", ErrBodyEdit, s.ptr, err)
		}
	}
	for _, toks := range e.remove {
		removePointer(doc, toks)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBodyEdit, err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// setPointer sets the member toks of doc to v, creating missing objects.
func setPointer(doc any, toks []string, v string) (any, error) {
	if len(toks) == 0 {
		return v, nil
	}
	switch n := doc.(type) {
	case map[string]any:
		child, err := setPointer(n[toks[0]], toks[1:], v)
		if err != nil {
			return nil, err
		}
		n[toks[0]] = child
		return n, nil
	case []any:
		i, err := strconv.Atoi(toks[0])
		if err != nil || i < 0 || i >= len(n) || (len(toks[0]) > 1 && toks[0][0] == '0') {
			return nil, fmt.Errorf("%q is not an index of the array", toks[0])
		}
		child, err := setPointer(n[i], toks[1:], v)
		if err != nil {
			return nil, err
		}
		n[i] = child
		return n, nil
	case nil:
		return setPointer(map[string]any{}, toks, v)
	}
	return nil, fmt.Errorf("%q is inside a %s, not an object", toks[0], jsonKind(doc))
}

// removePointer deletes the member toks of doc, if it is there.
func removePointer(doc any, toks []string) {
	for i, t := range toks {
		last := i == len(toks)-1
		switch n := doc.(type) {
		case map[string]any:
			if last {
				delete(n, t)
				return
			}
			doc = n[t]
		case []any:
			j, err := strconv.Atoi(t)
			if err != nil || j < 0 || j >= len(n) {
				return
			}
			if last {
				return // removing an element would renumber the rest: leave arrays whole
			}
			doc = n[j]
		default:
			return
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	}
	return "value"
}
