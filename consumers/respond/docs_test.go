package respond_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsExampleCompiles type-checks the Go example of docs/events.md
// (the section on responders) as a file of this package's tests, so that
// the example stays true as the SDK changes.
func TestDocsExampleCompiles(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "In Go, the responder SDK")
	if !ok {
		t.Fatal("docs/events.md has no section on the Go responder SDK")
	}
	_, rest, ok = strings.Cut(rest, "```go\n")
	code, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || !strings.Contains(code, "respond.New(") {
		t.Fatalf("docs/events.md's Go example is missing or does not call respond.New:\n%s", code)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "example.go")
	if err := os.WriteFile(file, []byte("package respond_test\n\n"+code), 0o644); err != nil {
		t.Fatal(err)
	}
	here, err := filepath.Abs("zz_docs_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {here: file}})
	if err := os.WriteFile(filepath.Join(dir, "overlay.json"), overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "vet", "-overlay", filepath.Join(dir, "overlay.json"), ".").CombinedOutput()
	if err != nil {
		t.Errorf("docs/events.md's Go example does not compile against this package: %v\n%s\n%s", err, out, code)
	}
}
