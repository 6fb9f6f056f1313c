package ingress_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// observed is a gateway with metrics, publishing to c through a client
// built with kopts, with extra server options.
type observed struct {
	*gateway
	metrics *metrics.Recorder
}

func startObserved(tb testing.TB, c *kfake.Cluster, cfg ingress.Config, kopts []kgo.Opt, opts ...ingress.Option) *observed {
	tb.Helper()
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		tb.Fatalf("NewTable: %v", err)
	}
	set, err := schemas.Load("../testdata/schemas")
	if err != nil {
		tb.Fatalf("schemas.Load: %v", err)
	}
	m, err := metrics.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		tb.Fatalf("NewMetrics: %v", err)
	}
	cl := topicstest.Client(tb, c, append([]kgo.Opt{kgo.ProducerLinger(0)}, kopts...)...)
	deps := ingress.Deps{Producer: topics.NewProducer(cl, 2*time.Second, topics.WithObserver(m)), Validator: set}
	opts = append([]ingress.Option{ingress.WithLogger(testLogger()), ingress.WithMetrics(m)}, opts...)
	srv, err := ingress.New(cfg, table, deps, opts...)
	if err != nil {
		tb.Fatalf("ingress.New: %v", err)
	}
	g := serveGateway(tb, srv, c)
	return &observed{gateway: g, metrics: m}
}

// scrape gets /metrics and parses it with the Prometheus text parser.
func (g *gateway) scrape(tb testing.TB) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, b := g.do(tb, "GET", "/metrics", "", nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /metrics = %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		tb.Errorf("/metrics Content-Type = %q, want the Prometheus text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("parse /metrics: %v\n%s", err, b)
	}
	return mfs
}

// series returns every series of family name as "label=value,..." -> value;
// for histograms the value is the sample count.
func series(mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := make(map[string]float64)
	mf, ok := mfs[name]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(labels)
		var v float64
		switch {
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Histogram != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
		out[strings.Join(labels, ",")] = v
	}
	return out
}

// TestMetricsAfterScriptedRequests sends a known mix of requests and checks
// every HTTP and produce series, so that an unexpected label value (a raw
// path, say) fails the test too.
func TestMetricsAfterScriptedRequests(t *testing.T) {
	t.Parallel()
	g := startObserved(t, topicstest.Cluster(t, 3, "orders", "customers", "anything"), ingress.Config{}, nil)
	order := readFile(t, "../testdata/payloads/order.json")
	invalid := readFile(t, "../testdata/payloads/order-invalid.json")
	script := []struct {
		method, path string
		body         []byte
		status       int
	}{
		{"POST", "/v1/orders", order, 202},
		{"POST", "/v1/orders", order, 202},
		{"POST", "/v1/orders", order, 202},
		{"POST", "/v1/orders", invalid, 422},
		{"POST", "/v1/anything", []byte(`{"a":1}`), 202},
		{"POST", "/v1/anything", []byte(`[2]`), 202},
		{"PUT", "/v1/customers/42/events", []byte(`{}`), 422}, // X-Tenant missing: key unresolved
		{"GET", "/v1/nope/123", nil, 404},
		{"GET", "/v1/orders", nil, 405},
		{"POST", "/v1/secured", []byte(`{}`), 401},
		{"GET", "/healthz", nil, 200},
		{"GET", "/healthz", nil, 200},
		{"GET", "/readyz", nil, 200},
	}
	for _, s := range script {
		resp, b := g.do(t, s.method, s.path, "application/json", s.body)
		if resp.StatusCode != s.status {
			t.Fatalf("%s %s = %d %s, want %d", s.method, s.path, resp.StatusCode, b, s.status)
		}
	}

	mfs := g.scrape(t)
	wantRequests := map[string]float64{
		"method=POST,route=create-order,status_class=2xx":  3,
		"method=POST,route=create-order,status_class=4xx":  1,
		"method=POST,route=anything,status_class=2xx":      2,
		"method=PUT,route=customer-event,status_class=4xx": 1,
		"method=GET,route=unmatched,status_class=4xx":      2,
		"method=POST,route=secured,status_class=4xx":       1,
		"method=GET,route=healthz,status_class=2xx":        2,
		"method=GET,route=readyz,status_class=2xx":         1,
	}
	if diff := cmp.Diff(wantRequests, series(mfs, "ferry_http_requests_total")); diff != "" {
		t.Errorf("ferry_http_requests_total (-want +got):\n%s", diff)
	}
	wantDurations := map[string]float64{
		"route=create-order": 4, "route=anything": 2, "route=customer-event": 1, "route=unmatched": 2,
		"route=secured": 1, "route=healthz": 2, "route=readyz": 1,
	}
	if diff := cmp.Diff(wantDurations, series(mfs, "ferry_http_request_duration_seconds")); diff != "" {
		t.Errorf("ferry_http_request_duration_seconds sample counts (-want +got):\n%s", diff)
	}
	wantProduce := map[string]float64{"outcome=ok,topic=orders": 3, "outcome=ok,topic=anything": 2}
	if diff := cmp.Diff(wantProduce, series(mfs, "ferry_produce_duration_seconds")); diff != "" {
		t.Errorf("ferry_produce_duration_seconds sample counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"reason=missing": 1}, series(mfs, "ferry_auth_failures_total")); diff != "" {
		t.Errorf("ferry_auth_failures_total (-want +got):\n%s", diff)
	}
	if got := series(mfs, "ferry_produce_errors_total"); len(got) != 0 {
		t.Errorf("ferry_produce_errors_total = %v, want no series", got)
	}
	// Only the scrape itself is in flight.
	if diff := cmp.Diff(map[string]float64{"": 1}, series(mfs, "ferry_http_requests_in_flight")); diff != "" {
		t.Errorf("ferry_http_requests_in_flight (-want +got):\n%s", diff)
	}
	// Latency observations are plausible: positive, under the test's span.
	if h := mfs["ferry_http_request_duration_seconds"]; h != nil {
		for _, m := range h.GetMetric() {
			if s := m.GetHistogram().GetSampleSum(); s <= 0 || s > 10 {
				t.Errorf("latency sum of %v = %v s", m.GetLabel(), s)
			}
		}
	}

	// The scrape is counted once it is answered, under its fixed route.
	mfs = g.scrape(t)
	if got := series(mfs, "ferry_http_requests_total")["method=GET,route=metrics,status_class=2xx"]; got != 1 {
		t.Errorf("requests to /metrics after one scrape = %v, want 1", got)
	}
	// Families without a labeled series yet are still exposed.
	for _, name := range []string{"ferry_correlator_replies_total", "ferry_correlator_pending", "ferry_replay_active"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("%s is not exposed", name)
		}
	}
}

// TestProduceErrorMetrics makes the broker refuse records for good: the
// error is counted under its Kafka error code and the request as a 5xx.
func TestProduceErrorMetrics(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1, "orders", "customers", "anything")
	topicstest.FailProduce(c, kerr.InvalidRecord)
	g := startObserved(t, c, ingress.Config{}, nil)
	for range 2 {
		if resp, b := g.do(t, "POST", "/v1/anything", "application/json", []byte(`{}`)); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("POST with a refusing broker = %d %s, want 502", resp.StatusCode, b)
		}
	}
	mfs := g.scrape(t)
	for _, tt := range []struct {
		family string
		want   map[string]float64
	}{
		{"ferry_produce_errors_total", map[string]float64{"code=INVALID_RECORD,topic=anything": 2}},
		{"ferry_produce_duration_seconds", map[string]float64{"outcome=rejected,topic=anything": 2}},
		{"ferry_http_requests_total", map[string]float64{"method=POST,route=anything,status_class=5xx": 2}},
	} {
		if diff := cmp.Diff(tt.want, series(mfs, tt.family)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.family, diff)
		}
	}
}

// TestMetricsMethods checks the metrics other components record: each
// method moves its series, and a nil *Metrics ignores every call.
func TestMetricsMethods(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	calls := func(m *metrics.Recorder) {
		m.AuthFailure("expired")
		m.AuthFailure("expired")
		m.AuthFailure("missing")
		m.RateLimit("create-order", metrics.RateLimitAllowed)
		m.RateLimit("create-order", metrics.RateLimitLimited)
		m.IdempotentReplay("create-order")
		m.CorrelatorPending(1)
		m.CorrelatorPending(1)
		m.CorrelatorPending(-1)
		m.CorrelatorReply(metrics.ReplyMatched)
		m.CorrelatorReply(metrics.ReplyLate)
		m.CorrelatorTimeout()
		m.SSESubscribers("order-events", 1)
		m.SSEEventsSent("order-events", 3)
		m.SSESlowConsumerClosed("order-events")
		m.ReplayActive(1)
		m.ReplayRecordsStreamed(5)
		m.ObserveProduce(topics.ProduceResult{Topic: "orders", Duration: time.Millisecond, Outcome: topics.OutcomeTimeout, Code: "NOT_ENOUGH_REPLICAS"})
	}
	calls(m)
	calls(nil) // must not panic

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*dto.MetricFamily)
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	want := map[string]map[string]float64{
		"ferry_auth_failures_total":             {"reason=expired": 2, "reason=missing": 1},
		"ferry_rate_limit_decisions_total":      {"decision=allowed,route=create-order": 1, "decision=limited,route=create-order": 1},
		"ferry_idempotent_replays_total":        {"route=create-order": 1},
		"ferry_correlator_pending":              {"": 1},
		"ferry_correlator_replies_total":        {"result=matched": 1, "result=late": 1, "result=unknown": 0},
		"ferry_correlator_timeouts_total":       {"": 1},
		"ferry_sse_subscribers":                 {"stream=order-events": 1},
		"ferry_sse_events_sent_total":           {"stream=order-events": 3},
		"ferry_sse_slow_consumers_closed_total": {"stream=order-events": 1},
		"ferry_replay_active":                   {"": 1},
		"ferry_replay_records_streamed_total":   {"": 5},
		"ferry_produce_errors_total":            {"code=NOT_ENOUGH_REPLICAS,topic=orders": 1},
		"ferry_produce_duration_seconds":        {"outcome=timeout,topic=orders": 1},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, series(byName, name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	for name := range byName {
		if !strings.HasPrefix(name, "ferry_") {
			t.Errorf("metric %s is not prefixed ferry_", name)
		}
	}
	if _, err := metrics.NewRecorder(reg); err == nil {
		t.Error("NewMetrics twice on one registry succeeded, want a duplicate registration error")
	}
}

// TestMetricsFormats: /metrics answers in the format the scraper asks for,
// and each decodes to the same families.
func TestMetricsFormats(t *testing.T) {
	t.Parallel()
	g := startObserved(t, topicstest.Cluster(t, 1, "orders", "customers", "anything"), ingress.Config{}, nil)
	tests := []struct{ name, accept, wantType string }{
		{"default text", "", "text/plain"},
		{"openmetrics", "application/openmetrics-text;version=1.0.0", "application/openmetrics-text"},
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "application/vnd.google.protobuf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, b := g.do(t, "GET", "/metrics", "", nil, "Accept", tt.accept)
			ct := resp.Header.Get("Content-Type")
			if !strings.HasPrefix(ct, tt.wantType) {
				t.Fatalf("Content-Type = %q, want %s", ct, tt.wantType)
			}
			if tt.name == "openmetrics" && !bytes.HasSuffix(b, []byte("# EOF\n")) {
				t.Errorf("OpenMetrics body does not end with # EOF")
			}
			if tt.name == "openmetrics" {
				return // expfmt decodes text and protobuf only
			}
			dec := expfmt.NewDecoder(bytes.NewReader(b), expfmt.ResponseFormat(resp.Header))
			names := make(map[string]bool)
			for {
				var mf dto.MetricFamily
				if err := dec.Decode(&mf); err != nil {
					break
				}
				names[mf.GetName()] = true
			}
			if !names["ferry_http_requests_in_flight"] || !names["ferry_correlator_replies_total"] {
				t.Errorf("decoded families %v, want ferry's", names)
			}
		})
	}
}

// TestNoMetricsByDefault: without WithMetrics there is no /metrics.
func TestNoMetricsByDefault(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	if resp, b := g.do(t, "GET", "/metrics", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics without metrics = %d %s, want 404", resp.StatusCode, b)
	}
}

// TestMetricsRequestRefusedBeforeRouting: a body over the server's limit is
// refused by fasthttp before any middleware; it is still counted, as
// unmatched.
func TestMetricsRequestRefusedBeforeRouting(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: ackProducer{}}, ingress.WithLogger(testLogger()), ingress.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "/v1/anything", strings.NewReader(`"`+strings.Repeat("x", topics.DefaultBodyLimit+10)+`"`))
	req.Header.Set("Content-Type", "application/json")
	// app.Test may return fasthttp's error instead of the response.
	if resp, err := srv.App().Test(req, -1); err == nil && resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST over the server limit = %d, want 413", resp.StatusCode)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*dto.MetricFamily)
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	want := map[string]float64{"method=POST,route=unmatched,status_class=4xx": 1}
	if diff := cmp.Diff(want, series(byName, "ferry_http_requests_total")); diff != "" {
		t.Errorf("ferry_http_requests_total (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"": 0}, series(byName, "ferry_http_requests_in_flight")); diff != "" {
		t.Errorf("ferry_http_requests_in_flight (-want +got):\n%s", diff)
	}
}
