package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeGateway serves canned replay and stream answers and records what it
// was asked. Its records are testdata/cli/records.ndjson, which is what
// the ingress golden test pins ferry's replay output to.
type fakeGateway struct {
	*httptest.Server
	records []byte

	mu       sync.Mutex
	requests []*http.Request
	handler  http.HandlerFunc // overrides the default answers when set
}

func startFakeGateway(t *testing.T) *fakeGateway {
	t.Helper()
	records, err := os.ReadFile("testdata/cli/records.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{records: records}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.requests = append(g.requests, r.Clone(context.Background()))
		h := g.handler
		g.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"type":"urn:ferry:problem:unauthenticated","title":"Unauthenticated","status":401,"detail":"this endpoint requires credentials"}`)
			return
		}
		if r.URL.Path == "/v1/replay/secret" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"type":"urn:ferry:problem:topic-not-allowed","title":"Topic Not Allowed","status":403,"detail":"the topic is not on the replay allowlist"}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Ferry-Records-In-Range", "4")
		limit := "100000"
		if l := r.URL.Query().Get("limit"); l != "" {
			limit = l
		}
		w.Header().Set("Ferry-Replay-Limit", limit)
		_, _ = w.Write(g.records)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGateway) lastQuery() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.requests) == 0 {
		return ""
	}
	r := g.requests[len(g.requests)-1]
	return r.URL.Path + "?" + r.URL.RawQuery
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/cli/" + name + ".golden"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output (-%s +got):\n%s", path, diff)
	}
}

// TestReplayCLIGolden pins ferry replay's output formats
// (go test -run CLIGolden -update rewrites testdata/cli/*.golden).
func TestReplayCLIGolden(t *testing.T) {
	g := startFakeGateway(t)
	t.Setenv("FERRY_TOKEN", "tok")
	tests := []struct {
		name      string
		args      []string
		wantQuery string
	}{
		{"replay-pretty", []string{"--format", "pretty", "--color", "never"}, "/v1/replay/orders.events?format=ndjson&from=-15m"},
		{"replay-pretty-color", []string{"--format", "pretty", "--color", "always"}, "/v1/replay/orders.events?format=ndjson&from=-15m"},
		{"replay-ndjson", nil, "/v1/replay/orders.events?format=ndjson&from=-15m"},
		{"replay-json", []string{"--format=json", "--to", "2026-01-02T16:00:00+01:00", "--key", "c-42", "--header", "ce_type=com.example.order.created", "--limit", "10", "--partition", "0,2"},
			"/v1/replay/orders.events?format=ndjson&from=-15m&header.ce_type=com.example.order.created&key=c-42&limit=10&partition=0%2C2&to=2026-01-02T16%3A00%3A00%2B01%3A00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"replay", "orders.events", "--gateway", g.URL, "--from", "-15m"}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("ferry %s exited %d: %s", strings.Join(args, " "), code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr %q, want nothing (not a terminal)", stderr)
			}
			if q := g.lastQuery(); q != tt.wantQuery {
				t.Errorf("asked %s\nwant  %s", q, tt.wantQuery)
			}
			checkGolden(t, tt.name, stdout)
			if tt.name == "replay-ndjson" && stdout != string(g.records) {
				t.Errorf("ndjson output differs from what the gateway sent")
			}
		})
	}
}

// TestReplayCLILimitNote: a replay that got exactly its limit of records
// says on stderr that the output may be cut short.
func TestReplayCLILimitNote(t *testing.T) {
	g := startFakeGateway(t)
	code, stdout, stderr := runCLI(t, "replay", "orders.events", "--gateway", g.URL, "--token", "tok", "--limit", "4")
	if code != 0 || strings.Count(stdout, "\n") != 4 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	if stderr != "ferry: stopped at the limit of 4 records; narrow the range or page with --from\n" {
		t.Errorf("stderr %q", stderr)
	}
}

func TestReplayCLIErrors(t *testing.T) {
	g := startFakeGateway(t)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStderr string
	}{
		{"no credentials", []string{"replay", "orders.events", "--gateway", g.URL}, 1, "ferry: Unauthenticated (401): this endpoint requires credentials\n"},
		{"topic not allowed", []string{"replay", "secret", "--gateway", g.URL, "--token", "tok"}, 1, "ferry: Topic Not Allowed (403): the topic is not on the replay allowlist\n"},
		{"no topic", []string{"replay", "--gateway", g.URL}, 2, "usage: ferry replay TOPIC"},
		{"two topics", []string{"replay", "a", "b"}, 2, "usage: ferry replay TOPIC"},
		{"bad format", []string{"replay", "a", "--format", "xml"}, 2, "--format must be pretty, ndjson, json"},
		{"follow as json", []string{"replay", "a", "--follow", "--format", "json"}, 2, "--follow prints pretty or ndjson"},
		{"bad header", []string{"replay", "a", "--header", "novalue"}, 2, "must be NAME=VALUE"},
		{"gateway down", []string{"replay", "a", "--gateway", "http://127.0.0.1:1"}, 1, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("ferry %s = exit %d, stderr %q; want exit %d, stderr with %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.wantStderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

// TestReplayCLIInBandError: a replay that fails after its first records
// exits 1, and its JSON output stays unclosed.
func TestReplayCLIInBandError(t *testing.T) {
	g := startFakeGateway(t)
	first, _, _ := strings.Cut(string(g.records), "\n")
	g.handler = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintf(w, "%s\n%s\n", first, `{"error":{"type":"urn:ferry:problem:kafka-unavailable","title":"Kafka Unavailable","status":503,"detail":"the record could not be stored; retry later"}}`)
	}
	for _, format := range []string{"ndjson", "json"} {
		code, stdout, stderr := runCLI(t, "replay", "orders.events", "--gateway", g.URL, "--format", format)
		if code != 1 || stderr != "ferry: replay failed: Kafka Unavailable (503): the record could not be stored; retry later\n" {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 naming the problem", format, code, stderr)
		}
		want := first + "\n"
		if format == "json" {
			want = "[\n" + first // unclosed: never parses as complete
		}
		if stdout != want {
			t.Errorf("%s: stdout %q, want %q", format, stdout, want)
		}
	}
}

// TestTailCLI runs ferry tail against a small SSE server that frames
// events as a ferry stream does (envelopes named after their ce_type, ids
// of stream positions): it prints every record, skips heartbeats,
// reconnects with Last-Event-ID after the server ends the stream for
// shutdown, and stops after --limit records.
func TestTailCLI(t *testing.T) {
	g := startFakeGateway(t)
	var (
		mu    sync.Mutex
		conns int
		seen  []string // Last-Event-ID of each connection
	)
	const (
		rec1 = `{"key":"c-42","headers":{"ce_type":"com.example.order.created","content-type":"application/json"},"partition":0,"offset":0,"timestamp":"2026-01-02T15:04:05.123Z","value":{"order_id":"o-1","total":12.5}}`
		rec2 = `{"key":null,"headers":{},"partition":0,"offset":2,"timestamp":"2026-01-02T15:04:07.123Z","value":{"pretty":[1,2]}}`
		rec3 = `{"key":"3q2+7w==","key_encoding":"base64","headers":{"ce_type":"end"},"partition":1,"offset":3,"timestamp":"2026-01-02T15:04:08.123Z","value":"plain text"}`
	)
	g.handler = func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		n := conns
		seen = append(seen, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		if r.URL.Path != "/v1/streams/order-events" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "wrong request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 1:
			// Two records, a heartbeat, then the server shuts down.
			fmt.Fprintf(w, "retry: 10\nid: 0.0\n\nid: 1.0\nevent: com.example.order.created\ndata: %s\n\n: ping\n\nid: 3.0\nevent: message\ndata: %s\n\nevent: error\ndata: {\"reason\":\"shutdown\",\"detail\":\"the server is shutting down\"}\n\n", rec1, rec2)
		default:
			fmt.Fprintf(w, "id: 3.4\nevent: end\ndata: %s\n\n", rec3) // a record whose ce_type is "end"
			w.(http.Flusher).Flush()
			<-r.Context().Done() // held open: the client leaves after --limit
		}
	}
	code, stdout, stderr := runCLI(t, "tail", "order-events", "--gateway", g.URL, "--key", "c-42", "--where", `/total>10`, "--format", "pretty", "--limit", "3")
	if code != 0 {
		t.Fatalf("ferry tail exited %d: %s", code, stderr)
	}
	checkGolden(t, "tail-pretty", stdout)
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"", "3.0"}, seen); diff != "" {
		t.Errorf("Last-Event-ID per connection (-want +got):\n%s", diff)
	}
	if q := g.lastQuery(); q != "/v1/streams/order-events?envelope=true&key=c-42&where=%2Ftotal%3E10" {
		t.Errorf("asked %s", q)
	}
	if !strings.Contains(stderr, "ferry: the gateway ended the stream: shutdown") || !strings.Contains(stderr, `reconnecting in 10ms (Last-Event-ID "3.0")`) {
		t.Errorf("stderr %q lacks the shutdown and the reconnection", stderr)
	}
}

// TestTailCLIStops: a final error event (token_expired) or a problem
// answer ends ferry tail with exit 1; an interrupt ends it with 0.
func TestTailCLIStops(t *testing.T) {
	g := startFakeGateway(t)
	g.handler = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `event: error`+"\n"+`data: {"reason":"token_expired","detail":"the token expired"}`+"\n\n")
	}
	if code, _, stderr := runCLI(t, "tail", "s", "--gateway", g.URL); code != 1 || !strings.Contains(stderr, "token_expired") {
		t.Errorf("error event: exit %d, stderr %q", code, stderr)
	}
	g.handler = nil // 401: no token
	if code, _, stderr := runCLI(t, "tail", "s", "--gateway", g.URL); code != 1 || !strings.Contains(stderr, "Unauthenticated (401)") {
		t.Errorf("problem answer: exit %d, stderr %q", code, stderr)
	}

	started := make(chan struct{})
	g.handler = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var out, errOut strings.Builder
	go func() { done <- run(ctx, []string{"tail", "s", "--gateway", g.URL}, &out, &errOut) }()
	<-started
	cancel() // Ctrl-C
	if code := <-done; code != 0 {
		t.Errorf("interrupted tail exited %d: %s", code, errOut.String())
	}
}

func TestProgress(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, true, "100000")
	p.add(10) // within the first second: nothing drawn
	if b.Len() != 0 {
		t.Errorf("progress drawn within its first second: %q", b.String())
	}
	p.n, p.bytes = 12344, 3_200_000
	p.start = p.start.Add(-2 * time.Second)
	p.last = p.last.Add(-time.Second)
	p.add(0)
	if got, want := b.String(), "\r\x1b[K12,345 of <=100,000 records, 3.2 MB, 2.0s"; got != want {
		t.Errorf("progress line %q, want %q", got, want)
	}
	p.done()
	if !strings.HasSuffix(b.String(), "\r\x1b[K") {
		t.Errorf("progress not erased at the end: %q", b.String())
	}
	off := newProgress(&b, false, "")
	off.start = off.start.Add(-time.Hour)
	before := b.Len()
	off.add(1)
	if b.Len() != before {
		t.Error("progress drawn while off")
	}
}
