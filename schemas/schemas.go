// Package schemas holds the JSON Schemas that request bodies are validated
// against. Load reads a folder of schema files, indexes them by $id, resolves
// $ref across files, and compiles each schema once; Set.Validate then checks
// a document against one of them and reports every violation, and
// Set.Bundle rewrites schemas for embedding in an API description (OpenAPI,
// AsyncAPI), where $refs resolve by JSON Pointer rather than by $id.
//
// Schemas default to JSON Schema draft 2020-12 (a file's $schema wins), and
// the formats date-time, email, uuid and uri are asserted, not just
// annotated. Nothing is ever fetched over the network.
//
// schemas may import only github.com/santhosh-tekuri/jsonschema/v5 and the
// standard library. It knows nothing about HTTP, Kafka or other ferry
// packages (DESIGN.md).
package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// DefaultDir is the schema folder used when Config.Dir is empty.
const DefaultDir = "schemas"

// Config is the "schemas" section of ferry.yaml.
type Config struct {
	// Dir is the folder holding the schema files (*.json, searched
	// recursively). The default is DefaultDir, "schemas". A relative Dir is
	// resolved by the caller against the folder of the config file; Load
	// takes the path it is given.
	Dir string `yaml:"dir"`
	// Registry is a Schema Registry whose subjects routes may name
	// (schema_subject); the caller fetches them (Doc, LoadWith).
	Registry RegistryConfig `yaml:"registry"`
}

// RegistryConfig is schemas.registry: where a Confluent-compatible Schema
// Registry answers.
type RegistryConfig struct {
	// URL is the registry's base URL, such as http://localhost:8081.
	URL string `yaml:"url"`
}

// Set is a compiled, immutable collection of JSON Schemas keyed by $id.
// It is safe for concurrent use. The zero Set is empty.
type Set struct {
	byID map[string]*entry
	ids  []string // sorted
}

type entry struct {
	id     string
	schema *jsonschema.Schema
	raw    json.RawMessage
	fast   *fastNode // nil: the schema has no fast path (fast.go)
}

// file is one schema file read from disk during Load.
type file struct {
	rel   string // path relative to the folder, slash-separated, for messages
	url   string // file:// URL of the file
	id    string // $id resolved against url, without fragment; url if none
	meta  string // $schema, or "" for the default draft
	raw   []byte
	doc   any
	valid bool // parsed and conforms to its meta-schema
}

// draft2020 is the meta-schema used when a file has no $schema.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// Load reads every *.json file under dir, recursively, and compiles it.
//
// Each file is indexed by its $id; a file without one is indexed by its
// file:// URL. $ref may point to other files in the folder (by $id or by a
// path relative to the referring file's $id) and to locations inside a file.
// A file's $schema chooses its draft; the default is 2020-12. Format
// assertions are on.
//
// Load reports every problem it finds, not just the first: a file that is not
// JSON or not a valid schema (ErrInvalidSchema), two files with the same $id
// (ErrDuplicateID), and a $ref to anything outside the folder or to a
// location that does not exist (ErrUnresolvedRef). Each message starts with
// the file's path relative to dir, and the problems are joined with
// errors.Join. A missing dir is an error; an empty one gives an empty Set.
func Load(dir string) (*Set, error) { return LoadWith(dir) }

// Doc is a schema that does not come from the folder: one a Schema
// Registry holds (fetched by the caller: this package never reads the
// network). URL names it in errors and is its $id unless it has one.
type Doc struct {
	URL string
	Raw []byte
}

// DocID returns the $id under which LoadWith indexes d.
func DocID(d Doc) string {
	f, _ := parseFile(&file{rel: d.URL, url: d.URL, raw: d.Raw})
	return f.id
}

// LoadWith is Load with docs added to the folder's schemas, which their
// $ref may name and which may name them. An empty dir loads docs alone.
func LoadWith(dir string, docs ...Doc) (*Set, error) {
	if dir == "" {
		var errs problems
		return compileFiles(docFiles(docs, &errs), errs)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("load schemas from %s: %w", dir, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("load schemas: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("load schemas: %s is not a directory", dir)
	}

	var (
		files []*file
		errs  problems
	)
	walkErr := filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		rel := relPath(abs, path)
		if err != nil {
			// An unreadable subfolder: report it and carry on.
			errs.add(rel, fmt.Errorf("%s: %w", rel, err))
			if d != nil && d.IsDir() && path != abs {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(path), ".json") {
			return nil
		}
		f, err := readFile(path, rel)
		if err != nil {
			errs.add(rel, err)
		}
		if f != nil {
			files = append(files, f)
		}
		return nil
	})
	if walkErr != nil {
		return nil, fmt.Errorf("load schemas from %s: %w", dir, walkErr)
	}
	return compileFiles(append(files, docFiles(docs, &errs)...), errs)
}

// docFiles turns docs into files to compile with the folder's; what is
// wrong with them goes to errs.
func docFiles(docs []Doc, errs *problems) []*file {
	var files []*file
	for _, d := range docs {
		f, err := parseFile(&file{rel: d.URL, url: d.URL, raw: d.Raw})
		if err != nil {
			errs.add(d.URL, err)
		}
		files = append(files, f)
	}
	return files
}

// compileFiles indexes files by $id, checks and compiles them; errs holds
// what reading them found.
func compileFiles(files []*file, errs problems) (*Set, error) {

	// Index by $id. WalkDir visits files in lexical order, so the file
	// reported as the duplicate is always the later one.
	byID := make(map[string]*file, len(files))
	broken := make(map[string]string) // id of a file that failed -> its rel
	for _, f := range files {
		if f.doc == nil {
			continue
		}
		if prev, ok := byID[f.id]; ok {
			errs.add(f.rel, fmt.Errorf("%s: %w %q (also declared by %s)", f.rel, ErrDuplicateID, f.id, prev.rel))
			f.valid = false
			continue
		}
		byID[f.id] = f
		if !f.valid {
			broken[f.id] = f.rel
		}
	}

	// Check each file against its meta-schema on its own first, so that a
	// broken file is reported as itself rather than through a file that
	// refers to it.
	metas := newCompiler(nil)
	for _, f := range files {
		if !f.valid {
			continue
		}
		if err := checkMeta(metas, f); err != nil {
			errs.add(f.rel, err)
			f.valid = false
			broken[f.id] = f.rel
		}
	}

	// Register every good file before compiling any, so that $ref resolves
	// in any order; LoadURL refuses everything else.
	c := newCompiler(broken)
	for _, f := range files {
		if !f.valid {
			continue
		}
		if err := c.AddResource(f.id, bytes.NewReader(f.raw)); err != nil {
			errs.add(f.rel, fmt.Errorf("%s: %w: %s", f.rel, ErrInvalidSchema, trimPrefix(err)))
			f.valid = false
		}
	}

	s := &Set{byID: make(map[string]*entry, len(files))}
	for _, f := range files {
		if !f.valid {
			continue
		}
		sch, err := c.Compile(f.id)
		if err != nil {
			errs.add(f.rel, compileError(f, err))
			continue
		}
		s.byID[f.id] = &entry{id: f.id, schema: sch, raw: f.raw, fast: compileFast(sch)}
		s.ids = append(s.ids, f.id)
	}
	if len(errs) > 0 {
		return nil, errs.join()
	}
	slices.Sort(s.ids)
	return s, nil
}

// problems collects what is wrong with a folder, file by file.
type problems []problem

type problem struct {
	rel string
	err error
}

func (ps *problems) add(rel string, err error) {
	*ps = append(*ps, problem{rel, err})
}

// join orders the problems by file, keeping the order of checks within a
// file, and joins them one per line.
func (ps problems) join() error {
	slices.SortStableFunc(ps, func(a, b problem) int { return strings.Compare(a.rel, b.rel) })
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p.err
	}
	return errors.Join(errs...)
}

// newCompiler returns a compiler set up the way every Set needs it: draft
// 2020-12 by default, formats asserted, and no loading of anything that has
// not been added with AddResource. broken maps the $id of files that failed
// to load to their paths, to say why a $ref to one of them is unresolved.
func newCompiler(broken map[string]string) *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, &refError{url: u, brokenFile: broken[u]}
	}
	return c
}

// refError is what LoadURL returns: the compiler asked for a document that
// is not in the folder.
type refError struct {
	url        string
	brokenFile string // set when url is the $id of a file that failed to load
}

func (e *refError) Error() string {
	if e.brokenFile != "" {
		return fmt.Sprintf("%s %q: %s failed to load", ErrUnresolvedRef, e.url, e.brokenFile)
	}
	return fmt.Sprintf("%s %q: no schema in the folder has this $id (schemas are never fetched)", ErrUnresolvedRef, e.url)
}

func (e *refError) Unwrap() error { return ErrUnresolvedRef }

// readFile reads and parses one schema file. It returns a nil file only if
// the file cannot be read; a file that is not valid JSON is returned with a
// nil doc, together with the error.
func readFile(path, rel string) (*file, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return parseFile(&file{rel: rel, url: fileURL(path), raw: raw})
}

// parseFile parses f.raw, read from f.url, and finds its $id.
func parseFile(f *file) (*file, error) {
	rel := f.rel
	f.id = f.url
	doc, err := decodeSchema(f.raw)
	if err != nil {
		return f, fmt.Errorf("%s: %w: not valid JSON: %s", rel, ErrInvalidSchema, err)
	}
	f.doc = doc
	m, ok := doc.(map[string]any)
	if !ok {
		if _, ok := doc.(bool); !ok {
			return f, fmt.Errorf("%s: %w: a schema must be a JSON object or a boolean, not %s", rel, ErrInvalidSchema, jsonTypeName(doc))
		}
		f.valid = true
		return f, nil
	}
	idKey := "$id"
	if v, ok := m["$schema"]; ok {
		s, ok := v.(string)
		if !ok {
			return f, fmt.Errorf("%s: %w: $schema must be a string", rel, ErrInvalidSchema)
		}
		f.meta = s
		if strings.Contains(s, "/draft-04/") {
			idKey = "id" // draft-04 spells $id without the dollar
		}
	}
	if v, ok := m[idKey]; ok {
		s, ok := v.(string)
		if !ok {
			return f, fmt.Errorf("%s: %w: %s must be a string", rel, ErrInvalidSchema, idKey)
		}
		id, err := resolveID(f.url, s)
		if err != nil {
			return f, fmt.Errorf("%s: %w: %s %q: %v", rel, ErrInvalidSchema, idKey, s, err)
		}
		f.id = id
	}
	f.valid = true
	return f, nil
}

// checkMeta validates f against its meta-schema. A $schema that is not a
// known draft (a custom meta-schema) is left for the compiler to resolve.
func checkMeta(c *jsonschema.Compiler, f *file) error {
	metaURL := f.meta
	if metaURL == "" {
		metaURL = draft2020
	}
	meta, err := c.Compile(metaURL)
	if err != nil {
		return nil
	}
	err = meta.Validate(f.doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("%s: %w: %s", f.rel, ErrInvalidSchema, describeMeta(ve))
	}
	return fmt.Errorf("%s: %w: %s", f.rel, ErrInvalidSchema, trimPrefix(err))
}

// describeMeta lists the meta-schema violations of a schema document, one
// per location, as "at /properties/age/type: ...".
func describeMeta(ve *jsonschema.ValidationError) string {
	vs := violations(ve)
	var b strings.Builder
	seen := make(map[string]bool)
	for _, v := range vs {
		if seen[v.InstancePath] {
			// anyOf branches in the meta-schema fail together; one
			// message per location is enough to find the mistake.
			continue
		}
		seen[v.InstancePath] = true
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		p := v.InstancePath
		if p == "" {
			p = "/"
		}
		fmt.Fprintf(&b, "at %s: %s", p, v.Message)
	}
	return b.String()
}

// compileError turns an error from Compiler.Compile into a message that
// starts with the file's path and wraps the matching sentinel.
func compileError(f *file, err error) error {
	rel := f.rel
	var re *refError
	if errors.As(err, &re) {
		if meta, _, _ := strings.Cut(f.meta, "#"); f.meta != "" && re.url == meta {
			return fmt.Errorf("%s: %w: unknown $schema %q: not a standard draft or a schema in the folder", rel, ErrInvalidSchema, f.meta)
		}
		return fmt.Errorf("%s: %w", rel, re)
	}
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("%s: %w: %s", rel, ErrInvalidSchema, describeMeta(ve))
	}
	var le jsonschema.InfiniteLoopError
	if errors.As(err, &le) {
		_, at, _ := strings.Cut(string(le), "#")
		return fmt.Errorf("%s: %w: $ref loop at %s", rel, ErrInvalidSchema, at)
	}
	var se *jsonschema.SchemaError
	if errors.As(err, &se) && se.Err != nil {
		err = se.Err
	}
	msg := trimPrefix(err)
	// The compiler reports a $ref to a missing location inside a
	// registered document as "<url>#<pointer> not found".
	if target, ok := strings.CutSuffix(msg, " not found"); ok && !strings.ContainsAny(target, " \t") {
		return fmt.Errorf("%s: %w %q: no such location", rel, ErrUnresolvedRef, target)
	}
	return fmt.Errorf("%s: %w: %s", rel, ErrInvalidSchema, msg)
}

// decodeSchema parses a schema file the way the compiler does: one JSON
// value, numbers kept exact.
func decodeSchema(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, syntaxDetail(raw, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		off := d.InputOffset()
		line, col := position(raw, int(off))
		return nil, fmt.Errorf("line %d, column %d: unexpected data after the top-level value", line, col)
	}
	return v, nil
}

// syntaxDetail adds a line and column to a JSON syntax error.
func syntaxDetail(raw []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, including the offending one.
		line, col := position(raw, int(se.Offset)-1)
		return fmt.Errorf("line %d, column %d: %s", line, col, se.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of JSON input")
	}
	return err
}

// position converts a byte offset into a 1-based line and column.
func position(raw []byte, off int) (line, col int) {
	off = min(max(off, 0), len(raw))
	before := raw[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}

// resolveID resolves a file's $id against the file's own URL and drops any
// fragment, which is how the compiler names the document.
func resolveID(base, id string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(id)
	if err != nil {
		return "", err
	}
	u = b.ResolveReference(u)
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// fileURL is the file:// URL of an absolute path.
func fileURL(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x -> /C:/x
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

// relPath is path relative to root, slash-separated, for messages.
func relPath(root, path string) string {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}

// trimPrefix drops the "jsonschema: " prefix the library puts on messages.
func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "jsonschema: ")
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// Has reports whether the Set holds a schema with this $id.
func (s *Set) Has(id string) bool {
	return s.lookup(id) != nil
}

// IDs returns the $id of every schema in the Set, sorted. The caller may
// modify the returned slice.
func (s *Set) IDs() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.ids)
}

// Raw returns the schema document with this $id exactly as it was read from
// its file, or nil if there is none. It returns a copy, so the caller may
// modify it (for example when generating OpenAPI).
func (s *Set) Raw(id string) json.RawMessage {
	e := s.lookup(id)
	if e == nil {
		return nil
	}
	return bytes.Clone(e.raw)
}

// lookup finds a schema by $id. An empty fragment ("...order.json#") names
// the same document, as it does in $ref.
func (s *Set) lookup(id string) *entry {
	if s == nil {
		return nil
	}
	if e, ok := s.byID[id]; ok {
		return e
	}
	if t, ok := strings.CutSuffix(id, "#"); ok {
		return s.byID[t]
	}
	return nil
}
