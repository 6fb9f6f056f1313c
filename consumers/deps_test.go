package consumers

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps enforces DESIGN.md's import table for this package (tailscale's
// deptest): consumers may import topics and franz-go.
func TestDeps(t *testing.T) {
	t.Parallel()
	badDeps := map[string]string{
		"github.com/gofiber/fiber/v2":          "consumers knows nothing about HTTP (DESIGN.md)",
		"github.com/valyala/fasthttp":          "consumers knows nothing about HTTP (DESIGN.md)",
		"github.com/ferry-gw/ferry/ingress":    "nothing imports ingress (STYLE.md rule 1)",
		"github.com/ferry-gw/ferry/correlator": "correlator and consumers never import each other (STYLE.md)",
		"github.com/redis/go-redis/v9":         "not in consumers' row of the import table (DESIGN.md)",
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if why, bad := badDeps[dep]; bad {
			t.Errorf("consumers imports %s: %s", dep, why)
		}
	}
}
