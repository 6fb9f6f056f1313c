package ingress

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ferry-gw/ferry/topics"
)

// BenchmarkMetricsPerRequest is what metrics add to one request and one
// produce, without the HTTP stack around them.
//
// Run: go test -run '^$' -bench MetricsPerRequest -benchmem ./ingress
func BenchmarkMetricsPerRequest(b *testing.B) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.inFlight(1)
			m.inFlight(-1)
			m.requestDone("create-order", "POST", 202, time.Millisecond, "")
		}
	})
	b.Run("http+exemplar", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.inFlight(1)
			m.inFlight(-1)
			m.requestDone("create-order", "POST", 202, time.Millisecond, "4bf92f3577b34da6a3ce929d0e0e4736")
		}
	})
	b.Run("produce", func(b *testing.B) {
		b.ReportAllocs()
		r := topics.ProduceResult{Topic: "orders", Duration: time.Millisecond, Outcome: topics.OutcomeOK}
		for b.Loop() {
			m.ObserveProduce(r)
		}
	})
}

// TestCorrelatorTimeoutCounted: a synchronous request whose wait runs out
// is counted once, whatever on_timeout does next; an asynchronous one never
// waits and is not counted.
func TestCorrelatorTimeoutCounted(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "fail", Path: "/v1/fail", Topic: "q", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "q.replies", Timeout: 50 * time.Millisecond, OnTimeout: "fail"}},
		{Name: "accept", Path: "/v1/accept", Topic: "q", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "q.replies", Timeout: 50 * time.Millisecond, OnTimeout: "accept"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	f := false
	s, err := New(Config{AccessLog: &f}, table, Deps{Producer: &fakeProducer{}, Correlator: newFakeCorrelator(), Results: &fakeResults{}},
		WithMetrics(m), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, prefer string
		status       int
		timeouts     float64 // counted so far
	}{
		{"/v1/fail", "", fiber.StatusGatewayTimeout, 1},
		{"/v1/accept", "", fiber.StatusAccepted, 2},
		{"/v1/accept", "respond-async", fiber.StatusAccepted, 2},
	} {
		req := httptest.NewRequest("POST", tt.path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		if tt.prefer != "" {
			req.Header.Set("Prefer", tt.prefer)
		}
		resp, err := s.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("POST %s (Prefer %q) = %d, want %d", tt.path, tt.prefer, resp.StatusCode, tt.status)
		}
		var got dto.Metric
		if err := m.correlatorTimeouts.Write(&got); err != nil {
			t.Fatal(err)
		}
		if got := got.GetCounter().GetValue(); got != tt.timeouts {
			t.Errorf("after POST %s (Prefer %q): ferry_correlator_timeouts_total = %v, want %v", tt.path, tt.prefer, got, tt.timeouts)
		}
	}
}
