package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHealthcheck (issue 16 item 25): ferry healthcheck, the compose
// file's container healthcheck (the image has no curl), exits 0 when
// /readyz answers 200 and 1 otherwise, saying why.
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if status == 0 {
			<-r.Context().Done() // never answers: the client's --timeout ends it
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"not_ready","checks":{"kafka":"missing topics: orders"}}`))
	}))
	defer srv.Close()
	if code, stdout, stderr := runCLI(t, "healthcheck", srv.URL+"/readyz"); code != 0 || stdout != "" || stderr != "" {
		t.Errorf("ready: exit %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
	}
	status = http.StatusServiceUnavailable
	if code, _, stderr := runCLI(t, "healthcheck", srv.URL+"/readyz"); code != 1 || !strings.Contains(stderr, "503") || !strings.Contains(stderr, "missing topics: orders") {
		t.Errorf("not ready: exit %d, stderr %q; want 1 with the status and the checks", code, stderr)
	}
	status = 0
	start := time.Now()
	if code, _, stderr := runCLI(t, "healthcheck", "--timeout", "200ms", srv.URL+"/readyz"); code != 1 || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("slow: exit %d after %v, stderr %q; want 1 within the timeout", code, time.Since(start), stderr)
	}
	if code, _, stderr := runCLI(t, "healthcheck", "http://127.0.0.1:1/readyz"); code != 1 || !strings.Contains(stderr, "connection refused") {
		t.Errorf("down: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "healthcheck", "a", "b"); code != 2 {
		t.Errorf("two URLs: exit %d, want 2", code)
	}
}
