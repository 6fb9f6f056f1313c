package ingress

import (
	"os/exec"
	"strings"
	"testing"
)

// badDeps are packages ingress must never depend on, with the reason.
var badDeps = map[string]string{
	"github.com/twmb/franz-go/pkg/kgo":    "ingress speaks plain Go types; franz-go stays below it (DESIGN.md)",
	"github.com/twmb/franz-go/pkg/kadm":   "topic admin lives in topics (DESIGN.md)",
	"github.com/ferry-gw/ferry/cmd/ferry": "nothing imports cmd",
	"go.opentelemetry.io/otel/sdk/trace":  "ingress uses the OpenTelemetry API; cmd/ferry sets up the SDK",
}

// TestDeps enforces DESIGN.md's import table on the package's own imports
// (tests excluded), in the style of tailscale's deptest. Only direct imports
// count: ingress reaches franz-go through topics, but never names it.
func TestDeps(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if why, bad := badDeps[dep]; bad {
			t.Errorf("ingress depends on %s: %s", dep, why)
		}
	}
}
