package ingress_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/console"
	"github.com/ferry-gw/ferry/topics"
)

// consoleServer is a Server on testRoutes with the given options.
func consoleServer(tb testing.TB, opts ...ingress.Option) *ingress.Server {
	tb.Helper()
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: ackProducer{}}, append(opts, ingress.WithLogger(testLogger()))...)
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// TestConsoleOffByDefault: without WithConsole, /console and its files
// are the usual 404 problem.
func TestConsoleOffByDefault(t *testing.T) {
	t.Parallel()
	srv := consoleServer(t)
	for _, path := range []string{"/console", "/console/", "/console/app.js"} {
		resp, body := call(t, srv, httptest.NewRequest("GET", path, nil))
		var p struct{ Type string }
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != 404 || p.Type != "urn:ferry:problem:not-found" {
			t.Errorf("GET %s without the console = %d %s, want 404 not-found", path, resp.StatusCode, body)
		}
	}
}

// TestConsoleServed: with WithConsole the page and its files come through
// the Fiber app with the console's security headers and ferry's request
// id, HEAD included; neighbours of the prefix stay 404, and the console's
// own 404 is a problem too.
func TestConsoleServed(t *testing.T) {
	t.Parallel()
	h, err := console.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := consoleServer(t, ingress.WithConsole(h))
	for _, tt := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/console", 200, "text/html; charset=utf-8"},
		{"GET", "/console/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/console/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/console/style.css", 200, "text/css; charset=utf-8"},
		{"GET", "/console/missing.js", 404, "application/problem+json"},
		{"GET", "/consoles", 404, "application/problem+json"},
	} {
		resp, body := call(t, srv, httptest.NewRequest(tt.method, tt.path, nil))
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.ctype {
			t.Errorf("%s %s = %d %q, want %d %q: %s", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.ctype, body)
		}
		if tt.method == "HEAD" && len(body) != 0 {
			t.Errorf("HEAD %s has a %d-byte body", tt.path, len(body))
		}
		if resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("%s %s has no X-Request-ID", tt.method, tt.path)
		}
		// A problem from the console names its request, as ferry's do.
		if tt.ctype == "application/problem+json" && !strings.Contains(string(body), `"request_id":"`+resp.Header.Get("X-Request-ID")+`"`) {
			t.Errorf("%s %s: problem %s lacks the request_id %s", tt.method, tt.path, body, resp.Header.Get("X-Request-ID"))
		}
		if tt.path == "/consoles" {
			continue
		}
		for k, v := range console.Headers {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, k, got, v)
			}
		}
	}
}
