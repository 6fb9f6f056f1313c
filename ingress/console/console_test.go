package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-gw/ferry/ingress/console"
)

func serve(t *testing.T, method, path string, hdr ...string) *http.Response {
	t.Helper()
	h, err := console.Handler()
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestHandlerServesFiles: the page and its scripts and styles, each with
// its content type and every security header.
func TestHandlerServesFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, ctype, contains string
	}{
		{"page", "/console", "text/html; charset=utf-8", `<script type="module" src="/console/app.js">`},
		{"page with slash", "/console/", "text/html; charset=utf-8", "<title>ferry console</title>"},
		{"module", "/console/app.js", "text/javascript; charset=utf-8", "import"},
		{"styles", "/console/style.css", "text/css; charset=utf-8", "prefers-color-scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := serve(t, "GET", tt.path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s = %d %s, want 200", tt.path, resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("GET %s: Content-Type = %q, want %q", tt.path, got, tt.ctype)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("GET %s: body lacks %q", tt.path, tt.contains)
			}
			checkSecurityHeaders(t, resp)
			if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("GET %s: ETag %q, Cache-Control %q; want an ETag and no-cache", tt.path, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func checkSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// TestHandlerRevalidates: a repeat load with the ETag is a 304 without a
// body.
func TestHandlerRevalidates(t *testing.T) {
	t.Parallel()
	etag := serve(t, "GET", "/console/app.js").Header.Get("ETag")
	resp := serve(t, "GET", "/console/app.js", "If-None-Match", etag)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("GET with If-None-Match %s = %d with %d bytes, want 304 and none", etag, resp.StatusCode, len(body))
	}
}

// TestHandlerProblems: unknown files, paths that only start like the
// prefix and other methods are problems, with the security headers too.
func TestHandlerProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path string
		status             int
		typ                string
	}{
		{"unknown file", "GET", "/console/nope.js", 404, "urn:ferry:problem:not-found"},
		{"embedded folder itself", "GET", "/console/web", 404, "urn:ferry:problem:not-found"},
		{"path escape", "GET", "/console/../console.go", 404, "urn:ferry:problem:not-found"},
		{"prefix of another word", "GET", "/consoles", 404, "urn:ferry:problem:not-found"},
		{"post", "POST", "/console", 405, "urn:ferry:problem:method-not-allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := serve(t, tt.method, tt.path)
			var p struct{ Type string }
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatalf("%s %s: body is not JSON: %v", tt.method, tt.path, err)
			}
			if resp.StatusCode != tt.status || p.Type != tt.typ || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s = %d %s (%s), want %d %s", tt.method, tt.path, resp.StatusCode, p.Type, resp.Header.Get("Content-Type"), tt.status, tt.typ)
			}
			checkSecurityHeaders(t, resp)
		})
	}
	if got := serve(t, "POST", "/console").Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("POST /console: Allow = %q, want GET, HEAD", got)
	}
}

// TestNoHTMLSinks keeps the console's rule that untrusted text never
// becomes HTML or code: no script parses HTML (innerHTML, outerHTML,
// insertAdjacentHTML, document.write) or evaluates strings (eval, new
// Function, string timers), and the page has no inline script, style or
// event handler (the CSP would block them anyway).
func TestNoHTMLSinks(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("web")
	if err != nil {
		t.Fatal(err)
	}
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|set(Timeout|Interval)\(\s*['"` + "`" + `]|javascript:`)
	inline := regexp.MustCompile(`(?i)<script(?:[^>]*)>[^<\s]|\son[a-z]+\s*=|\sstyle\s*=|<style`)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("web", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(e.Name(), ".js") && sinks.MatchString(line) {
				t.Errorf("web/%s:%d: %s", e.Name(), i+1, strings.TrimSpace(line))
			}
			if strings.HasSuffix(e.Name(), ".html") && inline.MatchString(line) {
				t.Errorf("web/%s:%d has inline script, style or an event handler: %s", e.Name(), i+1, strings.TrimSpace(line))
			}
		}
	}
}
