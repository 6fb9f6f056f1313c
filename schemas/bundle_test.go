package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v5"
)

const componentsBase = "#/components/schemas/"

func TestBundleQuickstart(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)
	const order = "https://example.com/schemas/order.json"
	b, err := set.Bundle([]string{order}, componentsBase)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	if diff := cmp.Diff([]string{"common", "order"}, b.Names()); diff != "" {
		t.Errorf("Names() (-want +got):\n%s", diff)
	}
	if got := b.Ref(order); got != "#/components/schemas/order" {
		t.Errorf("Ref(order) = %q", got)
	}
	if got := b.Ref(order + "#"); got != "#/components/schemas/order" {
		t.Errorf("Ref(order#) = %q", got)
	}
	if got := b.Ref("https://example.com/nope.json"); got != "" {
		t.Errorf("Ref(unknown) = %q, want empty", got)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Schema("order"), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["$id"]; ok {
		t.Errorf("bundled order keeps $id")
	}
	if _, ok := got["$schema"]; ok {
		t.Errorf("bundled order keeps its draft 2020-12 $schema")
	}
	item := got["$defs"].(map[string]any)["item"].(map[string]any)
	refs := []string{
		got["properties"].(map[string]any)["items"].(map[string]any)["items"].(map[string]any)["$ref"].(string),
		item["properties"].(map[string]any)["price"].(map[string]any)["$ref"].(string),
	}
	want := []string{"#/components/schemas/order/$defs/item", "#/components/schemas/common/$defs/money"}
	if diff := cmp.Diff(want, refs); diff != "" {
		t.Errorf("rewritten $refs (-want +got):\n%s", diff)
	}
	checkBundleValidates(t, set, b, order, readTestFile(t, "../testdata/payloads/order.json"), readTestFile(t, "../testdata/payloads/order-invalid.json"))
}

// TestBundleResolvesEveryRefKind bundles schemas that refer to each other
// in each way JSON Schema allows and checks, by validating documents
// against the bundle, that each rewritten $ref still reaches its target.
func TestBundleResolvesEveryRefKind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		// Relative $ref against $id, pointer into another file.
		"address.json": `{"$id": "https://example.com/s/address.json", "type": "object", "required": ["country"],
			"properties": {"country": {"$ref": "codes.json#/$defs/country"}, "$ref": {"type": "integer"}},
			"examples": [{"$ref": "not a reference"}], "enum_like": {"$ref": "unknown keyword, left alone"}}`,
		"codes.json": `{"$id": "https://example.com/s/codes.json", "$defs": {"country": {"type": "string", "pattern": "^[A-Z]{2}$"}}}`,
		// Anchors, an embedded resource with its own $id, a ref to the
		// root ("#"), a pointer with escapes, and a ref by relative URI to
		// the embedded resource.
		"tree.json": `{"$id": "https://example.com/s/tree.json", "type": "object",
			"properties": {
				"name": {"$ref": "#name"},
				"child": {"$ref": "#"},
				"odd": {"$ref": "#/$defs/a~1b%20c"},
				"leaf": {"$ref": "leaf.json"},
				"leaf_size": {"$ref": "leaf.json#/properties/size"}
			},
			"$defs": {
				"name": {"$anchor": "name", "type": "string", "minLength": 2},
				"a/b c": {"type": "boolean"},
				"leaf": {"$id": "leaf.json", "type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}
			}}`,
		// draft-07: "$id": "#x" is an anchor, and $schema is kept.
		"seven.json": `{"$schema": "http://json-schema.org/draft-07/schema#", "$id": "https://example.com/s/seven.json",
			"definitions": {"pos": {"$id": "#pos", "type": "integer", "minimum": 1}},
			"properties": {"n": {"$ref": "#pos"}, "addr": {"$ref": "address.json"}}}`,
		// Not referenced by the schemas asked for: left out.
		"unused.json": `{"$id": "https://example.com/s/unused.json"}`,
	})
	set, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	b, err := set.Bundle([]string{"https://example.com/s/tree.json", "https://example.com/s/seven.json"}, componentsBase)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	if diff := cmp.Diff([]string{"address", "codes", "seven", "tree"}, b.Names()); diff != "" {
		t.Errorf("Names() (-want +got):\n%s", diff)
	}
	for _, name := range b.Names() {
		s := string(b.Schema(name))
		if strings.Contains(s, `"$id"`) {
			t.Errorf("%s keeps an $id: %s", name, s)
		}
	}
	if s := string(b.Schema("seven")); !strings.Contains(s, `"$schema":"http://json-schema.org/draft-07/schema#"`) {
		t.Errorf("seven lost its draft-07 $schema: %s", s)
	}
	addr := string(b.Schema("address"))
	for _, keep := range []string{`"$ref":{"type":"integer"}`, `"examples":[{"$ref":"not a reference"}]`, `"enum_like":{"$ref":"unknown keyword, left alone"}`} {
		if !strings.Contains(addr, keep) {
			t.Errorf("address should keep %s untouched: %s", keep, addr)
		}
	}

	checkBundleValidates(t, set, b, "https://example.com/s/tree.json",
		[]byte(`{"name": "ab", "child": {"name": "cd", "odd": true}, "leaf": {"size": 2}, "leaf_size": 3}`),
		[]byte(`{"name": "a", "child": {"name": 1, "odd": "x"}, "leaf": {"size": 0}, "leaf_size": 0}`))
	checkBundleValidates(t, set, b, "https://example.com/s/seven.json",
		[]byte(`{"n": 3, "addr": {"country": "GB"}}`),
		[]byte(`{"n": 0, "addr": {"country": "gb"}}`))
}

func TestBundleNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a/item.json":   `{"$id": "https://example.com/a/item.json", "$ref": "https://example.com/b/item.json"}`,
		"b/item.json":   `{"$id": "https://example.com/b/item.json", "$ref": "https://example.com/c/it%20em"}`,
		"c/it em.json":  `{"$id": "https://example.com/c/it%20em", "type": "string"}`,
		"d/noid.json":   `{"type": "integer"}`,
		"e/other.json":  `{"$id": "urn:example:weird", "type": "null"}`,
		"f/caller.json": `{"$id": "https://example.com/f/caller.json", "anyOf": [{"$ref": "urn:example:weird"}]}`,
	})
	set, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ids := set.IDs()
	noid := ids[slices.IndexFunc(ids, func(id string) bool { return strings.HasSuffix(id, "/d/noid.json") })]
	b, err := set.Bundle([]string{"https://example.com/a/item.json", "https://example.com/f/caller.json", noid}, componentsBase)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	got := map[string]string{}
	for _, id := range ids {
		if n := b.Name(id); n != "" {
			if id == noid {
				id = "file:///.../d/noid.json"
			}
			got[id] = n
		}
	}
	want := map[string]string{
		"https://example.com/a/item.json":   "item",
		"https://example.com/b/item.json":   "item-2",
		"https://example.com/c/it%20em":     "it_em",
		"urn:example:weird":                 "example_weird",
		"file:///.../d/noid.json":           "noid",
		"https://example.com/f/caller.json": "caller",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names by $id (-want +got):\n%s", diff)
	}
	if s := string(b.Schema("item")); s != `{"$ref":"#/components/schemas/item-2"}` {
		t.Errorf("item = %s", s)
	}
}

func TestBundleUnknownID(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)
	if _, err := set.Bundle([]string{"https://example.com/nope.json"}, componentsBase); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("Bundle(unknown) = %v, want %v", err, ErrUnknownSchema)
	}
	var empty *Set
	b, err := empty.Bundle(nil, componentsBase)
	if err != nil || len(b.Names()) != 0 {
		t.Errorf("nil Set: Bundle(nil) = %v, %v; want an empty bundle", b, err)
	}
}

// checkBundleValidates embeds the bundle in a document the way OpenAPI and
// AsyncAPI do, compiles the schema of id from there, and checks that it
// accepts valid and rejects invalid at the same places as the Set does.
func checkBundleValidates(tb testing.TB, set *Set, b *Bundle, id string, valid, invalid []byte) {
	tb.Helper()
	comps := map[string]json.RawMessage{}
	for _, n := range b.Names() {
		comps[n] = b.Schema(n)
	}
	doc, err := json.Marshal(map[string]any{"components": map[string]any{"schemas": comps}})
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	if err := c.AddResource("mem://api.json", bytes.NewReader(doc)); err != nil {
		tb.Fatal(err)
	}
	sch, err := c.Compile("mem://api.json" + b.Ref(id))
	if err != nil {
		tb.Fatalf("compile bundled %s: %v\n%s", id, err, doc)
	}
	decode := func(raw []byte) any {
		v, _, err := decode(raw)
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
	if err := sch.Validate(decode(valid)); err != nil {
		tb.Errorf("bundled %s rejects %s: %v", id, valid, err)
	}
	var bve *jsonschema.ValidationError
	if err := sch.Validate(decode(invalid)); !errors.As(err, &bve) {
		tb.Fatalf("bundled %s: Validate(%s) = %v, want violations", id, invalid, err)
	}
	var ve *ValidationError
	if err := set.Validate(id, invalid); !errors.As(err, &ve) {
		tb.Fatalf("Set.Validate(%s, %s) = %v, want violations", id, invalid, err)
	}
	paths := func(vs []Violation) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.InstancePath+" "+v.Keyword)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if diff := cmp.Diff(paths(ve.Violations), paths(violations(bve))); diff != "" {
		tb.Errorf("bundled %s finds other violations than the Set (-set +bundle):\n%s", id, diff)
	}
}
