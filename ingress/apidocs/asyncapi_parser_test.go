package apidocs_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestAsyncAPIParser runs the official AsyncAPI parser (@asyncapi/parser,
// with its Spectral ruleset) on the AsyncAPI documents the golden tests pin
// byte for byte to what ferry serves: the quickstart's, every route
// feature's, and every endpoint's. An error or a warning fails the test.
// It installs the parser from the npm registry with npm ci on first use
// (testdata/asyncapi-parser/package-lock.json pins it); it needs Node.js
// 18 or later, and says so when node or npm is missing.
func TestAsyncAPIParser(t *testing.T) {
	t.Parallel()
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		t.Skip("node and npm are needed to run the official AsyncAPI parser; install Node.js 18+ (the JSON Schema check of the same documents still runs in cmd/ferry)")
	}
	dir := filepath.Join("testdata", "asyncapi-parser")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@asyncapi", "parser")); err != nil {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	docs, err := filepath.Glob(filepath.Join("testdata", "*.asyncapi.json"))
	if err != nil || len(docs) < 3 {
		t.Fatalf("want the quickstart, routes and full AsyncAPI documents in testdata, have %q (%v)", docs, err)
	}
	for i, d := range docs {
		docs[i] = filepath.Join("..", filepath.Base(d))
	}
	cmd := exec.CommandContext(ctx, node, append([]string{"validate.mjs"}, docs...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the AsyncAPI parser refuses a document: %v\n%s", err, out)
	}
	t.Logf("@asyncapi/parser:\n%s", out)
}
