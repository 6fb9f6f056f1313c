package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestServeWithExternalBrokers runs serve in-process against a broker it
// did not start, with create_topics off: /readyz names the missing topic
// until it exists, then reports ready; cancelling the context stops serve.
func TestServeWithExternalBrokers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "present"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := freePort(t)
	dir := t.TempDir()
	cfgText := fmt.Sprintf(`
listen: %q
kafka: { brokers: [%q], create_topics: false }
routes:
  - { name: a, path: /v1/a, topic: present, auth: none }
  - { name: b, path: /v1/b, topic: absent, auth: none }
`, addr, c.ListenAddrs()[0])
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), serveOptions{}) }()

	readyz := func() (int, map[string]any) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var body struct {
			Checks map[string]any `json:"checks"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Checks
	}
	waitFor(t, 10*time.Second, func() error {
		code, checks := readyz()
		if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(checks["kafka"]), "missing topics: absent") {
			return fmt.Errorf("/readyz = %d %v, want 503 naming topic absent", code, checks)
		}
		return nil
	})
	resp, err := http.Post("http://"+addr+"/v1/a", "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST to the present topic = %v, %v; want 202", resp, err)
	}
	resp.Body.Close()

	if err := createTopic(c, "absent"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if code, checks := readyz(); code != http.StatusOK {
			return fmt.Errorf("/readyz = %d %v, want 200 once the topic exists", code, checks)
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
}

func waitFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createTopic creates a one-partition topic through the admin API.
func createTopic(c *kfake.Cluster, name string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, name)
	if err != nil {
		return err
	}
	return resp.Err
}

// TestServeMissingConfigNamesFile (issue 16 item 13): serve without -c,
// run where no ferry.yaml is, names the file it tried and suggests the
// quickstart config instead of calling a missing file invalid.
func TestServeMissingConfigNamesFile(t *testing.T) {
	t.Chdir(t.TempDir())
	code, stdout, stderr := runCLI(t, "serve")
	if code != 1 || stdout != "" {
		t.Errorf("ferry serve without a config = exit %d, stdout %q; want exit 1", code, stdout)
	}
	for _, want := range []string{`ferry.yaml`, `does not exist`, `-c testdata/ferry.yaml`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
	if strings.Contains(stderr, "invalid config") {
		t.Errorf("stderr %q calls a missing file invalid", stderr)
	}
	code, _, stderr = runCLI(t, "serve", "--config", "elsewhere.yaml")
	if code != 1 || !strings.Contains(stderr, "elsewhere.yaml does not exist") || strings.Contains(stderr, "invalid config") {
		t.Errorf("ferry serve --config elsewhere.yaml = exit %d, stderr %q; want exit 1 naming the file", code, stderr)
	}
}

// TestServeHelpListsConfigOnce (issue 16 item 13): -c and --config are one
// flag in serve's (and respond's) help.
func TestServeHelpListsConfigOnce(t *testing.T) {
	for _, cmd := range []string{"serve", "respond"} {
		code, _, stderr := runCLI(t, cmd, "--help")
		if code != 2 {
			t.Errorf("ferry %s --help exited %d, want 2", cmd, code)
		}
		if n := strings.Count(stderr, "config"); !strings.Contains(stderr, "-c, --config FILE") || strings.Contains(stderr, "\n  -config") {
			t.Errorf("ferry %s --help lists the config flag %d times:\n%s", cmd, n, stderr)
		}
	}
}
