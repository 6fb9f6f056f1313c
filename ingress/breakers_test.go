package ingress

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/topics"
)

// downProducer fails every produce with ErrUnavailable while down, counting
// the calls that reached it.
type downProducer struct {
	down   atomic.Bool
	calls  atomic.Int32
	mu     sync.Mutex
	ids    []string // of the records produced
	values [][]byte // their values
}

func (p *downProducer) Produce(_ context.Context, m *topics.Message) (topics.Position, error) {
	p.calls.Add(1)
	p.mu.Lock()
	p.ids = append(p.ids, m.ID)
	p.values = append(p.values, m.Value)
	p.mu.Unlock()
	if p.down.Load() {
		return topics.Position{}, topics.ErrUnavailable
	}
	return topics.Position{Topic: m.Topic, Offset: 1, Timestamp: m.Time}, nil
}

// breakerServer serves one publish route and two sync routes (accept and
// fail) with breakers that open after 3 failures and stay open openFor.
func breakerServer(t *testing.T, prod Producer, corr Correlator, openFor time.Duration) *Server {
	t.Helper()
	bc := topics.BreakerConfig{Failures: 3, Window: time.Minute, OpenFor: openFor}
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "pub", Path: "/v1/pub", Topic: "pub", Auth: topics.AuthNone},
		{Name: "ask", Path: "/v1/ask", Topic: "ask", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "ask.replies", Timeout: 50 * time.Millisecond, CircuitBreaker: bc}},
		{Name: "must", Path: "/v1/must", Topic: "must", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "must.replies", Timeout: 50 * time.Millisecond, OnTimeout: "fail", CircuitBreaker: bc}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{}, table, Deps{Producer: prod, Correlator: corr, Results: &fakeResults{}},
		WithLogger(slog.New(slog.DiscardHandler)), WithKafkaBreaker(bc))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// post sends a JSON POST through app.Test and returns status, body and
// how long the answer took.
func post(t *testing.T, srv *Server, path string) (int, map[string]any, string, time.Duration) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := srv.App().Test(req, -1)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body, resp.Header.Get("Retry-After"), took
}

// readyChecks returns the /readyz checks.
func readyChecks(t *testing.T, srv *Server) map[string]string {
	t.Helper()
	resp, err := srv.App().Test(httptest.NewRequest("GET", "/readyz", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rd readiness
	if err := json.NewDecoder(resp.Body).Decode(&rd); err != nil {
		t.Fatal(err)
	}
	return rd.Checks
}

// TestKafkaBreaker: after 3 failed produces the breaker opens; then a
// publish is answered 503 kafka-unavailable with Retry-After at once and
// reaches no producer; once the broker is back, the half-open probe
// passes and closes the breaker.
func TestKafkaBreaker(t *testing.T) {
	t.Parallel()
	prod := &downProducer{}
	prod.down.Store(true)
	srv := breakerServer(t, prod, newFakeCorrelator(), 300*time.Millisecond)
	for i := range 3 {
		if st, _, _, _ := post(t, srv, "/v1/pub"); st != 503 {
			t.Fatalf("failed produce %d: status %d, want 503", i, st)
		}
	}
	if got := prod.calls.Load(); got != 3 {
		t.Fatalf("producer calls = %d, want 3", got)
	}
	st, body, retry, took := post(t, srv, "/v1/pub")
	if st != 503 || body["type"] != "urn:ferry:problem:kafka-unavailable" || retry == "" {
		t.Fatalf("with the breaker open: %d %v Retry-After %q, want 503 kafka-unavailable with Retry-After", st, body, retry)
	}
	if took > 50*time.Millisecond {
		t.Errorf("the open breaker answered in %s, want within 50ms", took)
	}
	if got := prod.calls.Load(); got != 3 {
		t.Errorf("producer calls = %d after the breaker opened, want still 3: nothing is produced for a 503", got)
	}
	if got := readyChecks(t, srv)["circuit:kafka"]; !strings.HasPrefix(got, "open") {
		t.Errorf("/readyz circuit:kafka = %q, want open", got)
	}
	prod.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _, _, _ := post(t, srv, "/v1/pub")
		if st == 202 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no publish passed within 5s of the broker's return (last %d)", st)
		}
		time.Sleep(20 * time.Millisecond) // open_for must pass: time is what is awaited
	}
	if got := readyChecks(t, srv)["circuit:kafka"]; got != "ok" {
		t.Errorf("/readyz circuit:kafka = %q after a successful probe, want ok", got)
	}
}

// TestResponderBreaker: after 3 reply timeouts in a row, an on_timeout:
// accept route answers 202 + Location at once (still publishing), and an
// on_timeout: fail route answers 503 responder-unavailable without
// publishing; once the responder answers a probe, the breaker closes.
func TestResponderBreaker(t *testing.T) {
	t.Parallel()
	prod := &downProducer{}
	corr := newFakeCorrelator()
	srv := breakerServer(t, prod, corr, 300*time.Millisecond)
	for _, path := range []string{"/v1/ask", "/v1/must"} {
		for range 3 {
			post(t, srv, path) // each waits out the 50ms timeout
		}
	}
	before := prod.calls.Load()
	st, _, _, took := post(t, srv, "/v1/ask")
	if st != 202 || took > 40*time.Millisecond {
		t.Errorf("accept route with the breaker open: %d in %s, want 202 at once", st, took)
	}
	if prod.calls.Load() != before+1 {
		t.Errorf("the accept route did not publish with the breaker open")
	}
	st, body, retry, took := post(t, srv, "/v1/must")
	if st != 503 || body["type"] != "urn:ferry:problem:responder-unavailable" || retry == "" || took > 40*time.Millisecond {
		t.Errorf("fail route with the breaker open: %d %v Retry-After %q in %s, want 503 responder-unavailable at once", st, body, retry, took)
	}
	if prod.calls.Load() != before+1 {
		t.Errorf("the fail route published although it answered 503")
	}
	checks := readyChecks(t, srv)
	if !strings.HasPrefix(checks["circuit:route:ask"], "open") || !strings.HasPrefix(checks["circuit:route:must"], "open") {
		t.Errorf("/readyz = %v, want both route breakers open", checks)
	}

	// The responder is back: answer every waiter at once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			prod.mu.Lock()
			ids := slices.Clone(prod.ids)
			prod.mu.Unlock()
			for _, id := range ids {
				corr.ws.Deliver([]byte(id), correlator.Reply{Status: 200, Final: true, Body: []byte(`{}`)})
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	defer wg.Wait()
	defer cancel()
	deadline := time.Now().Add(5 * time.Second)
	for readyChecks(t, srv)["circuit:route:must"] != "ok" {
		if time.Now().After(deadline) {
			t.Fatalf("the breaker did not close within 5s of the responder's return: %v", readyChecks(t, srv))
		}
		post(t, srv, "/v1/must")
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTimeoutWithResultsDown: a sync request (on_timeout: accept) whose
// reply does not come in time while the result store is down was
// produced, so it is answered 202 with its Location, never a 503 that
// invites a retry (which would publish it twice).
func TestTimeoutWithResultsDown(t *testing.T) {
	t.Parallel()
	prod := &downProducer{}
	corr := newFakeCorrelator()
	corr.detachErr = fmt.Errorf("store reply: %w", correlator.ErrUnavailable)
	srv := breakerServer(t, prod, corr, time.Minute)
	req := httptest.NewRequest("POST", "/v1/ask", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 || resp.Header.Get("Location") == "" || resp.Header.Get("Retry-After") != "" {
		t.Errorf("timeout with the result store down: %d Location %q Retry-After %q %s, want 202 with Location and no Retry-After",
			resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Retry-After"), body)
	}
	if prod.calls.Load() != 1 {
		t.Errorf("%d produces, want 1", prod.calls.Load())
	}
}
