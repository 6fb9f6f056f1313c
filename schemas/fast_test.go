package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fastSet loads the quickstart schemas, testdata/set and the schema of every
// golden file into one Set, and returns it with the golden documents.
func fastSet(tb testing.TB) (*Set, [][]byte) {
	tb.Helper()
	dir := tb.TempDir()
	copyDir(tb, "testdata/set", filepath.Join(dir, "set"))
	copyDir(tb, "../testdata/schemas", filepath.Join(dir, "quickstart"))
	files, err := filepath.Glob("testdata/golden/*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("golden files: %v", err)
	}
	var docs [][]byte
	for _, path := range files {
		parts := strings.Split(string(readTestFile(tb, path)), goldenSep)
		writeFile(tb, filepath.Join(dir, "golden", filepath.Base(path)+".json"), parts[0])
		docs = append(docs, []byte(parts[1]))
	}
	set, err := Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return set, docs
}

// TestFastPathCompiles pins which schemas take the fast path: the
// quickstart's, and the golden schemas that use only the keywords it
// checks. The rest (combinators, uniqueItems, dependentRequired, draft-07's
// items) go to jsonschema v5 as a whole.
func TestFastPathCompiles(t *testing.T) {
	t.Parallel()
	set, _ := fastSet(t)
	var fast []string
	for _, id := range set.IDs() {
		if set.byID[id].fast != nil {
			fast = append(fast, strings.TrimSuffix(id[strings.LastIndex(id, "/")+1:], ".json"))
		}
	}
	want := []string{"additional_properties_false", "address", "codes", "common", "format_date_time", "format_email",
		"format_uuid", "money", "multiple_violations", "nested_array_items", "number_limits", "order", "ref_across_files",
		"required_missing", "root_type", "wrong_type"}
	slices.Sort(fast)
	slices.Sort(want)
	if !slices.Equal(fast, want) {
		t.Errorf("schemas with a fast path:\n  %q\nwant\n  %q", fast, want)
	}
}

// hasDuplicateKey reports whether an object in doc (valid JSON) repeats a
// key: v5 then sees only the last value, so the fast path, which checks
// every value, may say invalid where v5 says valid.
func hasDuplicateKey(doc []byte) bool {
	d := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		keys   map[string]bool
		object bool
		key    bool // the next token in this object is a key
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err == io.EOF || err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if top != nil && top.object {
				top.key = true
			}
			stack = append(stack, &frame{keys: map[string]bool{}, object: true, key: true})
			continue
		case json.Delim('['):
			if top != nil && top.object {
				top.key = true
			}
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}

// FuzzFastPath checks the fast path against jsonschema v5 (the reference)
// on arbitrary documents, for every schema that has a fast path: a document
// the fast path finds valid has no violation in v5, and one it finds
// invalid has at least one (or a duplicate key, which hides a value from
// v5). Unsure is always allowed: v5 decides. Because a document that is
// not fast-valid is always reported by v5, the violations and their
// instance paths are v5's by construction.
//
// The seeds are the golden documents, the quickstart payloads and numbers
// at and around the schemas' bounds; go test runs them all.
//
// Run: go test -run=^$ -fuzz=FuzzFastPath -fuzztime=60s ./schemas/
func FuzzFastPath(f *testing.F) {
	set, docs := fastSet(f)
	for _, d := range docs {
		f.Add(d)
	}
	f.Add(readTestFile(f, "../testdata/payloads/order.json"))
	f.Add(readTestFile(f, "../testdata/payloads/order-invalid.json"))
	for _, qty := range []string{"0", "1", "-1", "0.5", "1.0", "1.5", "-0", "-0.0", "999999999999999999", "1e0", "2E+1", "01", "-"} {
		for _, price := range []string{"0", "-0", "-0.01", "0.0", "12.99", "-1", "100000000000000000000"} {
			f.Add([]byte(fmt.Sprintf(`{"customer_id": "c-1", "items": [{"sku": "AB-1", "qty": %s, "price": %s}]}`, qty, price)))
		}
	}
	for _, s := range []string{
		`{"customer_id": "", "items": [{"sku": "A", "qty": 1, "price": 1}]}`,
		`{"customer_id": "c", "items": []}`,
		`{"customer_id": "c", "items": [{"sku": "a", "qty": 1, "price": 1}]}`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}], "email": "not an email"}`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}], "placed_at": "2025-13-01T00:00:00Z"}`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}], "extra": 1}`,
		`{"customer_id": "c", "customer_id": 1, "items": [{"sku": "A", "qty": 1, "price": 1}]}`,
		`{"customer_id": 1, "customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}]}`,
		`{"customer_id": "\u0063", "items": [{"sku": "A", "qty": 1, "price": 1}]}`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}]} x`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}],}`,
		"{\"customer_id\": \"\xff\", \"items\": [{\"sku\": \"A\", \"qty\": 1, \"price\": 1}]}",
		`{"customer_id": "c", "note": "` + strings.Repeat("é", 500) + `", "items": [{"sku": "A", "qty": 1, "price": 1}]}`,
		`{"customer_id": "c", "note": "` + strings.Repeat("é", 501) + `", "items": [{"sku": "A", "qty": 1, "price": 1}]}`,
		``, `null`, `true`, `[]`, `{}`, `"x"`, `1`, `[1, "a", null]`, `{"a": [[{}]]}`,
	} {
		f.Add([]byte(s))
	}
	ids := set.IDs()
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, id := range ids {
			e := set.byID[id]
			if e.fast == nil {
				continue
			}
			verdict := e.fast.check(doc)
			err := e.validate(doc)
			switch {
			case verdict == fastValid && err != nil:
				t.Fatalf("%s: the fast path says valid, v5 says %v\ndoc: %q", id, err, doc)
			case verdict == fastInvalid && err == nil && !hasDuplicateKey(doc):
				t.Fatalf("%s: the fast path says invalid, v5 says valid\ndoc: %q", id, doc)
			}
			checkMembers(t, e.fast, verdict, doc)
		}
	})
}

// checkMembers checks what checkMember hands over against encoding/json:
// the same verdict as check, and on a valid document the raw value of
// each top-level member asked for, the last one when a key repeats (as
// a JSON pointer reads it), or nil when there is none.
func checkMembers(t *testing.T, n *fastNode, verdict fastVerdict, doc []byte) {
	t.Helper()
	var top map[string]json.RawMessage
	isObject := json.Unmarshal(doc, &top) == nil
	names := []string{"customer_id", "items", "a", "x"}
	for name := range top {
		if name != "" { // "" asks for no member
			names = append(names, name)
		}
	}
	for _, name := range names {
		v, member := n.checkMember(doc, name)
		if v != verdict {
			t.Fatalf("checkMember(%q) = %d, check = %d\ndoc: %q", name, v, verdict, doc)
		}
		want, ok := top[name]
		switch {
		case v != fastValid && member != nil:
			t.Fatalf("checkMember(%q) handed over %q with verdict %d\ndoc: %q", name, member, v, doc)
		case v != fastValid:
		case !isObject || !ok:
			if member != nil {
				t.Fatalf("checkMember(%q) = %q, but the document has no such member\ndoc: %q", name, member, doc)
			}
		case !bytes.Equal(member, want):
			t.Fatalf("checkMember(%q) = %q, encoding/json reads %q\ndoc: %q", name, member, want, doc)
		}
	}
}

// TestCheckMember runs checkMembers on the golden documents and on
// documents whose nested objects repeat top-level names, against every
// schema with a fast path.
func TestCheckMember(t *testing.T) {
	t.Parallel()
	set, docs := fastSet(t)
	// And an open schema, which the nested documents below pass.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "open.json"), `{"$id": "https://example.com/open.json", "type": "object"}`)
	open, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{
		`{"a": {"a": 1}, "x": [{"a": 2}], "customer_id": {"customer_id": "no"}}`,
		`{"x": {"x": {"x": 3}}, "a": 1, "a": 2}`,
		`{"a": 1, "x": {"a": 2}, "customer_id": "c", "y": {"customer_id": "d"}}`,
		` { "a" : "v" , "b" : [ ] } `,
	} {
		docs = append(docs, []byte(d))
	}
	valid := 0
	var nodes []*fastNode
	for _, id := range set.IDs() {
		nodes = append(nodes, set.byID[id].fast)
	}
	nodes = append(nodes, open.byID["https://example.com/open.json"].fast)
	for _, n := range nodes {
		if n == nil {
			continue
		}
		for _, doc := range docs {
			v := n.check(doc)
			if v == fastValid {
				valid++
			}
			checkMembers(t, n, v, doc)
		}
	}
	if valid == 0 {
		t.Fatal("no document was valid against a schema with a fast path: nothing handed over was checked")
	}
}

// TestValidateMember: ValidateMember gives Validate's verdict and, when
// the fast path decided, the raw value of the member asked for; a
// document left to v5 hands over nothing.
func TestValidateMember(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)
	items := `[{"sku": "A", "qty": 1, "price": 1}]`
	tests := []struct {
		doc, name, want string
		ok              bool
	}{
		{`{"customer_id": "c-1", "items": ` + items + `}`, "customer_id", `"c-1"`, true},
		{`{"items": ` + items + `, "customer_id" :  "c-2" }`, "customer_id", `"c-2"`, true},
		{`{"customer_id": "c-1", "items": ` + items + `}`, "items", items, true},
		{`{"customer_id": "c-1", "items": ` + items + `}`, "note", "", true},
		{`{"customer_id": "c-1", "items": [{"sku": "A", "qty": 1, "price": 1, "customer_id": "no"}]}`, "sku", "", true},
		// Left to v5 (an escape), still valid: nothing handed over.
		{`{"customer_id": "c\u002d1", "items": ` + items + `}`, "customer_id", "", true},
		{`{"customer_id": "", "items": ` + items + `}`, "customer_id", "", false},
		{`{"customer_id": "c-1"`, "customer_id", "", false},
	}
	for _, tt := range tests {
		member, err := set.ValidateMember(benchID, []byte(tt.doc), tt.name)
		if (err == nil) != tt.ok || (set.Validate(benchID, []byte(tt.doc)) == nil) != tt.ok {
			t.Errorf("ValidateMember(%.60q) = %v, want valid %v", tt.doc, err, tt.ok)
		}
		if string(member) != tt.want || (tt.want == "") != (member == nil) {
			t.Errorf("ValidateMember(%.60q, %q) handed over %q, want %q", tt.doc, tt.name, member, tt.want)
		}
	}
	if _, err := set.ValidateMember("https://example.com/none.json", []byte(`{}`), "a"); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("ValidateMember(unknown schema) = %v, want ErrUnknownSchema", err)
	}
}

// TestFastPathVerdicts checks the verdicts that matter for speed: the
// quickstart payload is decided by the fast path, and so are common
// invalid documents, while what it leaves to v5 is left.
func TestFastPathVerdicts(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)
	e := set.byID[benchID]
	if e.fast == nil {
		t.Fatal("the quickstart order schema has no fast path")
	}
	tests := []struct {
		doc  string
		want fastVerdict
	}{
		{string(readTestFile(t, "../testdata/payloads/order.json")), fastValid},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 2, "price": 0.5}]}`, fastValid},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 2.0, "price": 0}]}`, fastValid},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 0, "price": 1}]}`, fastInvalid},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 1.5, "price": 1}]}`, fastInvalid},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": -0.01}]}`, fastInvalid},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": -0}]}`, fastValid},
		{`{"customer_id": "c", "items": [{"sku": "a", "qty": 1, "price": 1}]}`, fastInvalid},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}], "email": "x"}`, fastInvalid},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}], "more": 1}`, fastInvalid},
		{`{"items": [{"sku": "A", "qty": 1, "price": 1}]}`, fastInvalid},
		{`{"customer_id": "c\n", "items": [{"sku": "A", "qty": 1, "price": 1}]}`, fastUnsure},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 1e0, "price": 1}]}`, fastUnsure},
		{`{"customer_id": "c", "customer_id": "d", "items": [{"sku": "A", "qty": 1, "price": 1}]}`, fastUnsure},
		{`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}]`, fastUnsure},
	}
	for _, tt := range tests {
		if got := e.fast.check([]byte(tt.doc)); got != tt.want {
			t.Errorf("check(%.80q) = %d, want %d", tt.doc, got, tt.want)
		}
	}
}

// BenchmarkValidatePaths compares the fast path with jsonschema v5 on the
// quickstart order: Validate (fast path first) against the v5 path alone.
//
// Run: go test -run=^$ -bench=BenchmarkValidatePaths -benchmem ./schemas/
func BenchmarkValidatePaths(b *testing.B) {
	set := loadQuickstart(b)
	e := set.byID[benchID]
	body := readTestFile(b, "../testdata/payloads/order.json")
	b.Run("path=fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := set.Validate(benchID, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("path=v5", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := e.validate(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
