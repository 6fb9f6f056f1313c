package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Bundle is a group of schemas rewritten to sit side by side in one JSON
// document, such as the components/schemas section of an OpenAPI 3.1 or
// AsyncAPI 3.0 document. Tools for those formats resolve a $ref by JSON
// Pointer within the document they read, not by $id, so a bundled schema
// keeps no $id and each of its $refs points into the containing document.
//
// A Bundle is immutable and safe for concurrent use.
type Bundle struct {
	base    string
	names   map[string]string
	schemas map[string]json.RawMessage
}

// Names returns the names of the bundled schemas, sorted.
func (b *Bundle) Names() []string {
	names := make([]string, 0, len(b.schemas))
	for n := range b.schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Schema returns the bundled schema with this name, or nil. The caller must
// not modify it.
func (b *Bundle) Schema(name string) json.RawMessage { return b.schemas[name] }

// Name returns the name under which the schema with this $id is bundled, or
// "" if it is not in the bundle. An empty fragment ("...order.json#") names
// the same schema.
func (b *Bundle) Name(id string) string {
	if n, ok := b.names[id]; ok {
		return n
	}
	return b.names[strings.TrimSuffix(id, "#")]
}

// Ref returns the $ref that points at the schema with this $id inside the
// containing document, such as "#/components/schemas/order", or "" if it is
// not in the bundle.
func (b *Bundle) Ref(id string) string {
	n := b.Name(id)
	if n == "" {
		return ""
	}
	return b.base + n
}

// Bundle returns the schemas with these $ids, and every schema they refer
// to, rewritten to live in one document under base, the JSON Pointer
// fragment of the object that will hold them (for OpenAPI and AsyncAPI,
// "#/components/schemas/").
//
// Each schema is named after the last segment of its $id without the
// extension ("https://example.com/schemas/order.json" becomes "order"),
// restricted to the characters A-Z a-z 0-9 . _ - that both formats allow;
// clashes get a suffix (-2, -3, ...) in $id order. In each schema:
//   - every $ref that resolves to a schema of the Set, by $id, by relative
//     URI, by JSON Pointer or by anchor, becomes base + name + pointer, such
//     as "#/components/schemas/order/$defs/item"; a $ref to anything else
//     (a meta-schema) is left as it is;
//   - every $id is dropped, because it would change how tools resolve the
//     rewritten refs, and $schema is dropped where it names draft 2020-12,
//     the dialect both formats assume; any other $schema is kept;
//   - everything else is kept. Object keys come out sorted.
//
// Bundle reports an unknown $id with ErrUnknownSchema.
func (s *Set) Bundle(ids []string, base string) (*Bundle, error) {
	idx := &index{
		docs:      make(map[string]*bundleDoc),
		resources: make(map[string]location),
		anchors:   make(map[string]location),
	}
	if s != nil {
		for _, id := range s.ids {
			if err := idx.add(id, s.byID[id].raw); err != nil {
				return nil, err
			}
		}
	}

	// The schemas asked for and, transitively, those they refer to.
	var queue []string
	want := make(map[string]bool)
	for _, id := range ids {
		e := s.lookup(id)
		if e == nil {
			return nil, fmt.Errorf("bundle %s: %w", id, ErrUnknownSchema)
		}
		if !want[e.id] {
			want[e.id] = true
			queue = append(queue, e.id)
		}
	}
	for i := 0; i < len(queue); i++ {
		d := idx.docs[queue[i]]
		walkSchema(d.tree, d.id, nil, d.draft4, func(obj map[string]any, base string, _ []string) {
			ref, ok := obj["$ref"].(string)
			if !ok {
				return
			}
			if loc, ok := idx.resolve(base, ref); ok && !want[loc.doc] {
				want[loc.doc] = true
				queue = append(queue, loc.doc)
			}
		})
	}
	slices.Sort(queue)

	b := &Bundle{base: base, names: make(map[string]string, len(queue)), schemas: make(map[string]json.RawMessage, len(queue))}
	taken := make(map[string]bool, len(queue))
	for _, id := range queue {
		name := componentName(id)
		for n := 2; taken[name]; n++ {
			name = componentName(id) + "-" + strconv.Itoa(n)
		}
		taken[name] = true
		b.names[id] = name
	}

	for _, id := range queue {
		d := idx.docs[id]
		walkSchema(d.tree, d.id, nil, d.draft4, func(obj map[string]any, base string, _ []string) {
			if ref, ok := obj["$ref"].(string); ok {
				if loc, ok := idx.resolve(base, ref); ok {
					obj["$ref"] = base2ref(b.base, b.names[loc.doc], loc.ptr)
				}
			}
			delete(obj, d.idKey())
			if sch, ok := obj["$schema"].(string); ok && strings.TrimSuffix(sch, "#") == draft2020 {
				delete(obj, "$schema")
			}
		})
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d.tree); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", id, err)
		}
		b.schemas[b.names[id]] = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	return b, nil
}

// base2ref builds base + name + pointer as a URI fragment reference.
func base2ref(base, name, ptr string) string {
	return base + name + (&url.URL{Fragment: ptr}).EscapedFragment()
}

// componentName derives a component name from a schema's $id.
func componentName(id string) string {
	p := id
	if u, err := url.Parse(id); err == nil {
		p = u.Path
		if p == "" {
			p = u.Opaque // urn:example:order
		}
	}
	p = path.Base(p)
	if ext := path.Ext(p); ext != "" && ext != p {
		p = strings.TrimSuffix(p, ext)
	}
	b := []byte(p)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || string(b) == "." || string(b) == "/" {
		return "schema"
	}
	return string(b)
}

// location is a schema inside a document of the Set: the document's $id
// and a JSON Pointer (RFC 6901, ~-escaped) from its root.
type location struct {
	doc string
	ptr string
}

// bundleDoc is one parsed schema document.
type bundleDoc struct {
	id     string
	tree   any
	draft4 bool // draft-04 spells $id without the dollar
}

func (d *bundleDoc) idKey() string {
	if d.draft4 {
		return "id"
	}
	return "$id"
}

// index finds where each URI of the Set's schemas points: the schema
// resources (documents and embedded $ids) and their anchors.
type index struct {
	docs      map[string]*bundleDoc
	resources map[string]location // absolute URI without fragment
	anchors   map[string]location // absolute URI#anchor
}

func (x *index) add(id string, raw []byte) error {
	tree, err := decodeSchema(raw)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", id, err)
	}
	d := &bundleDoc{id: id, tree: tree}
	if m, ok := tree.(map[string]any); ok {
		if s, ok := m["$schema"].(string); ok && strings.Contains(s, "/draft-04/") {
			d.draft4 = true
		}
	}
	x.docs[id] = d
	x.resources[id] = location{doc: id}
	walkSchema(tree, id, nil, d.draft4, func(obj map[string]any, base string, ptr []string) {
		loc := location{doc: id, ptr: pointer(ptr)}
		if v, ok := obj[d.idKey()].(string); ok {
			if anchor, ok := strings.CutPrefix(v, "#"); ok {
				// draft-07 and earlier: "$id": "#name" is an anchor.
				x.anchors[base+"#"+anchor] = loc
			} else if len(ptr) > 0 {
				x.resources[base] = loc // base already holds this $id
			}
		}
		for _, k := range []string{"$anchor", "$dynamicAnchor"} {
			if v, ok := obj[k].(string); ok {
				x.anchors[base+"#"+v] = loc
			}
		}
	})
	return nil
}

// resolve finds the schema a $ref points to, relative to base.
func (x *index) resolve(base, ref string) (location, bool) {
	b, err := url.Parse(base)
	if err != nil {
		return location{}, false
	}
	r, err := url.Parse(ref)
	if err != nil {
		return location{}, false
	}
	u := b.ResolveReference(r)
	frag := u.Fragment
	u.Fragment, u.RawFragment = "", ""
	abs := u.String()
	if frag == "" || strings.HasPrefix(frag, "/") {
		loc, ok := x.resources[abs]
		if !ok {
			return location{}, false
		}
		loc.ptr += frag
		return loc, true
	}
	loc, ok := x.anchors[abs+"#"+frag]
	return loc, ok
}

// walkSchema calls fn on every schema object in v, v included, with the
// base URI that applies inside it (after its own $id) and its JSON Pointer
// tokens from the document root. It descends only into keywords that hold
// schemas, so a property named "$ref" or a $ref inside an enum or example
// is left alone. fn may change the object's keywords; walkSchema reads the
// $id before calling fn, and reads the subschemas after.
func walkSchema(v any, base string, ptr []string, draft4 bool, fn func(obj map[string]any, base string, ptr []string)) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	idKey := "$id"
	if draft4 {
		idKey = "id"
	}
	if id, ok := obj[idKey].(string); ok && !strings.HasPrefix(id, "#") {
		if r, err := resolveID(base, id); err == nil {
			base = r
		}
	}
	fn(obj, base, ptr)
	at := func(toks ...string) []string {
		return append(slices.Clip(ptr), toks...)
	}
	for _, k := range sortedKeys(obj) {
		sub := obj[k]
		switch k {
		case "additionalProperties", "unevaluatedProperties", "additionalItems", "unevaluatedItems",
			"contains", "propertyNames", "not", "if", "then", "else", "contentSchema":
			walkSchema(sub, base, at(k), draft4, fn)
		case "items":
			if arr, ok := sub.([]any); ok {
				for i, s := range arr {
					walkSchema(s, base, at(k, strconv.Itoa(i)), draft4, fn)
				}
			} else {
				walkSchema(sub, base, at(k), draft4, fn)
			}
		case "allOf", "anyOf", "oneOf", "prefixItems":
			if arr, ok := sub.([]any); ok {
				for i, s := range arr {
					walkSchema(s, base, at(k, strconv.Itoa(i)), draft4, fn)
				}
			}
		case "properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies":
			if m, ok := sub.(map[string]any); ok {
				for _, name := range sortedKeys(m) {
					walkSchema(m[name], base, at(k, name), draft4, fn)
				}
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pointer joins tokens into a JSON Pointer, escaping ~ and /.
func pointer(toks []string) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteByte('/')
		b.WriteString(escapePointer(t))
	}
	return b.String()
}
