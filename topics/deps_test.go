package topics

import (
	"os/exec"
	"strings"
	"testing"
)

// badDeps are packages topics must never depend on, with the reason.
var badDeps = map[string]string{
	"github.com/gofiber/fiber/v2":          "topics knows nothing about HTTP (DESIGN.md)",
	"github.com/valyala/fasthttp":          "topics knows nothing about HTTP (DESIGN.md)",
	"github.com/ferry-gw/ferry/ingress":    "nothing imports ingress",
	"github.com/ferry-gw/ferry/schemas":    "topics is the leaf: it imports no ferry package",
	"github.com/ferry-gw/ferry/correlator": "topics is the leaf: it imports no ferry package",
	"github.com/ferry-gw/ferry/consumers":  "topics is the leaf: it imports no ferry package",
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
			t.Errorf("topics depends on %s: %s", dep, why)
		}
	}
}
