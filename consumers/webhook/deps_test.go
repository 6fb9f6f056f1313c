package webhook

import (
	"os/exec"
	"strings"
	"testing"
)

// badDeps are packages webhook must never depend on, with the reason.
var badDeps = map[string]string{
	"github.com/gofiber/fiber/v2":                    "webhooks have no HTTP surface of their own: Fiber stays in ingress (DESIGN.md)",
	"github.com/valyala/fasthttp":                    "webhooks speak net/http's client; fasthttp stays in ingress",
	"github.com/ferry-gw/ferry/ingress":              "nothing imports ingress",
	"github.com/ferry-gw/ferry/correlator":           "correlator and consumers stay apart (DESIGN.md)",
	"github.com/ferry-gw/ferry/schemas":              "webhooks deliver records as they are",
	"github.com/redis/go-redis/v9":                   "webhooks keep their state in Kafka (committed offsets)",
	"github.com/prometheus/client_golang/prometheus": "metrics go through the Observer; cmd/ferry owns Prometheus",
}

// TestDeps enforces the package's import rules on its dependency graph
// (tests excluded), in the style of tailscale's deptest.
func TestDeps(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if why, bad := badDeps[dep]; bad {
			t.Errorf("webhook depends on %s: %s", dep, why)
		}
	}
}
