package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayAndRedriveEmptyTopic runs bin/ferry on the embedded broker with
// a data_dir and a route whose topic (orders.dlq) is created but never
// written, the usual redrive target: replaying it answers 200 with no
// records, and redriving another topic into it copies the records; both
// still hold after a restart on the same data_dir.
func TestReplayAndRedriveEmptyTopic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const key = "test-admin-key-0123456789"
	sum := sha256.Sum256([]byte(key))
	cfg := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: "${FERRY_LISTEN}"
kafka:
  embedded: { listen: "${FERRY_KAFKA_LISTEN}", data_dir: data }
auth:
  api_keys: [{ id: ops, sha256: %q, scopes: ["admin"] }]
routes:
  - { name: create-order, path: /v1/orders, topic: orders.commands, auth: none }
  - { name: dead-letters, path: /v1/dlq, topic: orders.dlq, auth: none }
replay:
  topics: ["orders.*"]
`, hex.EncodeToString(sum[:]))), 0o644); err != nil {
		t.Fatal(err)
	}
	httpAddr, kafkaAddr := freePort(t), freePort(t)
	start := func() *process {
		return startFerryConfig(t, cfg, httpAddr, kafkaAddr, "FERRY_LISTEN="+httpAddr, "FERRY_KAFKA_LISTEN="+kafkaAddr)
	}
	call := func(method, path, body string) (int, string) {
		r, err := doErr(method, "http://"+httpAddr+path, body, "Content-Type", "application/json", "X-API-Key", key)
		if err != nil {
			t.Fatal(err)
		}
		return r.status, string(r.body)
	}
	p := start()
	if st, b := call("GET", "/v1/replay/orders.dlq?from=earliest", ""); st != 200 || b != "" {
		t.Errorf("replay of the never-written topic: %d %q, want 200 with no records", st, b)
	}
	p.stop(t)
	p = start()
	if st, b := call("GET", "/v1/replay/orders.dlq?from=earliest", ""); st != 200 || b != "" {
		t.Errorf("after a restart, replay of the never-written topic: %d %q, want 200 with no records", st, b)
	}
	if st, b := call("POST", "/v1/orders", `{"id":1}`); st != 202 {
		t.Fatalf("publish: %d %s", st, b)
	}
	if st, b := call("POST", "/v1/replay/orders.commands/redrive", `{"target_topic":"orders.dlq"}`); st != 200 || !strings.Contains(b, `"produced":1`) {
		t.Errorf("redrive into the never-written topic: %d %s, want 200 with 1 produced", st, b)
	}
	if st, b := call("GET", "/v1/replay/orders.dlq?from=earliest", ""); st != 200 || !strings.Contains(b, `"id":1`) {
		t.Errorf("replay of the redriven copy: %d %q", st, b)
	}
	p.stop(t)
}
