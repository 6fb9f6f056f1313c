package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// replayAuth is an auth section with one API key holding the admin scope.
const replayAuth = `auth: { api_keys: [{ id: ops, sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", scopes: [admin] }] }
`

// TestServeReplayDeniedByDefault runs serve with a replay section: the
// replay and topic endpoints are served, and without credentials every
// request to them is a 401 problem; ferry replay reports it. (A replay
// section without any auth is refused by ferry check already.)
func TestServeReplayDeniedByDefault(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr, _ := serveFor(t, c, replayAuth+`
routes: [{ name: a, path: /v1/a, topic: orders.events, auth: none }]
replay: { topics: ["orders.*"] }
`)
	for _, p := range []string{"/v1/replay/orders.events", "/v1/topics", "/v1/topics/orders.events"} {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(body), "urn:ferry:problem:unauthenticated") {
			t.Errorf("GET %s = %d %s, want 401 unauthenticated", p, resp.StatusCode, body)
		}
	}
	code, _, stderr := runCLI(t, "replay", "orders.events", "--gateway", "http://"+addr, "--token", "anything")
	if code != 1 || !strings.Contains(stderr, "Unauthenticated (401)") {
		t.Errorf("ferry replay = exit %d, %q; want 1 and the 401", code, stderr)
	}
}

// TestReplayDefaults: a replay section with only its topics gets the
// documented defaults.
func TestReplayDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(replayAuth+"replay: { topics: [\"orders.*\"] }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if got := strings.Join(cfg.Replay.Scopes, ","); got != "admin" || cfg.Replay.MaxConcurrent != 4 || cfg.Replay.MaxRecords != 100000 {
		t.Errorf("replay defaults = %+v, want scopes [admin], max_concurrent 4, max_records 100000", cfg.Replay)
	}
}
