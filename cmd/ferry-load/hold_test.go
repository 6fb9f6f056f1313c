package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestIdleShares(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		want, perProcess int
		shares           []int
	}{
		{"quick run, one process", 2000, 18976, []int{2000}},
		{"exactly one process", 18976, 18976, []int{18976}},
		{"40,000 under a 20,000 file limit", 40000, 18976, []int{13334, 13333, 13333}},
		{"even split", 40000, 20000, []int{20000, 20000}},
		{"nothing", 0, 18976, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := idleShares(tt.want, tt.perProcess)
			if diff := cmp.Diff(tt.shares, got); diff != "" {
				t.Errorf("idleShares(%d, %d) mismatch (-want +got):\n%s", tt.want, tt.perProcess, diff)
			}
		})
	}
}

// TestIdleRun checks that the figure sums every process's RSS growth
// over all subscribers, and that a process whose /metrics counted fewer
// than its share fails the hold.
func TestIdleRun(t *testing.T) {
	t.Parallel()
	r := idleRun{shares: []int{1024, 1024}, base: []int64{10 << 20, 5 << 20}, held: []int64{30 << 20, 45 << 20}, subs: []float64{1024, 1024}}
	if got := r.perKB(); got != 30 {
		t.Errorf("perKB() = %v, want 30 ((20 + 40) MB over 2048)", got)
	}
	if !r.allHeld() {
		t.Errorf("allHeld() = false with /metrics %v for shares %v", r.subs, r.shares)
	}
	r.subs = []float64{1024, 1000}
	if r.allHeld() {
		t.Errorf("allHeld() = true with /metrics %v for shares %v", r.subs, r.shares)
	}
}

// TestHoldCmd checks the hold-sse child's protocol in process: it opens
// its subscriptions, says "connected N", keeps them open, and closes
// them once its stdin closes.
func TestHoldCmd(t *testing.T) {
	t.Parallel()
	var open atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		open.Add(1)
		defer open.Add(-1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- holdCmd(context.Background(), []string{"--addr", u.Host, "--path", "/events", "--n", "3", "--source", "127.0.0.1"}, stdinR, stdoutW)
		stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "connected 3" {
		t.Fatalf("hold-sse said %q, %v; want connected 3", line, err)
	}
	checkFor(t, 2*time.Second, 10*time.Millisecond, func() bool { return open.Load() == 3 })
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("holdCmd = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("holdCmd still holding 5s after its stdin closed")
	}
	checkFor(t, 2*time.Second, 10*time.Millisecond, func() bool { return open.Load() == 0 })
}
