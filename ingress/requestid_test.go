package ingress_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/topics"
)

// logBuffer is a log destination safe for the server's goroutines and the
// test's.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// accessLines returns the decoded access log lines.
func (b *logBuffer) accessLines(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		if m["log"] == "access" {
			out = append(out, m)
		}
	}
	return out
}

// loggedServer is a Server whose logs go to a buffer, exercised through
// app.Test.
func loggedServer(tb testing.TB, cfg ingress.Config, level slog.Level) (*ingress.Server, *logBuffer) {
	tb.Helper()
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		tb.Fatal(err)
	}
	var logs logBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level}))
	srv, err := ingress.New(cfg, table, ingress.Deps{Producer: ackProducer{}}, ingress.WithLogger(log))
	if err != nil {
		tb.Fatal(err)
	}
	return srv, &logs
}

func send(tb testing.TB, srv *ingress.Server, method, path, body string, hdr ...string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(method, path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.App().Test(req, -1)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// TestAccessLogFailedAuth: the log of a request refused for want of valid
// credentials names its request id, and never the credential it carried.
func TestAccessLogFailedAuth(t *testing.T) {
	t.Parallel()
	srv, logs := loggedServer(t, ingress.Config{}, slog.LevelDebug)
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2VjcmV0LXNpZ25hdHVyZQ"
	resp := send(t, srv, "POST", "/v1/secured?api_key=k-123", `{"a":1}`,
		"Authorization", "Bearer "+token, "X-Request-ID", "req-auth-1", "X-API-Key", "k-456")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /v1/secured = %d, want 401", resp.StatusCode)
	}
	lines := logs.accessLines(t)
	if len(lines) != 1 {
		t.Fatalf("%d access log lines, want 1:\n%s", len(lines), logs)
	}
	l := lines[0]
	for k, want := range map[string]any{"request_id": "req-auth-1", "route": "secured", "status": 401.0, "path": "/v1/secured", "level": "INFO"} {
		if l[k] != want {
			t.Errorf("access log %s = %v, want %v", k, l[k], want)
		}
	}
	if tid, _ := l["trace_id"].(string); len(tid) != 32 {
		t.Errorf("access log trace_id = %q, want 32 hex digits", tid)
	}
	all := logs.String()
	for _, secret := range []string{token, "Bearer", "k-123", "k-456", `"a":1`} {
		if strings.Contains(all, secret) {
			t.Errorf("the log holds %q:\n%s", secret, all)
		}
	}
}

// TestAccessLogBody: bodies are logged only when enabled, cut to the limit.
func TestAccessLogBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limit     int
		body      string
		wantBody  any // nil: no body key
		wantBytes any
	}{
		{"off by default", 0, `{"card":"4111"}`, nil, nil},
		{"under the limit", 64, `{"a":1}`, `{"a":1}`, 7.0},
		{"cut at the limit", 8, `{"name":"zoë"}`, `{"name":…`, 15.0},
		{"cut inside a rune", 12, `{"name":"zoë"}`, `{"name":"zo…`, 15.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, logs := loggedServer(t, ingress.Config{AccessLogBodyBytes: tt.limit}, slog.LevelInfo)
			if resp := send(t, srv, "POST", "/v1/anything", tt.body); resp.StatusCode != http.StatusAccepted {
				t.Fatalf("POST = %d, want 202", resp.StatusCode)
			}
			lines := logs.accessLines(t)
			if len(lines) != 1 {
				t.Fatalf("%d access log lines, want 1", len(lines))
			}
			if got := lines[0]["body"]; got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if got := lines[0]["body_bytes"]; got != tt.wantBytes {
				t.Errorf("body_bytes = %v, want %v", got, tt.wantBytes)
			}
			if lines[0]["topic"] != "anything" || lines[0]["offset"] != 42.0 {
				t.Errorf("access log = %v, want topic anything at offset 42", lines[0])
			}
		})
	}
}

// TestAccessLogLevel: the access level is configurable, and lines below
// the logger's level are not written.
func TestAccessLogLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		accessLevel string
		handler     slog.Level
		want        string // "" for no line
	}{
		{"default info", "", slog.LevelInfo, "INFO"},
		{"debug, hidden at info", "debug", slog.LevelInfo, ""},
		{"debug, shown at debug", "debug", slog.LevelDebug, "DEBUG"},
		{"warn", "warn", slog.LevelInfo, "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, logs := loggedServer(t, ingress.Config{AccessLogLevel: tt.accessLevel}, tt.handler)
			send(t, srv, "GET", "/healthz", "")
			lines := logs.accessLines(t)
			switch {
			case tt.want == "" && len(lines) != 0:
				t.Errorf("access lines %v, want none", lines)
			case tt.want != "" && (len(lines) != 1 || lines[0]["level"] != tt.want || lines[0]["route"] != "healthz"):
				t.Errorf("access lines %v, want one at %s for route healthz", lines, tt.want)
			}
		})
	}
}

func TestConfigValidateAccessLog(t *testing.T) {
	t.Parallel()
	err := ingress.Config{AccessLogLevel: "loud", AccessLogBodyBytes: -1}.Validate()
	for _, want := range []string{"access_log_level: must be debug, info, warn or error", "access_log_body_bytes: must be >= 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
}
