package schemas

import (
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadQuickstart(t *testing.T) {
	t.Parallel()
	set := loadQuickstart(t)

	const (
		order  = "https://example.com/schemas/order.json"
		common = "https://example.com/schemas/common.json"
	)
	if diff := cmp.Diff([]string{common, order}, set.IDs()); diff != "" {
		t.Errorf("IDs() mismatch (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{order, true},
		{common, true},
		{order + "#", true},
		{"https://example.com/schemas/missing.json", false},
		{"", false},
	} {
		if got := set.Has(tt.id); got != tt.want {
			t.Errorf("Has(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}

	raw := set.Raw(order)
	if want := readTestFile(t, "../testdata/schemas/order.json"); string(raw) != string(want) {
		t.Errorf("Raw(%q) = %s, want the file as read", order, raw)
	}
	raw[0] = 'X'
	if set.Raw(order)[0] == 'X' {
		t.Errorf("Raw(%q) returned the Set's own bytes, want a copy", order)
	}
	if got := set.Raw("https://example.com/schemas/missing.json"); got != nil {
		t.Errorf("Raw(missing) = %s, want nil", got)
	}

	ids := set.IDs()
	ids[0] = "changed"
	if set.IDs()[0] == "changed" {
		t.Error("IDs() returned the Set's own slice, want a copy")
	}
}

func TestLoadLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		// No $id: indexed by file URL, and relative $ref resolves against it.
		"plain.json": `{"type": "object", "properties": {"n": {"$ref": "nested/deep/defs.json#/$defs/n"}}}`,
		// Found recursively.
		"nested/deep/defs.json": `{"$defs": {"n": {"type": "integer"}}}`,
		// Ignored: not *.json.
		"README.md":   "# schemas",
		"notes.jsonc": "{ // not JSON }",
		// A boolean schema is a schema.
		"anything.json": `true`,
	})
	set, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fileURL(filepath.Join(abs, "anything.json")),
		fileURL(filepath.Join(abs, "nested", "deep", "defs.json")),
		fileURL(filepath.Join(abs, "plain.json")),
	}
	if diff := cmp.Diff(want, set.IDs()); diff != "" {
		t.Errorf("IDs() mismatch (-want +got):\n%s", diff)
	}
	plain := want[2]
	if err := set.Validate(plain, []byte(`{"n": 1}`)); err != nil {
		t.Errorf("Validate(%q, n=1) = %v, want nil", plain, err)
	}
	var ve *ValidationError
	if err := set.Validate(plain, []byte(`{"n": "one"}`)); !errors.As(err, &ve) {
		t.Errorf("Validate(%q, n=one) = %v, want *ValidationError", plain, err)
	}
}

func TestLoadEmptyDir(t *testing.T) {
	t.Parallel()
	set, err := Load(t.TempDir())
	if err != nil {
		t.Fatalf("Load(empty) = %v, want nil", err)
	}
	if ids := set.IDs(); len(ids) != 0 {
		t.Errorf("IDs() = %q, want none", ids)
	}
	if err := set.Validate("x", []byte(`{}`)); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("Validate on empty Set = %v, want %v", err, ErrUnknownSchema)
	}
}

func TestLoadNotADir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want %v", err, fs.ErrNotExist)
	}
	f := filepath.Join(dir, "order.json")
	writeFile(t, f, `{}`)
	if _, err := Load(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Load(file) = %v, want a 'not a directory' error", err)
	}
}

// TestLoadErrors checks that each kind of broken folder is reported with the
// right sentinel and a message naming the file and the problem.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	const good = `{"$id": "https://example.com/good.json", "type": "object"}`
	tests := []struct {
		name  string
		files map[string]string
		want  []error    // every one must be in the chain
		msgs  [][]string // one line per problem; each must contain its strings
	}{
		{
			name:  "broken JSON",
			files: map[string]string{"good.json": good, "broken.json": "{\n  \"type\": \"object\",\n}"},
			want:  []error{ErrInvalidSchema},
			msgs:  [][]string{{"broken.json: invalid schema: not valid JSON: line 3, column 1"}},
		},
		{
			name:  "trailing data",
			files: map[string]string{"two.json": `{} {}`},
			want:  []error{ErrInvalidSchema},
			msgs:  [][]string{{"two.json: invalid schema: not valid JSON", "after the top-level value"}},
		},
		{
			name:  "not an object",
			files: map[string]string{"list.json": `[{"type": "string"}]`},
			want:  []error{ErrInvalidSchema},
			msgs:  [][]string{{"list.json: invalid schema: a schema must be a JSON object or a boolean, not an array"}},
		},
		{
			name:  "fails the meta-schema",
			files: map[string]string{"bad.json": `{"type": "object", "properties": {"age": {"type": "int", "minimum": "18"}}}`},
			want:  []error{ErrInvalidSchema},
			msgs:  [][]string{{"bad.json: invalid schema:", "at /properties/age/minimum", "at /properties/age/type"}},
		},
		{
			name:  "id not a string",
			files: map[string]string{"id.json": `{"$id": 7}`},
			want:  []error{ErrInvalidSchema},
			msgs:  [][]string{{"id.json: invalid schema: $id must be a string"}},
		},
		{
			name:  "bad regex",
			files: map[string]string{"re.json": `{"type": "string", "pattern": "(unclosed"}`},
			want:  []error{ErrInvalidSchema},
			msgs:  [][]string{{"re.json: invalid schema", "(unclosed"}},
		},
		{
			name:  "ref loop",
			files: map[string]string{"loop.json": `{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}`},
			want:  []error{ErrInvalidSchema},
			msgs:  [][]string{{"loop.json: invalid schema: $ref loop at /$ref/$ref/$ref"}},
		},
		{
			name:  "unresolved ref to another file",
			files: map[string]string{"order.json": `{"$id": "https://example.com/order.json", "properties": {"a": {"$ref": "address.json"}}}`},
			want:  []error{ErrUnresolvedRef},
			msgs:  [][]string{{`order.json: unresolved $ref "https://example.com/address.json"`, "never fetched"}},
		},
		{
			name:  "unresolved ref to a local definition",
			files: map[string]string{"order.json": `{"$id": "https://example.com/order.json", "properties": {"a": {"$ref": "#/$defs/address"}}}`},
			want:  []error{ErrUnresolvedRef},
			msgs:  [][]string{{`order.json: unresolved $ref "https://example.com/order.json#/$defs/address": no such location`}},
		},
		{
			name: "unresolved ref into another file",
			files: map[string]string{
				"order.json":  `{"$id": "https://example.com/order.json", "properties": {"p": {"$ref": "common.json#/$defs/mony"}}}`,
				"common.json": `{"$id": "https://example.com/common.json", "$defs": {"money": {"type": "number"}}}`,
			},
			want: []error{ErrUnresolvedRef},
			msgs: [][]string{{`order.json: unresolved $ref "https://example.com/common.json#/$defs/mony"`}},
		},
		{
			name: "duplicate id",
			files: map[string]string{
				"a.json":     `{"$id": "https://example.com/order.json"}`,
				"sub/b.json": `{"$id": "https://example.com/order.json#"}`,
			},
			want: []error{ErrDuplicateID},
			msgs: [][]string{{`sub/b.json: duplicate $id "https://example.com/order.json" (also declared by a.json)`}},
		},
		{
			name:  "unknown $schema",
			files: map[string]string{"meta.json": `{"$schema": "https://example.com/my-meta.json"}`},
			want:  []error{ErrInvalidSchema},
			msgs:  [][]string{{`meta.json: invalid schema: unknown $schema "https://example.com/my-meta.json"`}},
		},
		{
			name: "ref to a broken file names both",
			files: map[string]string{
				"order.json":  `{"$id": "https://example.com/order.json", "properties": {"p": {"$ref": "common.json#/$defs/money"}}}`,
				"common.json": `{"$id": "https://example.com/common.json", "$defs": {"money": {"type": "money"}}}`,
			},
			want: []error{ErrInvalidSchema, ErrUnresolvedRef},
			msgs: [][]string{
				{"common.json: invalid schema: at /$defs/money/type"},
				{`order.json: unresolved $ref "https://example.com/common.json": common.json failed to load`},
			},
		},
		{
			name: "every problem at once",
			files: map[string]string{
				"a.json":   `{"$id": "https://example.com/dup.json"}`,
				"b.json":   `{"$id": "https://example.com/dup.json"}`,
				"c.json":   `{"type": }`,
				"d.json":   `{"$ref": "https://example.com/nowhere.json"}`,
				"e.json":   `{"minLength": -1}`,
				"ok.json":  good,
				"sub/f.js": `not a schema file`,
			},
			want: []error{ErrDuplicateID, ErrInvalidSchema, ErrUnresolvedRef},
			msgs: [][]string{
				{"b.json: duplicate $id"},
				{"c.json: invalid schema: not valid JSON: line 1, column 10"},
				{"d.json: unresolved $ref"},
				{"e.json: invalid schema: at /minLength"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			set, err := Load(dir)
			if err == nil {
				t.Fatalf("Load = %v, nil; want an error", set.IDs())
			}
			if set != nil {
				t.Errorf("Load returned a Set with an error")
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("Load = %v, want %v in the chain", err, want)
				}
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.msgs) {
				t.Errorf("Load reported %d problems, want %d:\n%v", len(lines), len(tt.msgs), err)
			}
			for i, subs := range tt.msgs {
				if i >= len(lines) {
					break
				}
				for _, sub := range subs {
					if !strings.Contains(lines[i], sub) {
						t.Errorf("Load problem %d = %q, want it to contain %q", i, lines[i], sub)
					}
				}
			}
		})
	}
}

// TestLoadNeverFetches points a $ref at a live HTTP server and checks that
// Load reports it as unresolved without asking the server.
func TestLoadNeverFetches(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/schema+json")
		_, _ = w.Write([]byte(`{"type": "string"}`))
	}))
	defer srv.Close()

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"remote.json": `{"properties": {"a": {"$ref": "` + srv.URL + `/a.json"}}}`,
	})
	_, err := Load(dir)
	if !errors.Is(err, ErrUnresolvedRef) {
		t.Errorf("Load = %v, want %v", err, ErrUnresolvedRef)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("Load made %d HTTP requests, want 0", n)
	}
}

func writeFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, content := range files {
		writeFile(tb, filepath.Join(dir, filepath.FromSlash(name)), content)
	}
}
