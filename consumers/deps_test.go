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
	"github.com/ferry-gw/ferry/schemas":    "consumers imports only topics (DESIGN.md)",
	"github.com/redis/go-redis/v9":         "Redis belongs to ingress (limits) and correlator (results)",
}

// TestDeps enforces DESIGN.md's import table on the package's dependency
// graph (tests excluded), in the style of tailscale's deptest.
func TestDeps(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if why, bad := badDeps[dep]; bad {
			t.Errorf("consumers depends on %s: %s", dep, why)
		}
	}
}
