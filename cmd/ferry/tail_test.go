package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// serveInProcess runs serve with the config text (which must listen on
// 127.0.0.1:0) and returns its base URL, and stop, which ends serve as
// SIGTERM does and returns serve's error. The test's end stops it too.
func serveInProcess(t *testing.T, cfgText string, opts serveOptions) (url string, stop func() error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig:\n%s", formatErrors(err))
	}
	addr := make(chan string, 1)
	log := slogCapture(func(msg string, attrs map[string]string) {
		if msg == "ferry ready" {
			addr <- attrs["addr"]
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, opts) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(20 * time.Second):
				serveErr = errors.New("serve did not stop within 20s")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve() = %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a, stop
	case err := <-done:
		once.Do(func() {}) // serve has returned: nothing to stop
		t.Fatalf("serve() = %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start in 20s")
	}
	return "", stop
}

// TestTailPrintsEveryRecord (issue 16 item 2): ferry tail against a real
// gateway prints every record of the stream on stdout, whatever its
// CloudEvents type (the SSE event name), and --limit counts them all.
func TestTailPrintsEveryRecord(t *testing.T) {
	url, _ := serveInProcess(t, `listen: "127.0.0.1:0"
server: { access_log: false }
kafka: { embedded: { listen: "127.0.0.1:0" }, partitions: 1 }
routes:
  - { name: created, path: /v1/created, topic: orders.events, event_type: com.example.order.created, auth: none }
  - { name: shipped, path: /v1/shipped, topic: orders.events, event_type: com.example.order.shipped, auth: none }
  - { name: odd, path: /v1/odd, topic: orders.events, event_type: end, auth: none }
streams:
  - { name: order-events, topic: orders.events, auth: none }
`, serveOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut strings.Builder
		code := run(ctx, []string{"tail", "order-events", "--gateway", url, "--limit", "3", "--format", "ndjson"}, &out, &errOut)
		done <- result{code, out.String(), errOut.String()}
	}()
	// Publish once the tail has subscribed: streams start at the end.
	topicstest.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		r, err := doErr("GET", url+"/metrics", "")
		if err != nil {
			return err
		}
		if !strings.Contains(r.body, `ferry_sse_subscribers{stream="order-events"} 1`) {
			return fmt.Errorf("no subscriber yet")
		}
		return nil
	})
	for _, p := range []string{"/v1/created", "/v1/shipped", "/v1/odd"} {
		if r := do(t, "POST", url+p, `{"via":"`+p+`"}`); r.status != http.StatusAccepted {
			t.Fatalf("POST %s = %s", p, r)
		}
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("ferry tail --limit 3 did not end after 3 records")
	}
	if res.code != 0 {
		t.Fatalf("ferry tail exited %d: %s", res.code, res.stderr)
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(res.stdout))
	for sc.Scan() {
		var env struct {
			Headers map[string]string `json:"headers"`
			Offset  int64             `json:"offset"`
			Value   json.RawMessage   `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil {
			t.Fatalf("stdout line %q is not a record: %v", sc.Text(), err)
		}
		got = append(got, fmt.Sprintf("%d %s %s", env.Offset, env.Headers["ce_type"], env.Value))
	}
	want := []string{
		`0 com.example.order.created {"via":"/v1/created"}`,
		`1 com.example.order.shipped {"via":"/v1/shipped"}`,
		`2 end {"via":"/v1/odd"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ferry tail printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.stderr != "" {
		t.Errorf("stderr %q, want nothing: records belong on stdout", res.stderr)
	}
}
