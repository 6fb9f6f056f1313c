package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccessLinesFromBinary: bin/ferry with a JSON log writes one access
// line per request (ingress/accesslog, not slog) that reads like every
// other log line: valid JSON with time, level and msg first, then the
// request's attributes, including the produced record's position and a
// failed request's error.
func TestAccessLinesFromBinary(t *testing.T) {
	p := startFerry(t, t.TempDir())
	body, err := os.ReadFile("../../testdata/payloads/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := p.post(t, "/v1/orders", body); code != http.StatusAccepted {
		t.Fatalf("POST /v1/orders = %d", code)
	}
	if code, _ := p.post(t, "/v1/orders", []byte(`{"not":"an order"`), "Authorization", "Bearer "+devToken(t), "X-Request-ID", `bad"one\`); code != http.StatusBadRequest {
		t.Fatalf("malformed POST = %d, want 400", code)
	}
	p.stop(t) // flushes the buffered access lines

	var lines []map[string]any
	for _, l := range strings.Split(p.logs.String(), "\n") {
		if !strings.Contains(l, `"log":"access"`) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access line is not JSON: %v\n%s", err, l)
		}
		if !strings.HasPrefix(l, `{"time":"`) || !strings.Contains(l, `","level":"INFO","msg":"request","log":"access","request_id":`) {
			t.Errorf("access line not in slog's layout: %s", l)
		}
		if m["path"] == "/v1/orders" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d access lines for POST /v1/orders, want 2; logs:\n%s", len(lines), p.logs.String())
	}
	ok, bad := lines[0], lines[1]
	for _, k := range []string{"request_id", "method", "route", "status", "duration_ms", "trace_id", "client_address", "principal", "topic", "partition", "offset"} {
		if _, has := ok[k]; !has {
			t.Errorf("the 202's access line lacks %s: %v", k, ok)
		}
	}
	if ok["status"] != 202.0 || ok["route"] != "create-order" || ok["topic"] != "orders.commands" || ok["client_address"] != "127.0.0.1" || bad["client_address"] != "127.0.0.1" {
		t.Errorf("the 202's access line: %v", ok)
	}
	// The client's X-Request-ID has a quote (visible ASCII, so kept): the
	// line escapes it and stays JSON.
	if bad["status"] != 400.0 || bad["request_id"] != `bad"one\` || bad["err"] == nil || bad["topic"] != nil {
		t.Errorf("the 400's access line: %v", bad)
	}
}

// TestLogLinesAreJSON: with a Redis that does not answer, go-redis's own
// complaints (a pool that fails to dial) come out as ferry's JSON lines,
// like every other line, not as its plain-text log.
func TestLogLinesAreJSON(t *testing.T) {
	httpAddr, kafkaAddr := freePort(t), freePort(t)
	dead := freePort(t) // nothing listens there
	dir := t.TempDir()
	config := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
listen: %q
kafka: { embedded: { listen: %q } }
redis: { url: "redis://%s" }
routes:
  - { name: limited, path: /v1/limited, topic: limited, auth: none, rate_limit: { rate: 100, by: ip } }
`, httpAddr, kafkaAddr, dead)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startFerryProbe(t, config, httpAddr, kafkaAddr, func() error {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	for range 3 { // the rate limit asks Redis, which fails open
		if code, b := p.post(t, "/v1/limited", []byte(`{"a":1}`)); code != http.StatusAccepted {
			t.Fatalf("POST /v1/limited with Redis down = %d %s, want 202 (on_redis_error: open)", code, b)
		}
	}
	p.stop(t)
	logs := p.logs.String()
	if !strings.Contains(logs, `"component":"redis"`) {
		t.Errorf("no line from go-redis in the log:\n%s", logs)
	}
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("a log line is not JSON: %s", l)
		}
	}
}
