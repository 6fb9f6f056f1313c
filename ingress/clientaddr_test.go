package ingress_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// addrRoutes are anonymous routes whose behaviour depends on the client
// address: a rate limit by ip (burst 2) and idempotency keys of anonymous
// callers.
var addrRoutes = []topics.RouteConfig{
	{Name: "by-ip", Path: "/v1/by-ip", Topic: "t", Auth: topics.AuthNone,
		RateLimit: &topics.RateLimitConfig{Rate: 1, Per: time.Hour, Burst: 2, By: "ip"}},
	{Name: "open", Path: "/v1/open", Topic: "t", Auth: topics.AuthNone},
}

// addrGateway is a real listener on 127.0.0.1 serving addrRoutes with a
// RedisLimiter and RedisIdempotency on miniredis, JSON logs in a buffer and
// server spans in memory.
type addrGateway struct {
	*gateway
	logs  *logBuffer
	spans *tracetest.InMemoryExporter
	seq   int
}

func startAddrGateway(tb testing.TB, cfg ingress.Config) *addrGateway {
	tb.Helper()
	table, err := topics.NewTable(addrRoutes)
	if err != nil {
		tb.Fatal(err)
	}
	logs := &logBuffer{}
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	rdb := miniRedis(tb)
	srv, err := ingress.New(cfg, table, ingress.Deps{
		Producer:    ackProducer{},
		Limiter:     policy.NewRedisLimiter(rdb, policy.WithLimiterPrefix(testPrefix())),
		Idempotency: policy.NewRedisIdempotency(rdb, policy.WithIdempotencyPrefix(testPrefix())),
	}, ingress.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))), ingress.WithTracing(tp, propagation.TraceContext{}))
	if err != nil {
		tb.Fatalf("ingress.New: %v", err)
	}
	return &addrGateway{gateway: serveGateway(tb, srv, nil), logs: logs, spans: spans}
}

// served is what ferry made of one request.
type served struct {
	status   int
	replayed bool
	client   string // access log client_address
	span     string // server span client.address
	scheme   string // server span url.scheme
}

// post sends an empty JSON object to path over a real connection from
// 127.0.0.1 with the header lines hdr (name, value pairs; a repeated name
// is sent as several lines, in order) and returns what ferry made of it.
func (g *addrGateway) post(tb testing.TB, path string, hdr ...string) served {
	tb.Helper()
	g.seq++
	id := fmt.Sprintf("addr-%d", g.seq)
	req, err := http.NewRequest("POST", g.url+path, strings.NewReader(`{}`))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", id)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s := served{status: resp.StatusCode, replayed: resp.Header.Get(ingress.HeaderIdempotentReplayed) == "true"}

	// The access line and the span end before the response is written;
	// checkFor only guards against that ever changing.
	var traceID string
	topicstest.Eventually(tb, 2*time.Second, 5*time.Millisecond, func() error {
		for _, l := range g.logs.accessLines(tb) {
			if l["request_id"] == id {
				s.client, _ = l["client_address"].(string)
				traceID, _ = l["trace_id"].(string)
				return nil
			}
		}
		return fmt.Errorf("no access line for %s", id)
	})
	topicstest.Eventually(tb, 2*time.Second, 5*time.Millisecond, func() error {
		for _, sp := range g.spans.GetSpans() {
			if sp.SpanContext.TraceID().String() == traceID {
				s.span = attr(sp, semconv.ClientAddressKey).AsString()
				s.scheme = attr(sp, semconv.URLSchemeKey).AsString()
				return nil
			}
		}
		return fmt.Errorf("no span of trace %s", traceID)
	})
	return s
}

const xff, xri = "X-Forwarded-For", "X-Real-IP"

// TestClientAddress sends real requests from 127.0.0.1 with proxy headers
// and checks the client address each got: its rate-limit budget by ip
// (burst 2), its access log client_address and its span's client.address.
func TestClientAddress(t *testing.T) {
	t.Parallel()
	type step struct {
		hdr    []string
		status int
		client string
	}
	const peer = "127.0.0.1"
	tests := []struct {
		name  string
		cfg   ingress.Config
		steps []step
	}{
		{"no trusted proxies (the default): X-Forwarded-For is ignored", ingress.Config{}, []step{
			{[]string{xff, "198.51.100.1"}, 202, peer},
			{[]string{xff, "198.51.100.2"}, 202, peer},
			{[]string{xff, "198.51.100.3"}, 429, peer}, // one budget: the peer's
		}},
		{"untrusted peer: X-Forwarded-For is ignored", ingress.Config{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1"}}, []step{
			{[]string{xff, "198.51.100.1"}, 202, peer},
			{[]string{xff, "198.51.100.2"}, 202, peer},
			{nil, 429, peer},
		}},
		{"trusted peer: the client comes from X-Forwarded-For", ingress.Config{TrustedProxies: []string{"127.0.0.1/8"}}, []step{
			{[]string{xff, "198.51.100.1"}, 202, "198.51.100.1"},
			{[]string{xff, "198.51.100.1"}, 202, "198.51.100.1"},
			{[]string{xff, "198.51.100.1"}, 429, "198.51.100.1"},
			{[]string{xff, "198.51.100.2"}, 202, "198.51.100.2"}, // its own budget
			{[]string{xff, "2001:db8::7"}, 202, "2001:db8::7"},
			{nil, 202, peer}, // no header: the proxy itself
		}},
		{"spoofed leftmost entries are ignored", ingress.Config{TrustedProxies: []string{"127.0.0.1/8"}}, []step{
			{[]string{xff, "6.6.6.1, 198.51.100.1"}, 202, "198.51.100.1"},
			{[]string{xff, "6.6.6.2, 10.0.0.1, 198.51.100.1"}, 202, "198.51.100.1"},
			{[]string{xff, "6.6.6.3, 198.51.100.1"}, 429, "198.51.100.1"},
			// The client's own header line first, the one its proxy added
			// second: the nearest line is read first.
			{[]string{xff, "6.6.6.4", xff, "198.51.100.1"}, 429, "198.51.100.1"},
		}},
		{"a chain through several trusted proxies", ingress.Config{TrustedProxies: []string{"127.0.0.1/8", "10.0.0.0/8", "2001:db8:ffff::/48"}}, []step{
			{[]string{xff, "6.6.6.6, 198.51.100.1, 10.0.0.2, 2001:db8:ffff::1"}, 202, "198.51.100.1"},
			{[]string{xff, "198.51.100.1 , 10.9.8.7:4711", xff, "[2001:db8:ffff::2]:443"}, 202, "198.51.100.1"},
			{[]string{xff, "6.6.6.6, 198.51.100.1, 10.0.0.2"}, 429, "198.51.100.1"},
			{[]string{xff, "10.0.0.3, 10.0.0.2"}, 202, "10.0.0.3"}, // all trusted: the farthest
		}},
		{"a malformed header leaves the peer", ingress.Config{TrustedProxies: []string{"127.0.0.1/8"}}, []step{
			{[]string{xff, "nonsense"}, 202, peer},
			{[]string{xff, "198.51.100.1, unknown"}, 202, peer},
			{[]string{xff, "198.51.100.1,"}, 429, peer},
			{[]string{xff, "198.51.100.1"}, 202, "198.51.100.1"},
		}},
		{"X-Real-IP", ingress.Config{TrustedProxies: []string{"127.0.0.1"}, ProxyHeader: "x-real-ip"}, []step{
			{[]string{xri, "198.51.100.1"}, 202, "198.51.100.1"},
			{[]string{xri, "198.51.100.1", xff, "198.51.100.5"}, 202, "198.51.100.1"},
			{[]string{xri, "198.51.100.1"}, 429, "198.51.100.1"},
			{[]string{xff, "198.51.100.2"}, 202, peer}, // not the configured header
			{[]string{xri, "198.51.100.2, 198.51.100.3"}, 202, peer},
			{[]string{xri, "garbage"}, 429, peer},
		}},
		{"X-Real-IP from an untrusted peer is ignored", ingress.Config{TrustedProxies: []string{"10.0.0.0/8"}, ProxyHeader: "X-Real-IP"}, []step{
			{[]string{xri, "198.51.100.1"}, 202, peer},
			{[]string{xri, "198.51.100.2"}, 202, peer},
			{[]string{xri, "198.51.100.3"}, 429, peer},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startAddrGateway(t, tt.cfg)
			for i, s := range tt.steps {
				got := g.post(t, "/v1/by-ip", s.hdr...)
				if got.status != s.status || got.client != s.client || got.span != s.client {
					t.Errorf("step %d %q: status %d, access client_address %q, span client.address %q; want %d from %s",
						i, s.hdr, got.status, got.client, got.span, s.status, s.client)
				}
			}
		})
	}
}

// TestClientAddressIdempotency: anonymous callers' Idempotency-Keys live in
// their client address's scope, so behind a trusted proxy two clients
// using the same key do not get each other's stored response, while
// headers from an untrusted peer cannot move a caller to another scope.
func TestClientAddressIdempotency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cfg          ingress.Config
		wantReplayed bool
	}{
		{"untrusted peer: one scope", ingress.Config{}, true},
		{"trusted peer: a scope per client", ingress.Config{TrustedProxies: []string{"127.0.0.0/8"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startAddrGateway(t, tt.cfg)
			first := g.post(t, "/v1/open", "Idempotency-Key", "k-1", xff, "198.51.100.1")
			second := g.post(t, "/v1/open", "Idempotency-Key", "k-1", xff, "198.51.100.2")
			if first.status != 202 || first.replayed || second.status != 202 || second.replayed != tt.wantReplayed {
				t.Errorf("first %d replayed=%v, second %d replayed=%v; want 202, false, 202, %v",
					first.status, first.replayed, second.status, second.replayed, tt.wantReplayed)
			}
		})
	}
}

// TestForwardedProtoNeedsTrust: Fiber believes X-Forwarded-Proto (the
// span's url.scheme) only from a trusted proxy, as ferry does the client
// address.
func TestForwardedProtoNeedsTrust(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"untrusted", nil, "http"},
		{"trusted", []string{"127.0.0.1"}, "https"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startAddrGateway(t, ingress.Config{TrustedProxies: tt.trusted})
			if got := g.post(t, "/v1/open", "X-Forwarded-Proto", "https"); got.scheme != tt.want {
				t.Errorf("url.scheme = %q, want %q", got.scheme, tt.want)
			}
		})
	}
}

// TestNewRejectsBadProxies: ingress.New refuses what Validate reports.
func TestNewRejectsBadProxies(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []ingress.Config{
		{TrustedProxies: []string{"10.0.0.0/33"}},
		{ProxyHeader: "Forwarded"},
	} {
		if cfg.Validate() == nil {
			t.Errorf("%+v: Validate = nil, want an error", cfg)
		}
		if _, err := ingress.New(cfg, table, ingress.Deps{Producer: ackProducer{}}); err == nil {
			t.Errorf("%+v: New = nil error, want one", cfg)
		}
	}
}
