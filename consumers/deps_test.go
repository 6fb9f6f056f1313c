package consumers

import (
	"os/exec"
	"strings"
	"testing"
)

// badDeps are packages consumers must never depend on, with the reason.
var badDeps = map[string]string{
	"github.com/gofiber/fiber/v2":          "consumers knows nothing about HTTP (DESIGN.md)",
	"github.com/valyala/fasthttp":          "consumers knows nothing about HTTP (DESIGN.md)",
	"github.com/ferry-gw/ferry/ingress":    "nothing imports ingress",
	"github.com/ferry-gw/ferry/correlator": "correlator and consumers stay apart (DESIGN.md)",
	"github.com/ferry-gw/ferry/schemas":    "consumers imports topics and franz-go only (DESIGN.md)",
	"github.com/redis/go-redis/v9":         "Redis belongs to ingress (limits) and correlator (results)",
	"github.com/twmb/franz-go/pkg/kadm":    "topic admin lives in topics/admin.go (STYLE rule 6)",
}

// TestDeps enforces DESIGN.md's import table on the package's own imports
// (tests excluded), in the style of tailscale's deptest. kadm is reached
// through topics, so only direct imports count for it; the others are
// checked on the whole graph.
func TestDeps(t *testing.T) {
	t.Parallel()
	direct, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	all, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(direct)) {
		if why, bad := badDeps[dep]; bad {
			t.Errorf("consumers imports %s: %s", dep, why)
		}
	}
	for _, dep := range strings.Fields(string(all)) {
		if why, bad := badDeps[dep]; bad && !strings.Contains(dep, "franz-go") {
			t.Errorf("consumers depends on %s: %s", dep, why)
		}
	}
}
