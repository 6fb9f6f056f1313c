package ingress

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/topics"
)

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
	m, err := metrics.NewRecorder(prometheus.NewRegistry())
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
		if got := sample(t, m, "ferry_correlator_timeouts_total"); got != tt.timeouts {
			t.Errorf("after POST %s (Prefer %q): ferry_correlator_timeouts_total = %v, want %v", tt.path, tt.prefer, got, tt.timeouts)
		}
	}
}

// sample reads one sample of what /metrics serves (text format), such as
// `ferry_replies_rejected_total{route="a"}`; 0 when it is absent.
func sample(tb testing.TB, m *metrics.Recorder, name string) float64 {
	tb.Helper()
	var b bytes.Buffer
	if _, err := m.Write(context.Background(), &b, "", slog.New(slog.DiscardHandler)); err != nil {
		tb.Fatal(err)
	}
	for line := range strings.SplitSeq(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestBuiltinEndpointLabels: ferry's own endpoints are counted under their
// own route label, not "unmatched".
func TestBuiltinEndpointLabels(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{}, table, Deps{Producer: &fakeProducer{}}, WithMetrics(m), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for path, route := range map[string]string{"/openapi.json": "openapi", "/asyncapi.json": "asyncapi", "/healthz": "healthz", "/nope": "unmatched"} {
		resp, err := s.App().Test(httptest.NewRequest("GET", path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := sample(t, m, `ferry_http_requests_total{method="GET",route="`+route+`",status_class="`+strconv.Itoa(resp.StatusCode/100)+`xx"}`); got != 1 {
			t.Errorf("GET %s: ferry_http_requests_total{route=%q} = %v, want 1", path, route, got)
		}
	}
}
