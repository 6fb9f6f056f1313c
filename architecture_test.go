package ferry_test

// This file enforces ARCHITECTURE.md: which package may import what, that
// every package says so in its doc comment, and that no package outgrows
// the others. It reads the module with `go list -json ./...`, in the style
// of tailscale's deptest: each rule is data, with the reason it exists, and
// a failure names the package, the import and that reason.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
)

// module is ferry's module path; ferry's packages are named relative to it
// below ("ingress/identity").
const module = "github.com/ferry-gw/ferry"

// internal lists every package of the module with the ferry packages it
// may import directly, and why it exists where it is. A package missing
// here fails TestImportRules: a new package states its place first.
var internal = map[string]struct {
	may []string
	why string
}{
	"cmd/ferry":      {[]string{"*"}, "main wires everything (DESIGN.md)"},
	"cmd/ferry-load": {[]string{"*"}, "the load generator drives ferry from outside"},

	"ingress":                     {[]string{"ingress/problem", "ingress/identity", "ingress/policy", "ingress/apidocs", "ingress/stream", "ingress/socket", "ingress/hangup", "ingress/netconn", "ingress/accesslog", "ingress/clientaddr", "ingress/groupwire", "ingress/metrics", "topics", "schemas", "correlator", "consumers", "consumers/view", "consumers/group"}, "the Fiber app sits on top of the packages below it"},
	"ingress/problem":             {nil, "the problem catalog is imported by all and imports none of them"},
	"ingress/identity":            {nil, "credentials -> Principal is plain Go, testable without a server"},
	"ingress/policy":              {[]string{"ingress/identity", "topics"}, "decisions over a principal and a route's limits"},
	"ingress/apidocs":             {[]string{"ingress/problem", "ingress/identity", "topics", "schemas"}, "documents from a plain description of the routes, not from the Server"},
	"ingress/stream":              {[]string{"ingress/problem", "consumers", "topics"}, "the read side's response bodies over what consumers delivers"},
	"ingress/socket":              {[]string{"ingress/problem", "ingress/stream", "consumers"}, "open WebSockets: frames and acks, without the handshake or the routes"},
	"ingress/clientaddr":          {nil, "a request's client address from its peer and the proxy header is plain net/netip"},
	"ingress/groupwire":           {[]string{"ingress/problem", "consumers", "consumers/group", "topics"}, "the consumer group endpoints' wire format: plain data in, plain data out"},
	"ingress/hangup":              {nil, "noticing a client that left needs only its socket: the standard library"},
	"ingress/accesslog":           {nil, "an access line is bytes in slog's JSON layout: the standard library"},
	"ingress/netconn":             {nil, "reading a request in one system call needs only the socket: the standard library"},
	"ingress/metrics":             {[]string{"topics", "correlator"}, "the Recorder implements topics' and correlator's Observer interfaces"},
	"ingress/console/consoletest": {nil, "the headless Chromium of the browser tests, shared by ingress and cmd/ferry"},
	"ingress/console":             {[]string{"ingress/problem"}, "the web console is files for the browser, which calls ferry's public APIs; its handler is plain net/http"},

	"topics":            {nil, "the shared leaf of the Kafka-facing packages (DESIGN.md)"},
	"topics/topicstest": {[]string{"topics"}, "test helpers for the packages on topics"},
	"schemas":           {nil, "schemas imports only jsonschema (DESIGN.md)"},
	"correlator":        {[]string{"topics"}, "correlator may import topics (DESIGN.md)"},
	"consumers":         {[]string{"topics"}, "consumers may import topics (DESIGN.md)"},
	"consumers/respond": {[]string{"topics"}, "the responder SDK stands apart from the hub and the replay reader"},
	"consumers/view":    {nil, "a compacted topic in memory, for the GET routes; plain franz-go"},
	"consumers/webhook": {[]string{"consumers", "topics"}, "webhook delivery uses the consumers' filter vocabulary"},
	"consumers/group":   {[]string{"consumers", "topics"}, "HTTP consumer groups read with the replay reader; their membership store (Redis) is cmd's, behind group.Leases"},
}

// Third-party and standard packages whose use is bounded.
const (
	fiber    = "github.com/gofiber/fiber/v2"
	fasthttp = "github.com/valyala/fasthttp"
	franz    = "github.com/twmb/franz-go/"
	goRedis  = "github.com/redis/go-redis/v9"
	rate     = "github.com/go-redis/redis_rate/"
	prom     = "github.com/prometheus/"
	otelSDK  = "go.opentelemetry.io/otel/sdk"
	jsonsch  = "github.com/santhosh-tekuri/jsonschema/v5"
)

// handlerSide are the ingress packages that may know fasthttp besides
// ingress itself: ingress/socket, whose connection type comes from
// fasthttp/websocket (it still imports neither Fiber nor fasthttp itself:
// NoFiberInSocket).
var handlerSide = []string{"ingress", "ingress/socket"}

// importRule forbids the packages it applies to (in) from importing any
// of deps, directly or, when deep, through any of their dependencies.
type importRule struct {
	name string
	in   func(pkg string) bool
	deps []string // import paths or prefixes ending in "/"
	deep bool
	why  string
}

var importRules = []importRule{
	{name: "HTTPStaysInIngress", in: func(p string) bool { return !isCmd(p) && !slices.Contains(handlerSide, p) },
		deps: []string{fiber, fasthttp}, deep: true,
		why: "only ingress and cmd import Fiber or fasthttp; everything else takes context.Context and plain Go types (DESIGN.md)"},
	{name: "IdentityHasNoFiber", in: is("ingress/identity"), deps: []string{fiber, fasthttp, "net/http/httptest"}, deep: true,
		why: "identity is plain Go, reusable by the WebSocket upgrade and the console without an HTTP server (issue 14)"},
	{name: "NoFiberInSocket", in: is("ingress/socket"), deps: []string{fiber, fasthttp},
		why: "ingress makes the handshake; the open socket needs only the websocket connection"},
	{name: "NoKafkaInIngress", in: under("ingress"), deps: []string{franz},
		why: "ingress hands plain Go values to the packages below it and never names franz-go (DESIGN.md)"},
	{name: "NoKafkaInSchemas", in: is("schemas"), deps: []string{franz}, deep: true,
		why: "schemas validates bytes; franz-go stays out of it (DESIGN.md)"},
	{name: "SubpackagesDoNotImportIngress", in: func(p string) bool { return strings.HasPrefix(p, "ingress/") },
		deps: []string{module + "/ingress"}, deep: true,
		why: "ingress's sub-packages hang off a small core and never reach back into it: move the thing down or pass it in"},
	{name: "CorrelatorAndConsumersApart", in: under("correlator"), deps: []string{module + "/consumers", module + "/consumers/"}, deep: true,
		why: "correlator and consumers never import each other (DESIGN.md)"},
	{name: "ConsumersAndCorrelatorApart", in: under("consumers"), deps: []string{module + "/correlator"}, deep: true,
		why: "correlator and consumers never import each other (DESIGN.md)"},
	{name: "NothingImportsCmd", in: func(string) bool { return true }, deps: []string{module + "/cmd/"}, deep: true,
		why: "commands are the top: nothing imports them"},
	{name: "NothingBelowImportsIngress", in: func(p string) bool { return !isCmd(p) && !under("ingress")(p) },
		deps: []string{module + "/ingress", module + "/ingress/"}, deep: true,
		why: "ingress is the top of the library: topics, schemas, correlator and consumers never import it"},
	{name: "RedisOnlyInPolicyAndCorrelator", in: func(p string) bool { return !isCmd(p) && p != "ingress/policy" && p != "correlator" },
		deps: []string{goRedis, rate},
		why:  "Redis is reached only by the rate limits and idempotency (ingress/policy) and the result store (correlator)"},
	{name: "NoRedisBelow", in: func(p string) bool { return under("topics")(p) || p == "schemas" || under("consumers")(p) },
		deps: []string{goRedis, rate}, deep: true,
		why: "topics, schemas and consumers keep no state in Redis"},
	{name: "SchemasNeverFetch", in: is("schemas"), deps: []string{"net/http"}, deep: true,
		why: "schemas are never fetched over the network"},
	{name: "PrometheusOnlyInMetrics", in: func(p string) bool { return !isCmd(p) && p != "ingress/metrics" },
		deps: []string{prom},
		why:  "packages declare Observer interfaces; ingress/telemetry implements them with the Prometheus client"},
	{name: "NoOpenTelemetrySDK", in: under("ingress"), deps: []string{otelSDK}, deep: true,
		why: "ingress uses the OpenTelemetry API; cmd/ferry sets up the SDK"},
}

func is(name string) func(string) bool { return func(p string) bool { return p == name } }

// under matches name and its sub-packages.
func under(name string) func(string) bool {
	return func(p string) bool { return p == name || strings.HasPrefix(p, name+"/") }
}

func isCmd(p string) bool { return strings.HasPrefix(p, "cmd/") }

// pkg is what `go list -json` says of one package.
type pkg struct {
	Error      *struct{ Err string }
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// rel is the package's path inside the module ("" for the module root).
func (p pkg) rel() string {
	return strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
}

var listed = sync.OnceValues(func() ([]pkg, error) {
	out, err := exec.Command("go", "list", "-e", "-json", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		if p.Error != nil {
			return nil, fmt.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		if len(p.GoFiles) > 0 { // the module root holds only this test
			pkgs = append(pkgs, p)
		}
	}
	// go test caches this package's result by the files the test opens,
	// and go list's reads are not among them: open what the rules read
	// (every package's folder and Go files, go.mod and go.sum), so that a
	// change to any of them runs the rules again.
	for _, f := range []string{"go.mod", "go.sum"} {
		if _, err := os.ReadFile(f); err != nil {
			return nil, err
		}
	}
	for _, p := range pkgs {
		if _, err := os.ReadDir(p.Dir); err != nil {
			return nil, err
		}
		for _, f := range p.GoFiles {
			if _, err := os.ReadFile(filepath.Join(p.Dir, f)); err != nil {
				return nil, err
			}
		}
	}
	return pkgs, nil
})

func packages(tb testing.TB) []pkg {
	tb.Helper()
	pkgs, err := listed()
	if err != nil {
		tb.Fatal(err)
	}
	return pkgs
}

// matches reports whether import path dep is one of deps (an entry ending
// in "/" is a prefix).
func matches(dep string, deps []string) bool {
	for _, d := range deps {
		if dep == d || strings.HasSuffix(d, "/") && strings.HasPrefix(dep, d) {
			return true
		}
	}
	return false
}

// TestImportRules checks each package's imports against the table of
// ferry packages it may import (internal) and against every importRule.
func TestImportRules(t *testing.T) {
	t.Parallel()
	pkgs := packages(t)
	t.Run("FollowTheTable", func(t *testing.T) {
		for _, p := range pkgs {
			entry, ok := internal[p.rel()]
			if !ok {
				t.Errorf("%s is not in architecture_test.go's table: add it with the ferry packages it may import, and to ARCHITECTURE.md", p.rel())
				continue
			}
			if slices.Contains(entry.may, "*") {
				continue
			}
			for _, imp := range p.Imports {
				dep, ok := strings.CutPrefix(imp, module+"/")
				if ok && !slices.Contains(entry.may, dep) {
					t.Errorf("%s imports %s; it may import only %v: %s", p.rel(), dep, entry.may, entry.why)
				}
			}
		}
	})
	for _, r := range importRules {
		t.Run(r.name, func(t *testing.T) {
			for _, p := range pkgs {
				if !r.in(p.rel()) {
					continue
				}
				deps := p.Imports
				if r.deep {
					deps = p.Deps
				}
				for _, dep := range deps {
					if matches(dep, r.deps) {
						t.Errorf("%s depends on %s: %s", p.rel(), dep, r.why)
					}
				}
			}
		})
	}
	t.Run("SchemasOnlyJSONSchema", func(t *testing.T) {
		for _, p := range pkgs {
			if p.rel() != "schemas" {
				continue
			}
			for _, dep := range p.Deps {
				if !isStandard(dep) && dep != jsonsch && !strings.HasPrefix(dep, jsonsch+"/") {
					t.Errorf("schemas depends on %s: schemas may import only jsonschema/v5 and the standard library (DESIGN.md)", dep)
				}
			}
		}
	})
}

// isStandard reports whether an import path is in the standard library:
// its first element has no dot.
func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// restriction finds a sentence of a package doc that says what the
// package may not import.
var restriction = regexp.MustCompile(`(?is)[^.]*\bimport[^.]*\b(never|not|only|no other|nothing)\b[^.]*\.|[^.]*\b(never|not|only|no other|nothing)\b[^.]*\bimport[^.]*\.`)

// TestPackageDocs checks that every package has one doc comment, that it
// starts the way go doc expects, and (commands aside) that it says what
// the package may not import.
func TestPackageDocs(t *testing.T) {
	t.Parallel()
	for _, p := range packages(t) {
		var docs []string
		for _, f := range p.GoFiles {
			af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil {
				docs = append(docs, f+": "+af.Doc.Text())
			}
		}
		switch {
		case len(docs) == 0:
			t.Errorf("%s has no package doc comment: say what it holds and what it may not import", p.rel())
			continue
		case len(docs) > 1:
			t.Errorf("%s has %d package doc comments; keep one, in %s.go:\n%s", p.rel(), len(docs), p.Name, strings.Join(docs, "\n"))
		}
		_, doc, _ := strings.Cut(docs[0], ": ")
		if p.Name == "main" {
			if !strings.HasPrefix(doc, "Command ") {
				t.Errorf("%s: the doc comment should start with \"Command \"", p.rel())
			}
			continue
		}
		if want := "Package " + p.Name + " "; !strings.HasPrefix(doc, want) {
			t.Errorf("%s: the doc comment should start with %q", p.rel(), want)
		}
		if !restriction.MatchString(doc) {
			t.Errorf("%s: the doc comment does not say what the package may not import (a sentence with \"import\" and never, not, only, no other or nothing):\n%s", p.rel(), doc)
		}
	}
}

// maxShare is the largest share of ferry's non-test Go lines one package
// (commands aside) may hold, so that no package grows past what one
// person can hold in their head.
const maxShare = 0.15

// TestPackageSizes counts the lines of each package's non-test Go files
// and fails when a package other than a command holds more than maxShare
// of them all (commands included in the total), printing the table.
func TestPackageSizes(t *testing.T) {
	t.Parallel()
	type row struct {
		name  string
		lines int
	}
	var rows []row
	total := 0
	for _, p := range packages(t) {
		n := 0
		for _, f := range p.GoFiles {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			n += bytes.Count(b, []byte("\n"))
		}
		rows = append(rows, row{p.rel(), n})
		total += n
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].lines > rows[j].lines })
	failed := false
	for _, r := range rows {
		if !isCmd(r.name) && float64(r.lines) > maxShare*float64(total) {
			failed = true
			t.Errorf("%s holds %d of %d non-test lines (%.1f%%), more than %.0f%%: split it along a real seam",
				r.name, r.lines, total, 100*float64(r.lines)/float64(total), 100*maxShare)
		}
	}
	if failed || testing.Verbose() {
		var b strings.Builder
		w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "lines\tshare\tpackage\t")
		for _, r := range rows {
			fmt.Fprintf(w, "%d\t%.1f%%\t%s\t\n", r.lines, 100*float64(r.lines)/float64(total), r.name)
		}
		fmt.Fprintf(w, "%d\t\ttotal\t\n", total)
		_ = w.Flush()
		t.Logf("non-test Go lines per package:\n%s", b.String())
	}
}

// TestArchitectureDoc keeps ARCHITECTURE.md in step with this file: every
// package has its row in the package table, and every rule is named.
func TestArchitectureDoc(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range internal {
		if !bytes.Contains(doc, []byte("| `"+name+"` |")) {
			t.Errorf("ARCHITECTURE.md has no row for %s", name)
		}
	}
	for _, r := range importRules {
		if !bytes.Contains(doc, []byte("`"+r.name+"`")) {
			t.Errorf("ARCHITECTURE.md does not name the rule %s", r.name)
		}
	}
}
