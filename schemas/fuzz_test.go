package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// FuzzValidate validates arbitrary bytes against the quickstart schemas.
//
// Invariants:
//   - Validate never panics;
//   - the result is nil, an error wrapping ErrNotJSON, or a *ValidationError;
//   - it wraps ErrNotJSON exactly when doc is not JSON in UTF-8 (json.Valid
//     and utf8.Valid), so a nil result implies both;
//   - a *ValidationError names the schema and holds at least one violation,
//     sorted and without duplicates, each InstancePath "" or starting "/";
//   - the result is deterministic: validating again gives the same error.
//
// Run: go test -run=^$ -fuzz=FuzzValidate -fuzztime=30s ./schemas/
func FuzzValidate(f *testing.F) {
	set := loadQuickstart(f)
	ids := set.IDs()
	f.Add(readTestFile(f, "../testdata/payloads/order.json"))
	f.Add(readTestFile(f, "../testdata/payloads/order-invalid.json"))
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `0`, `-0.5e-3`, `"x"`, `{"a":}`, `{"a" 1}`, `[1,]`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1, "price": 1}]}`,
		`{"customer_id": "", "items": [], "email": "a@b", "placed_at": "2025-01-01T00:00:00Z"}`,
		`{"customer_id": "c", "items": [{"sku": "A", "qty": 1e400, "price": 1e999999}]}`,
		`{"customer_id": "\u00e9\ud83d\ude00", "items": [{"sku": "A\/B", "qty": 1.0, "price": -0}]}`,
		"{\"customer_id\": \"\xff\xfe\", \"items\": [null, true, false]}",
		`{"a": {"b": {"c": [[[[{"d": "\ud800"}]]]]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, id := range ids {
			err := set.Validate(id, doc)
			valid := json.Valid(doc) && utf8.Valid(doc)
			var ve *ValidationError
			switch {
			case err == nil:
				if !valid {
					t.Fatalf("Validate(%q, %q) = nil, but json.Valid is false", id, doc)
				}
			case errors.Is(err, ErrNotJSON):
				if valid {
					t.Fatalf("Validate(%q, %q) = %v, but json.Valid is true", id, doc, err)
				}
			case errors.As(err, &ve):
				if !valid {
					t.Fatalf("Validate(%q, %q) = %v, but json.Valid is false", id, doc, err)
				}
				checkViolations(t, id, ve)
				var again *ValidationError
				if !errors.As(set.Validate(id, doc), &again) || !slices.Equal(ve.Violations, again.Violations) {
					t.Fatalf("Validate(%q, %q) is not deterministic:\n%+v\n%+v", id, doc, ve.Violations, again)
				}
			default:
				t.Fatalf("Validate(%q, %q) = %v (%T), want nil, ErrNotJSON or *ValidationError", id, doc, err, err)
			}
		}
	})
}

func checkViolations(tb testing.TB, id string, ve *ValidationError) {
	tb.Helper()
	if ve.SchemaID != id {
		tb.Fatalf("ValidationError.SchemaID = %q, want %q", ve.SchemaID, id)
	}
	if len(ve.Violations) == 0 {
		tb.Fatalf("ValidationError has no violations")
	}
	sorted := slices.Clone(ve.Violations)
	sortViolations(sorted)
	if !slices.Equal(sorted, ve.Violations) {
		tb.Fatalf("violations not sorted: %+v", ve.Violations)
	}
	if len(slices.Compact(sorted)) != len(ve.Violations) {
		tb.Fatalf("violations have duplicates: %+v", ve.Violations)
	}
	for _, v := range ve.Violations {
		if v.InstancePath != "" && !strings.HasPrefix(v.InstancePath, "/") {
			tb.Fatalf("InstancePath %q is not a JSON Pointer", v.InstancePath)
		}
		if v.Message == "" {
			tb.Fatalf("violation without a message: %+v", v)
		}
	}
}

// FuzzDecode checks ferry's JSON decoder against encoding/json.
//
// Invariants:
//   - decode never panics;
//   - it succeeds exactly when json.Valid(doc) and utf8.Valid(doc) are
//     true (encoding/json reads bytes that are not UTF-8 as U+FFFD;
//     decode refuses them);
//   - when it succeeds, its tree equals what json.Decoder with UseNumber
//     produces, so the validator sees the same document either way.
//
// Run: go test -run=^$ -fuzz=FuzzDecode -fuzztime=30s ./schemas/
func FuzzDecode(f *testing.F) {
	for _, tt := range decodeTests {
		if len(tt) > 1000 {
			continue // the depth cases: large seeds slow the fuzzer to a crawl
		}
		f.Add([]byte(tt))
	}
	f.Add(readTestFile(f, "../testdata/payloads/order.json"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		compareDecode(t, doc)
	})
}

// decodeTests are inputs on which decode must agree with encoding/json.
var decodeTests = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `tru`, `fals`, `nulll`,
	`0`, `-0`, `-`, `01`, `1.`, `.5`, `1.5`, `-1.5e+10`, `1E-5`, `1e`, `1e+`, `2e308`,
	`""`, `"abc"`, `"a\"b"`, `"\\\/\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\ud83d\ude00"`,
	`"\ud800"`, `"\udc00\ud800"`, `"\u12"`, `"\x"`, `"`, `"abc`, `"a\`,
	"\"\xff\"", "\"caf\xc3\xa9\"", "\"\xc3\"", "\"a\x00b\"", "\"tab\there\"",
	`[]`, `[1]`, `[1,2]`, `[1,]`, `[,1]`, `[`, `[1`, `[1 2]`,
	`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{1:1}`, `{"a":1`, `{"a"`,
	" \t\r\n{ \"a\" : [ 1 , { } ] } \n", `{} {}`, `{}x`, "\ufeff{}", `[1] ]`,
	`{"k":{"k":{"k":[[[]]]}}}`, strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
}

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tt := range decodeTests {
		name := tt
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			compareDecode(t, []byte(tt))
		})
	}
}

func compareDecode(tb testing.TB, doc []byte) {
	tb.Helper()
	got, _, err := decode(doc)
	valid := json.Valid(doc) && utf8.Valid(doc)
	if (err == nil) != valid {
		tb.Fatalf("decode(%q) error = %v, but json.Valid and utf8.Valid = %v", doc, err, valid)
	}
	if err != nil {
		if !strings.HasPrefix(err.Error(), "line ") {
			tb.Errorf("decode(%q) error = %q, want it to start with the line", doc, err)
		}
		return
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var want any
	if err := d.Decode(&want); err != nil {
		tb.Fatalf("json.Decode(%q) = %v after json.Valid", doc, err)
	}
	// reflect.DeepEqual first: cmp is very slow on 10,000-deep nesting.
	if !reflect.DeepEqual(want, got) {
		tb.Fatalf("decode(%q) mismatch (-encoding/json +decode):\n%s", doc, cmp.Diff(want, got))
	}
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	long := "1" + strings.Repeat("0", maxNumberLen)
	tests := []struct {
		name string
		doc  string
		want []Violation
	}{
		{"in range", `[1e400, -1e-400, 1.5E+300, ` + long[:maxNumberLen] + `]`, nil},
		{"exponent", `{"a": [1, 1e401]}`, []Violation{{InstancePath: "/a/1", Message: "number exponent is beyond ±400"}}},
		{"negative exponent", `{"a/b~c": 1E-401}`, []Violation{{InstancePath: "/a~1b~0c", Message: "number exponent is beyond ±400"}}},
		{"huge exponent", `1e99999999999999999999`, []Violation{{InstancePath: "", Message: "number exponent is beyond ±400"}}},
		{"long", `{"n": ` + long + `}`, []Violation{{InstancePath: "/n", Message: "number has more than 100 characters"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got, err := decode([]byte(tt.doc))
			if err != nil {
				t.Fatalf("decode(%q) = %v", tt.doc, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decode(%q) limits mismatch (-want +got):\n%s", tt.doc, diff)
			}
		})
	}
}
