package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/topics"
)

// TelemetryConfig is the `telemetry` section of ferry.yaml.
type TelemetryConfig struct {
	// Metrics serves Prometheus metrics at /metrics; default true.
	Metrics *bool `yaml:"metrics"`
	// Tracing turns on OpenTelemetry tracing, exported over OTLP and
	// configured by the standard OTEL_* environment variables (endpoint,
	// headers, protocol, sampler, service name); default false.
	// OTEL_TRACES_EXPORTER=otlp turns it on as well, and
	// OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turn it off.
	Tracing bool `yaml:"tracing"`
}

// metricsOn reports whether /metrics is served.
func (c TelemetryConfig) metricsOn() bool { return c.Metrics == nil || *c.Metrics }

// telemetry holds the process's metrics registry and tracer provider, and
// hands out what each component needs of them. Build it with newTelemetry
// and call shutdown after the last Kafka client closed.
type telemetry struct {
	reg     *prometheus.Registry
	metrics *metrics.Recorder // nil: metrics off
	// webhooks are the ferry_webhook_* metrics; nil: metrics off or no
	// webhooks.
	webhooks *webhookMetrics
	tp       *sdktrace.TracerProvider
	prop     propagation.TextMapPropagator
	kotel    *kotel.Kotel // nil: tracing off
}

// newTelemetry registers ferry's metrics with the Go runtime and process
// collectors, and, when tracing is on, starts the OpenTelemetry SDK with an
// OTLP exporter configured from OTEL_* variables.
func newTelemetry(ctx context.Context, cfg TelemetryConfig, log *slog.Logger) (*telemetry, error) {
	t := &telemetry{reg: prometheus.NewRegistry()}
	if cfg.metricsOn() {
		t.reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			buildInfo(),
		)
		m, err := metrics.NewRecorder(t.reg)
		if err != nil {
			return nil, err
		}
		t.metrics = m
	}

	on, err := tracingEnabled(cfg, os.Getenv)
	if err != nil || !on {
		return t, err
	}
	exp, err := newExporter(ctx, os.Getenv)
	if err != nil {
		return nil, err
	}
	// Export failures are logged, not fatal: telemetry must never stop
	// the gateway.
	tlog := log.With("component", "telemetry")
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { tlog.Warn("opentelemetry", "err", err) }))
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("ferry"), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil {
		tlog.Warn("opentelemetry resource incomplete", "err", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based,
	// always on); the batch limits from OTEL_BSP_*.
	t.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	t.prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	otel.SetTracerProvider(t.tp)
	otel.SetTextMapPropagator(t.prop)
	t.kotel = kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(kotel.TracerProvider(t.tp), kotel.TracerPropagator(t.prop))))
	log.Info("tracing on", "exporter", "otlp", "protocol", otlpProtocol(os.Getenv))
	return t, nil
}

// tracingEnabled decides from the config and the OTEL_* variables whether
// to trace.
func tracingEnabled(cfg TelemetryConfig, getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	v := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	if v == "" {
		return cfg.Tracing, nil
	}
	on := false
	for e := range strings.SplitSeq(v, ",") {
		switch strings.TrimSpace(e) {
		case "otlp":
			on = true
		case "none":
		default:
			return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: ferry supports otlp and none", v)
		}
	}
	return on, nil
}

// otlpProtocol is the OTLP protocol for traces: http/protobuf (the
// OpenTelemetry default) or grpc.
func otlpProtocol(getenv func(string) string) string {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
	}
	return "http/protobuf"
}

// newExporter builds the OTLP span exporter. Both exporters read their
// endpoint, headers, timeout, compression and TLS from OTEL_EXPORTER_OTLP_*
// themselves, and connect lazily: a missing collector never stops ferry.
func newExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	switch p := otlpProtocol(getenv); p {
	case "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: ferry supports http/protobuf and grpc", p)
	}
}

// buildInfo is ferry_build_info{version, goversion} = 1.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   "ferry",
		Name:        "build_info",
		Help:        "Always 1; its labels name the running build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// serverOptions are the ingress options for metrics and tracing.
func (t *telemetry) serverOptions() []ingress.Option {
	var opts []ingress.Option
	if t.metrics != nil {
		opts = append(opts, ingress.WithMetrics(t.metrics))
	}
	if t.tp != nil {
		opts = append(opts, ingress.WithTracing(t.tp, t.prop))
	}
	return opts
}

// producerOptions report every produce to the metrics.
func (t *telemetry) producerOptions() []topics.ProducerOption {
	if t.metrics == nil {
		return nil
	}
	return []topics.ProducerOption{topics.WithObserver(t.metrics)}
}

// correlatorOptions report waiters and replies to the metrics.
func (t *telemetry) correlatorOptions() []correlator.Option {
	if t.metrics == nil {
		return nil
	}
	return []correlator.Option{correlator.WithObserver(t.metrics)}
}

// kafkaHooks are the hooks for one long-lived Kafka client, passed to
// kafkaOpts: kprom metrics named ferry_kafka_* with the label client=name
// (each client needs its own name: kprom registers a client's metrics when
// it starts and removes them when it closes), and kotel tracing (producer
// spans that inject their trace context into each record's traceparent,
// and receive spans that continue the trace a consumed record carries).
// Short-lived clients (replay reads) should take no metrics hooks.
func (t *telemetry) kafkaHooks(name string) []kgo.Hook {
	var hooks []kgo.Hook
	if t.metrics != nil {
		hooks = append(hooks, kprom.NewMetrics("ferry",
			kprom.Subsystem("kafka"),
			kprom.Registerer(t.reg), kprom.Gatherer(t.reg),
			kprom.WithStaticLabel(prometheus.Labels{"client": name}),
			kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.UncompressedBytes, kprom.Batches, kprom.Records),
			kprom.Histograms(kprom.RequestDurationE2E),
		))
	}
	if t.kotel != nil {
		hooks = append(hooks, t.kotel.Hooks()...)
	}
	return hooks
}

// shutdown exports the spans still buffered. Call it after the Kafka
// clients closed, so that their last spans have ended.
func (t *telemetry) shutdown(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	if err := t.tp.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown tracing: %w", err)
	}
	return nil
}
