package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the expected violations in testdata/golden")

// goldenSep separates the sections of a golden file: the schema, the
// document, and the expected violations as JSON.
const goldenSep = "\n----------\n"

// TestGolden validates each testdata/golden/*.txt document against its
// schema, loaded together with the files in testdata/set so that $ref can
// cross files, and compares the violations with the expected ones. Run with
// -update to rewrite the expectations.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found %d golden files, want at least 8", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(string(raw), goldenSep)
			if len(parts) != 3 {
				t.Fatalf("%s has %d sections, want 3 (schema, document, violations) separated by %q", path, len(parts), strings.TrimSpace(goldenSep))
			}
			schema, doc, want := parts[0], parts[1], parts[2]

			dir := t.TempDir()
			copyDir(t, "testdata/set", filepath.Join(dir, "set"))
			writeFile(t, filepath.Join(dir, "golden.json"), schema)
			set, err := Load(dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			id := schemaID(t, filepath.Join(dir, "golden.json"))

			got := []Violation{}
			err = set.Validate(id, []byte(doc))
			var ve *ValidationError
			switch {
			case err == nil:
			case errors.As(err, &ve):
				if ve.SchemaID != id {
					t.Errorf("ValidationError.SchemaID = %q, want %q", ve.SchemaID, id)
				}
				got = ve.Violations
			default:
				t.Fatalf("Validate(%q, doc) = %v, want nil or *ValidationError", id, err)
			}

			if *update {
				var out bytes.Buffer
				enc := json.NewEncoder(&out)
				enc.SetEscapeHTML(false) // keep ">=" readable
				enc.SetIndent("", "  ")
				if err := enc.Encode(got); err != nil {
					t.Fatal(err)
				}
				parts[2] = out.String()
				if err := os.WriteFile(path, []byte(strings.Join(parts, goldenSep)), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			var wantV []Violation
			if err := json.Unmarshal([]byte(want), &wantV); err != nil {
				t.Fatalf("%s: expected violations are not JSON: %v", path, err)
			}
			if diff := cmp.Diff(wantV, got); diff != "" {
				t.Errorf("Validate(%q, doc) violations mismatch (-want +got):\n%s", id, diff)
			}
		})
	}
}

// TestQuickstart checks the top-level quickstart fixtures: the example
// payloads against the example schemas that the quickstart routes use.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)
	const id = "https://example.com/schemas/order.json"
	const schema = "/properties/items/items/$ref"

	if err := set.Validate(id, readTestFile(t, "../testdata/payloads/order.json")); err != nil {
		t.Errorf("Validate(%q, order.json) = %v, want nil", id, err)
	}

	err := set.Validate(id, readTestFile(t, "../testdata/payloads/order-invalid.json"))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate(%q, order-invalid.json) = %v, want *ValidationError", id, err)
	}
	want := []Violation{
		{"", "/additionalProperties", "additionalProperties", "additionalProperties 'coupon' not allowed"},
		{"", "/required", "required", "missing properties: 'customer_id'"},
		{"/email", "/properties/email/format", "format", "'not-an-email' is not valid 'email'"},
		{"/items/0/qty", schema + "/properties/qty/minimum", "minimum", "must be >= 1 but found 0"},
		{"/items/0/sku", schema + "/properties/sku/pattern", "pattern", "does not match pattern '^[A-Z0-9-]+$'"},
		{"/items/1/price", schema + "/properties/price/$ref/minimum", "minimum", "must be >= 0 but found -1"},
		{"/items/1/qty", schema + "/properties/qty/type", "type", "expected integer, but got number"},
		{"/items/2", schema + "/required", "required", "missing properties: 'sku', 'price'"},
		{"/placed_at", "/properties/placed_at/format", "format", "'yesterday afternoon' is not valid 'date-time'"},
	}
	if diff := cmp.Diff(want, ve.Violations); diff != "" {
		t.Errorf("Validate(%q, order-invalid.json) violations mismatch (-want +got):\n%s", id, diff)
	}
}

func TestValidateErrors(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)
	const order = "https://example.com/schemas/order.json"
	tests := []struct {
		name    string
		id      string
		doc     string
		wantErr error // a sentinel, or nil for *ValidationError
		wantMsg string
	}{
		{name: "unknown schema", id: "https://example.com/schemas/nope.json", doc: `{}`, wantErr: ErrUnknownSchema, wantMsg: "nope.json"},
		{name: "empty body", id: order, doc: ``, wantErr: ErrNotJSON, wantMsg: "unexpected end of JSON input"},
		{name: "whitespace only", id: order, doc: " \n\t", wantErr: ErrNotJSON, wantMsg: "unexpected end of JSON input"},
		{name: "truncated", id: order, doc: `{"customer_id": "c-1", "items": [`, wantErr: ErrNotJSON, wantMsg: "line 1, column 34: unexpected end"},
		{name: "trailing comma", id: order, doc: "{\n  \"a\": 1,\n}", wantErr: ErrNotJSON, wantMsg: "line 3, column 1: invalid character '}' looking for beginning of object key string"},
		{name: "two values", id: order, doc: `{} {}`, wantErr: ErrNotJSON, wantMsg: "after top-level value"},
		{name: "single quotes", id: order, doc: `{'a': 1}`, wantErr: ErrNotJSON, wantMsg: `invalid character '\''`},
		{name: "bad escape", id: order, doc: `{"a": "\x"}`, wantErr: ErrNotJSON, wantMsg: "escape"},
		{name: "control character", id: order, doc: "{\"a\": \"x\ny\"}", wantErr: ErrNotJSON, wantMsg: "byte 0x0a in string literal"},
		{name: "leading zero", id: order, doc: `{"a": 01}`, wantErr: ErrNotJSON, wantMsg: "after object key:value pair"},
		{name: "NaN", id: order, doc: `{"a": NaN}`, wantErr: ErrNotJSON, wantMsg: "looking for beginning of value"},
		{name: "too deep", id: order, doc: strings.Repeat("[", maxDepth+1), wantErr: ErrNotJSON, wantMsg: "exceeded max depth"},
		{name: "trailing empty fragment names the same schema", id: order + "#", doc: `[]`, wantMsg: "expected object, but got array"},
		{name: "number math/big refuses (it would panic)", id: order, doc: `{"customer_id": "c", "items": [{"sku": "A", "qty": 1e9999999, "price": 1}]}`, wantMsg: "/items/0/qty: number exponent is beyond ±400"},
		{name: "invalid document", id: order, doc: `{}`, wantMsg: "document does not match schema " + order + ": (root): missing properties: 'customer_id', 'items'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := set.Validate(tt.id, []byte(tt.doc))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Validate(%q, %q) = %v, want %v", tt.id, tt.doc, err, tt.wantErr)
				}
			} else if ve := (*ValidationError)(nil); !errors.As(err, &ve) {
				t.Fatalf("Validate(%q, %q) = %v, want *ValidationError", tt.id, tt.doc, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Validate(%q, %q) = %q, want it to contain %q", tt.id, tt.doc, err, tt.wantMsg)
			}
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	t.Parallel()
	v := func(path, msg string) Violation { return Violation{InstancePath: path, Message: msg} }
	tests := []struct {
		name string
		vs   []Violation
		want string
	}{
		{"none", nil, "document does not match schema s"},
		{"one at root", []Violation{v("", "boom")}, "document does not match schema s: (root): boom"},
		{"two", []Violation{v("/a", "boom"), v("/b", "bang")}, "document does not match schema s: /a: boom (and 1 more violation)"},
		{"three", []Violation{v("/a", "boom"), v("/b", "bang"), v("/c", "pop")}, "document does not match schema s: /a: boom (and 2 more violations)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &ValidationError{SchemaID: "s", Violations: tt.vs}
			if got := e.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want string
	}{
		{"", "false"},
		{"/required", "required"},
		{"/properties/items/items/$ref/properties/qty/minimum", "minimum"},
		{"/properties/type/type", "type"},                  // a property named like a keyword
		{"/properties/required", "properties"},             // false schema for property "required"
		{"/$defs/a/properties/b/format", "format"},         // $defs
		{"/dependentRequired/from/0", "dependentRequired"}, // names and index skipped
		{"/dependencies/from/0", "dependencies"},
		{"/dependencies/from/required", "required"}, // draft 7 schema form
		{"/oneOf/1/$ref/format", "format"},
		{"/allOf/0", "allOf"},
		{"/items/1/type", "type"}, // draft 7 tuple
		{"/items/type", "type"},
		{"/additionalItems", "additionalItems"},
		{"/patternProperties/^x-~1y/type", "type"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			if got := keyword(tt.path); got != tt.want {
				t.Errorf("keyword(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestSortNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg, want string
	}{
		{"one", "additionalProperties 'a' not allowed", "additionalProperties 'a' not allowed"},
		{"three", "additionalProperties 'c', 'a', 'b' not allowed", "additionalProperties 'a', 'b', 'c' not allowed"},
		{"quote and comma in names", `additionalProperties 'x\', \'y', 'a, b' not allowed`, `additionalProperties 'a, b', 'x\', \'y' not allowed`},
		{"other message", "missing properties: 'b', 'a'", "missing properties: 'b', 'a'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sortNames(tt.msg); got != tt.want {
				t.Errorf("sortNames(%q) = %q, want %q", tt.msg, got, tt.want)
			}
		})
	}
}

// TestValidateConcurrent shares one Set between goroutines; run it with
// -race.
func TestValidateConcurrent(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)
	const id = "https://example.com/schemas/order.json"
	valid := readTestFile(t, "../testdata/payloads/order.json")
	invalid := readTestFile(t, "../testdata/payloads/order-invalid.json")
	want := set.Validate(id, invalid).Error()

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if (g+i)%2 == 0 {
					if err := set.Validate(id, valid); err != nil {
						errs <- fmt.Errorf("Validate(valid) = %v, want nil", err)
						return
					}
				} else if err := set.Validate(id, invalid); err == nil || err.Error() != want {
					errs <- fmt.Errorf("Validate(invalid) = %v, want %s", err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestValidateDoesNotKeepDoc checks that the caller may reuse its buffer
// (Fiber recycles request bodies).
func TestValidateDoesNotKeepDoc(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)
	const id = "https://example.com/schemas/order.json"
	doc := []byte(`{"customer_id": "c-1", "items": [{"sku": "abc", "qty": 1, "price": 1}]}`)
	err := set.Validate(id, doc)
	want := err.Error()
	for i := range doc {
		doc[i] = 'x'
	}
	if got := err.Error(); got != want {
		t.Errorf("after overwriting doc, err = %q, want %q", got, want)
	}
}

func loadQuickstart(tb testing.TB) *Set {
	tb.Helper()
	set, err := Load("../testdata/schemas")
	if err != nil {
		tb.Fatalf("Load(../testdata/schemas): %v", err)
	}
	return set
}

func readTestFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func copyDir(tb testing.TB, from, to string) {
	tb.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		writeFile(tb, filepath.Join(to, e.Name()), string(readTestFile(tb, filepath.Join(from, e.Name()))))
	}
}

// schemaID returns the $id Load gives the schema file at path.
func schemaID(tb testing.TB, path string) string {
	tb.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		ID string `json:"$id"`
	}
	if err := json.NewDecoder(bytes.NewReader(readTestFile(tb, path))).Decode(&doc); err != nil {
		tb.Fatal(err)
	}
	if doc.ID == "" {
		return fileURL(abs)
	}
	return strings.TrimSuffix(doc.ID, "#")
}
