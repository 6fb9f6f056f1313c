package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

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
	addr := freePort(t)
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	cfgText := fmt.Sprintf(`
listen: %q
kafka: { brokers: [%q] }
auth: { api_keys: [{ id: ops, sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", scopes: [admin] }] }
routes: [{ name: a, path: /v1/a, topic: orders.events, auth: none }]
replay: { topics: ["orders.*"] }
`, addr, c.ListenAddrs()[0])
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if got := strings.Join(cfg.Replay.Scopes, ","); got != "admin" || cfg.Replay.MaxConcurrent != 4 || cfg.Replay.MaxRecords != 100000 {
		t.Errorf("replay defaults = %+v, want scopes [admin], max_concurrent 4, max_records 100000", cfg.Replay)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), serveOptions{}) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	waitFor(t, 10*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/readyz %d", resp.StatusCode)
		}
		return nil
	})
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
