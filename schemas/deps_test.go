package schemas

import (
	"go/parser"
	"go/token"
	"os/exec"
	"strings"
	"testing"
)

// badDeps are imports schemas must never gain, each with its reason.
var badDeps = map[string]string{
	"github.com/gofiber/fiber/v2":      "only ingress and cmd/ferry speak HTTP (DESIGN.md)",
	"github.com/valyala/fasthttp":      "only ingress and cmd/ferry speak HTTP (DESIGN.md)",
	"github.com/twmb/franz-go/pkg/kgo": "franz-go never appears in ingress or schemas (STYLE.md rule 3)",
	"github.com/redis/go-redis/v9":     "schemas holds no state outside the process",
	"net/http":                         "schemas are never fetched over the network",
}

// allowedDeps are the only packages outside the standard library that
// schemas may depend on (DESIGN.md: schemas imports only jsonschema).
var allowedDeps = map[string]bool{
	"github.com/ferry-gw/ferry/schemas":        true,
	"github.com/santhosh-tekuri/jsonschema/v5": true,
}

// TestDeps checks the package's transitive imports, tailscale deptest style.
func TestDeps(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, std, _ := strings.Cut(line, " ")
		if why, ok := badDeps[pkg]; ok {
			t.Errorf("schemas depends on %s: %s", pkg, why)
		}
		if std != "true" && !allowedDeps[pkg] {
			// jsonschema/v5 has no dependencies of its own; anything
			// else came in through a new import here.
			t.Errorf("schemas depends on %s: schemas may import only jsonschema/v5 and the standard library", pkg)
		}
	}
}

// TestPackageDoc checks that the package doc says what the package holds
// and what it may import (STYLE.md rule 28).
func TestPackageDoc(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "schemas.go", nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("schemas.go has no package doc")
	}
	doc := f.Doc.Text()
	for _, want := range []string{"Package schemas holds", "may import only"} {
		if !strings.Contains(doc, want) {
			t.Errorf("package doc does not contain %q:\n%s", want, doc)
		}
	}
}
