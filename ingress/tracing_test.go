package ingress_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// traced is a gateway whose server and Kafka client (kotel hooks) record
// spans in memory.
type traced struct {
	*observed
	spans *tracetest.InMemoryExporter
}

func startTraced(tb testing.TB, fail *kerr.Error) *traced {
	tb.Helper()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.TraceContext{}
	k := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(kotel.TracerProvider(tp), kotel.TracerPropagator(prop))))
	c := topicstest.Cluster(tb, 1, "orders", "customers", "anything")
	if fail != nil {
		topicstest.FailProduce(c, fail)
	}
	g := startObserved(tb, c, ingress.Config{}, []kgo.Opt{kgo.WithHooks(k.Hooks()...)}, ingress.WithTracing(tp, prop))
	return &traced{observed: g, spans: spans}
}

// waitSpans waits until n spans have ended and returns them by kind.
func (g *traced) waitSpans(tb testing.TB, n int) map[trace.SpanKind]tracetest.SpanStub {
	tb.Helper()
	var got tracetest.SpanStubs
	topicstest.Eventually(tb, 2*time.Second, 5*time.Millisecond, func() error {
		if got = g.spans.GetSpans(); len(got) < n {
			return fmt.Errorf("%d spans ended, want %d", len(got), n)
		}
		return nil
	})
	if len(got) != n {
		tb.Fatalf("%d spans ended, want %d: %v", len(got), n, got)
	}
	byKind := make(map[trace.SpanKind]tracetest.SpanStub)
	for _, s := range got {
		byKind[s.SpanKind] = s
	}
	return byKind
}

func attr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

// TestTraceThroughKafka posts with a client traceparent and follows the
// trace: client span -> ferry's server span -> the producer span, whose
// context is the record's traceparent, so the backend continues the same
// trace.
func TestTraceThroughKafka(t *testing.T) {
	t.Parallel()
	g := startTraced(t, nil)
	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	resp, b := g.do(t, "POST", "/v1/orders", "application/json", readFile(t, "../testdata/payloads/order.json"),
		"traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", resp.StatusCode, b)
	}
	recs := topicstest.Read(t, g.cluster, "orders", 1, 5*time.Second)
	if len(recs) != 1 {
		t.Fatalf("read %d records, want 1", len(recs))
	}
	tp := headerMap(recs[0])["traceparent"]
	if strings.Count(tp, ",") > 0 || !topics.ValidTraceParent(tp) {
		t.Fatalf("record traceparent = %q, want exactly one valid one", tp)
	}

	spans := g.waitSpans(t, 2)
	server, producer := spans[trace.SpanKindServer], spans[trace.SpanKindProducer]
	if server.Name != "POST /v1/orders" {
		t.Errorf("server span name = %q, want POST /v1/orders", server.Name)
	}
	if got := server.SpanContext.TraceID().String(); got != clientTrace {
		t.Errorf("server span trace id = %s, want the client's %s", got, clientTrace)
	}
	if !server.Parent.IsRemote() || server.Parent.SpanID().String() != clientSpan {
		t.Errorf("server span parent = %s (remote %v), want the client's span %s", server.Parent.SpanID(), server.Parent.IsRemote(), clientSpan)
	}
	if got := producer.Parent.SpanID(); got != server.SpanContext.SpanID() {
		t.Errorf("producer span parent = %s, want the server span %s", got, server.SpanContext.SpanID())
	}
	if got := producer.SpanContext.TraceID().String(); got != clientTrace {
		t.Errorf("producer span trace id = %s, want %s", got, clientTrace)
	}
	want := "00-" + clientTrace + "-" + producer.SpanContext.SpanID().String() + "-01"
	if tp != want {
		t.Errorf("record traceparent = %s, want the producer span's context %s", tp, want)
	}
	if got := attr(server, "http.route").AsString(); got != "/v1/orders" {
		t.Errorf("http.route = %q, want /v1/orders", got)
	}
	if got := attr(server, "http.response.status_code").AsInt64(); got != 202 {
		t.Errorf("http.response.status_code = %d, want 202", got)
	}
	if server.Status.Code == codes.Error || producer.Status.Code == codes.Error {
		t.Errorf("span status server %v producer %v, want neither an error", server.Status, producer.Status)
	}

	// The latency sample links to the trace (OpenMetrics exemplar).
	_, body := g.do(t, "GET", "/metrics", "", nil, "Accept", "application/openmetrics-text;version=1.0.0")
	if !strings.Contains(string(body), `trace_id="`+clientTrace+`"`) {
		t.Errorf("no exemplar with trace_id %s in the OpenMetrics scrape", clientTrace)
	}
}

// TestTraceStartsRoot: without a client traceparent, the server span
// starts the trace and the record still carries it.
func TestTraceStartsRoot(t *testing.T) {
	t.Parallel()
	g := startTraced(t, nil)
	if resp, b := g.do(t, "POST", "/v1/anything", "application/json", []byte(`{}`), "traceparent", "garbage"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", resp.StatusCode, b)
	}
	recs := topicstest.Read(t, g.cluster, "anything", 1, 5*time.Second)
	if len(recs) != 1 {
		t.Fatalf("read %d records, want 1", len(recs))
	}
	spans := g.waitSpans(t, 2)
	server, producer := spans[trace.SpanKindServer], spans[trace.SpanKindProducer]
	if server.Parent.IsValid() {
		t.Errorf("server span parent = %v, want none (a new trace)", server.Parent)
	}
	want := "00-" + server.SpanContext.TraceID().String() + "-" + producer.SpanContext.SpanID().String() + "-01"
	if got := headerMap(recs[0])["traceparent"]; got != want {
		t.Errorf("record traceparent = %s, want %s", got, want)
	}
}

// TestTraceFailedProduce: a broker refusal marks both spans as failed.
func TestTraceFailedProduce(t *testing.T) {
	t.Parallel()
	g := startTraced(t, kerr.InvalidRecord)
	if resp, b := g.do(t, "POST", "/v1/anything", "application/json", []byte(`{}`)); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("POST = %d %s, want 502", resp.StatusCode, b)
	}
	spans := g.waitSpans(t, 2)
	server, producer := spans[trace.SpanKindServer], spans[trace.SpanKindProducer]
	if server.Status.Code != codes.Error || producer.Status.Code != codes.Error {
		t.Errorf("span status server %v producer %v, want both errors", server.Status, producer.Status)
	}
	if got := attr(server, "http.response.status_code").AsInt64(); got != 502 {
		t.Errorf("http.response.status_code = %d, want 502", got)
	}
}

// TestTraceClientErrorIsNotSpanError: a 4xx is the client's fault, and an
// unmatched path gets no route in its span name.
func TestTraceClientErrorIsNotSpanError(t *testing.T) {
	t.Parallel()
	g := startTraced(t, nil)
	if resp, _ := g.do(t, "GET", "/v1/orders/secret-id-123", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET = %d, want 404", resp.StatusCode)
	}
	s := g.waitSpans(t, 1)[trace.SpanKindServer]
	if s.Name != "GET" || s.Status.Code == codes.Error {
		t.Errorf("span %q status %v, want GET (no route) and no error", s.Name, s.Status)
	}
}

// capture records the messages it is asked to produce.
type capture struct{ msgs chan *topics.Message }

func (p capture) Produce(_ context.Context, m *topics.Message) (topics.Position, error) {
	select {
	case p.msgs <- m:
		return topics.Position{Topic: m.Topic, Timestamp: m.Time}, nil
	default:
		return topics.Position{}, errors.New("capture is full")
	}
}

// TestTraceWithoutKafkaHooks: with tracing on but a producer without
// tracing hooks, the message carries the server span's context.
func TestTraceWithoutKafkaHooks(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	p := capture{msgs: make(chan *topics.Message, 1)}
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: p}, ingress.WithLogger(testLogger()), ingress.WithTracing(tp, propagation.TraceContext{}))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "/v1/anything", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.App().Test(req, -1)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %v %v, want 202", resp, err)
	}
	m := <-p.msgs
	got := spans.GetSpans()
	if len(got) != 1 {
		t.Fatalf("%d spans, want 1", len(got))
	}
	want := "00-" + got[0].SpanContext.TraceID().String() + "-" + got[0].SpanContext.SpanID().String() + "-01"
	if m.TraceParent != want {
		t.Errorf("message traceparent = %s, want the server span's %s", m.TraceParent, want)
	}
}
