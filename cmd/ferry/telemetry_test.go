package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestTracingEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		config  bool
		env     map[string]string
		want    bool
		wantErr bool
	}{
		{name: "off by default"},
		{name: "config key", config: true, want: true},
		{name: "exporter env", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: true},
		{name: "exporter none wins over config", config: true, env: map[string]string{"OTEL_TRACES_EXPORTER": "none"}},
		{name: "sdk disabled wins", config: true, env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "list", env: map[string]string{"OTEL_TRACES_EXPORTER": "none, otlp"}, want: true},
		{name: "unsupported exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tracingEnabled(TelemetryConfig{Tracing: tt.config}, func(k string) string { return tt.env[k] })
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("tracingEnabled = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if p := otlpProtocol(func(string) string { return "" }); p != "http/protobuf" {
		t.Errorf("default OTLP protocol = %q, want http/protobuf", p)
	}
	if _, err := newExporter(context.Background(), func(string) string { return "http/json" }); err == nil {
		t.Error("newExporter(http/json) succeeded, want an error naming the supported protocols")
	}
	// Both exporters connect lazily: no collector is needed to start.
	for _, p := range []string{"grpc", "http/protobuf"} {
		exp, err := newExporter(context.Background(), func(k string) string {
			if k == "OTEL_EXPORTER_OTLP_PROTOCOL" {
				return p
			}
			return ""
		})
		if err != nil {
			t.Errorf("newExporter(%s) = %v", p, err)
			continue
		}
		if err := exp.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown of the %s exporter: %v", p, err)
		}
	}
}

// serveFor runs serve in-process with the config text (listen and broker
// filled in) and returns the HTTP address once ready, and a function that
// stops serve and waits for it (called at the end of the test otherwise).
func serveFor(t testing.TB, c *kfake.Cluster, cfgText string, opts ...serveOptions) (string, func()) {
	t.Helper()
	return serveForProbe(t, c, cfgText, "/readyz", opts...)
}

// serveForProbe is serveFor waiting for probe to answer 200: /healthz for
// a test that makes ferry unready on purpose.
func serveForProbe(t testing.TB, c *kfake.Cluster, cfgText, probe string, opts ...serveOptions) (string, func()) {
	t.Helper()
	return serveForGet(t, c, cfgText, func(addr string) (*http.Response, error) { return http.Get("http://" + addr + probe) }, opts...)
}

// serveForGet is serveFor waiting until get(addr) answers 200.
func serveForGet(t testing.TB, c *kfake.Cluster, cfgText string, get func(addr string) (*http.Response, error), opts ...serveOptions) (string, func()) {
	t.Helper()
	addr := freePort(t)
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	text := fmt.Sprintf("listen: %q\n", addr)
	if strings.Contains(cfgText, "BROKER") {
		// The config has a kafka section of its own naming BROKER.
		text += strings.ReplaceAll(cfgText, "BROKER", c.ListenAddrs()[0])
	} else {
		text += fmt.Sprintf("kafka: { brokers: [%q], create_topics: false }\n", c.ListenAddrs()[0]) + cfgText
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var o serveOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), o) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not return after cancel")
		}
	}
	t.Cleanup(stop)
	waitFor(t, 10*time.Second, func() error {
		resp, err := get(addr)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("probe = %d", resp.StatusCode)
		}
		return nil
	})
	return addr, stop
}

// TestServeMetrics: serve exposes ferry's metrics, the Kafka client's
// (kprom), the Go runtime's and the process's at /metrics.
func TestServeMetrics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "present"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after serve stops (cleanups run last-in first-out)
	addr, _ := serveFor(t, c, "routes: [{ name: a, path: /v1/a, topic: present, auth: none }]\n")
	resp, err := http.Post("http://"+addr+"/v1/a", "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %v, %v; want 202", resp, err)
	}
	resp.Body.Close()

	// kprom counts a produced batch just after its records are
	// acknowledged, so the scrape may need a second try.
	start := time.Now()
	waitFor(t, 5*time.Second, func() error { return checkExposition(addr) })
	t.Logf("exposition complete after %v", time.Since(start))
}

// scrape gets /metrics from addr and parses it with the Prometheus text
// parser.
func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return mfs, nil
}

// sample returns the value of the first series of family whose labels
// include the given ones (name, value, ...), and whether there is one.
// Histograms have no single value: their sample is 0.
func sample(mfs map[string]*dto.MetricFamily, family string, labels ...string) (float64, bool) {
	mf, ok := mfs[family]
	if !ok {
		return 0, false
	}
metrics:
	for _, m := range mf.GetMetric() {
		got := make(map[string]string)
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if got[labels[i]] != labels[i+1] {
				continue metrics
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		}
		return 0, true
	}
	return 0, false
}

// checkExposition scrapes /metrics and reports the expected series that
// are missing.
func checkExposition(addr string) error {
	mfs, err := scrape(addr)
	if err != nil {
		return err
	}
	has := func(family string, labels ...string) bool {
		_, ok := sample(mfs, family, labels...)
		return ok
	}
	var missing []string
	for _, want := range [][]string{
		{"ferry_build_info", "version", version},
		{"ferry_http_requests_total", "route", "a", "method", "POST", "status_class", "2xx"},
		{"ferry_produce_duration_seconds", "topic", "present", "outcome", "ok"},
		{"ferry_kafka_connects_total", "client", "producer"},
		{"ferry_kafka_produce_records_total", "client", "producer", "topic", "present"},
		{"ferry_kafka_request_duration_e2e_seconds", "client", "producer"},
		{"go_goroutines"},
		{"go_gc_duration_seconds"},
		{"process_resident_memory_bytes"},
		{"process_open_fds"},
	} {
		if !has(want[0], want[1:]...) {
			missing = append(missing, fmt.Sprintf("%s%q", want[0], want[1:]))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("/metrics lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// TestServeReplyAndStreamMetrics: with serve's own wiring, a synchronous
// round trip through the echo responder counts one matched reply and
// leaves nothing pending; a stream subscriber is counted while connected
// and uncounted once gone, its events are counted, and the reply and hub
// clients report their Kafka metrics.
func TestServeReplyAndStreamMetrics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "quotes", "quotes.replies", "events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after serve stops (cleanups run last-in first-out)
	addr, _ := serveFor(t, c, `server: { sse: { heartbeat: 100ms } }
routes: [{ name: quote, path: /v1/quotes, topic: quotes, auth: none, reply: { topic: quotes.replies, timeout: 10s } }]
streams: [{ name: events, topic: events, auth: none }]
`, serveOptions{echo: true})
	expect := func(family string, want float64, labels ...string) func() error {
		return func() error {
			mfs, err := scrape(addr)
			if err != nil {
				return err
			}
			if got, ok := sample(mfs, family, labels...); !ok || got != want {
				return fmt.Errorf("%s%q = %v (present %v), want %v", family, labels, got, ok, want)
			}
			return nil
		}
	}

	// Registered at start, so the first scrape sees them at zero.
	for _, f := range []func() error{
		expect("ferry_correlator_pending", 0),
		expect("ferry_correlator_replies_total", 0, "result", "matched"),
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	resp := do(t, "POST", "http://"+addr+"/v1/quotes", `{"symbol":"ACME"}`)
	if resp.status != http.StatusOK || resp.body != `{"symbol":"ACME"}` {
		t.Fatalf("POST /v1/quotes = %s, want 200 with the echo", resp)
	}
	for _, f := range []func() error{
		expect("ferry_correlator_pending", 0),
		expect("ferry_correlator_replies_total", 1, "result", "matched"),
		expect("ferry_correlator_replies_total", 0, "result", "unknown"),
		expect("ferry_correlator_timeouts_total", 0),
		expect("ferry_kafka_fetch_records_total", 1, "client", "replies", "topic", "quotes.replies"),
	} {
		waitFor(t, 5*time.Second, f)
	}

	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/streams/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	sub, err := http.DefaultClient.Do(req)
	if err != nil || sub.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/streams/events = %v, %v; want 200", sub, err)
	}
	waitFor(t, 5*time.Second, expect("ferry_sse_subscribers", 1, "stream", "events"))
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(context.Background(), &kgo.Record{Topic: "events", Value: []byte(`{"n":1}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, expect("ferry_sse_events_sent_total", 1, "stream", "events"))
	waitFor(t, 5*time.Second, expect("ferry_kafka_fetch_records_total", 1, "client", "streams", "topic", "events"))
	sub.Body.Close()
	waitFor(t, 5*time.Second, expect("ferry_sse_subscribers", 0, "stream", "events"))
}

func TestServeMetricsOff(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "present"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after serve stops (cleanups run last-in first-out)
	addr, _ := serveFor(t, c, "telemetry: { metrics: false }\nroutes: [{ name: a, path: /v1/a, topic: present, auth: none }]\n")
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics with metrics off = %d, want 404", resp.StatusCode)
	}
}

// collector is a fake OTLP/HTTP trace collector.
type collector struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (col *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil || r.URL.Path != "/v1/traces" {
		http.Error(w, fmt.Sprintf("%s: %v", r.URL.Path, err), http.StatusBadRequest)
		return
	}
	col.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			col.spans = append(col.spans, ss.GetSpans()...)
		}
	}
	col.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// TestServeTracingOTLP turns tracing on through the OTEL_* variables only,
// exports to a fake collector, and checks the exported trace against the
// record's traceparent: server span -> producer span -> record.
func TestServeTracingOTLP(t *testing.T) {
	col := &collector{}
	hs := httptest.NewServer(col)
	defer hs.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", hs.URL)
	t.Setenv("OTEL_SERVICE_NAME", "ferry-test")

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "present"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after serve stops (cleanups run last-in first-out)
	addr, stop := serveFor(t, c, "routes: [{ name: a, path: /v1/a, topic: present, auth: none }]\n")
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/a", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %v, %v; want 202", resp, err)
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("present"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rec *kgo.Record
	for rec == nil && ctx.Err() == nil {
		if rs := cl.PollFetches(ctx).Records(); len(rs) > 0 {
			rec = rs[0]
		}
	}
	if rec == nil {
		t.Fatal("no record in topic present")
	}
	var recTP string
	for _, h := range rec.Headers {
		if h.Key == "traceparent" {
			recTP = string(h.Value)
		}
	}
	stop() // flushes the spans to the collector

	col.mu.Lock()
	defer col.mu.Unlock()
	byName := make(map[string]*tracepb.Span)
	for _, s := range col.spans {
		byName[s.GetName()] = s
	}
	server, producer := byName["POST /v1/a"], byName["present publish"]
	if server == nil || producer == nil {
		names := make([]string, 0, len(col.spans))
		for _, s := range col.spans {
			names = append(names, s.GetName())
		}
		t.Fatalf("exported spans %q, want a server span POST /v1/a and a producer span present publish", names)
	}
	if got := hex.EncodeToString(server.GetTraceId()); got != clientTrace {
		t.Errorf("server span trace id = %s, want the client's %s", got, clientTrace)
	}
	if !bytes.Equal(producer.GetParentSpanId(), server.GetSpanId()) {
		t.Errorf("producer span parent = %x, want the server span %x", producer.GetParentSpanId(), server.GetSpanId())
	}
	want := "00-" + clientTrace + "-" + hex.EncodeToString(producer.GetSpanId()) + "-01"
	if recTP != want {
		t.Errorf("record traceparent = %s, want the producer span's %s", recTP, want)
	}
}
