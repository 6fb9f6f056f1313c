package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestRespondServesPprof: ferry respond serves pprof on
// $FERRY_PPROF_LISTEN while it runs, as ferry serve does, and stops
// serving it when it stops.
func TestRespondServesPprof(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "quotes"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := freePort(t)
	t.Setenv(pprofEnv, addr)
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte("log: { level: warn }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- respondCmd(ctx, []string{"--echo", "-c", path, "--brokers", c.ListenAddrs()[0], "--topic", "quotes"}, io.Discard)
	}()
	get := func() int {
		resp, err := http.Get("http://" + addr + "/debug/pprof/")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(10 * time.Second)
	for get() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("no pprof on " + addr + " while the responder runs")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("respond: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("respond did not stop")
	}
	if code := get(); code != 0 {
		t.Errorf("pprof still answers %d after the responder stopped", code)
	}
}
