package ingress_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/topics"
)

// BenchmarkTelemetry measures what metrics and tracing add to a request,
// through app.Handler() with a reused fasthttp.RequestCtx: /healthz (the
// middleware alone) and a publish route with an instant producer. The
// access log line (to io.Discard) is on in every case. "tracing=sampled"
// records every span but exports none, so exporting is not measured;
// "tracing=unsampled" is the cost of trace context alone.
//
// Run: go test -run '^$' -bench Telemetry -benchmem ./ingress
func BenchmarkTelemetry(b *testing.B) {
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		b.Fatal(err)
	}
	sampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	b.Cleanup(func() {
		_ = sampled.Shutdown(context.Background())
		_ = unsampled.Shutdown(context.Background())
	})
	type variant struct {
		name    string
		metrics bool
		tp      *sdktrace.TracerProvider
	}
	variants := []variant{
		{"off", false, nil},
		{"metrics", true, nil},
		{"metrics+tracing=unsampled", true, unsampled},
		{"metrics+tracing=sampled", true, sampled},
	}
	for _, route := range []struct{ name, method, path, body string }{
		{"healthz", "GET", "/healthz", ""},
		{"publish", "POST", "/v1/anything", `{"a":1}`},
	} {
		for _, v := range variants {
			b.Run("route="+route.name+"/"+v.name, func(b *testing.B) {
				opts := []ingress.Option{ingress.WithLogger(testLogger())}
				if v.metrics {
					m, err := metrics.NewRecorder(prometheus.NewRegistry())
					if err != nil {
						b.Fatal(err)
					}
					opts = append(opts, ingress.WithMetrics(m))
				}
				if v.tp != nil {
					opts = append(opts, ingress.WithTracing(v.tp, propagation.TraceContext{}))
				}
				srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: ackProducer{}}, opts...)
				if err != nil {
					b.Fatal(err)
				}
				h := srv.App().Handler()
				var ctx fasthttp.RequestCtx
				ctx.Request.Header.SetMethod(route.method)
				ctx.Request.SetRequestURI(route.path)
				ctx.Request.Header.SetContentType("application/json")
				ctx.Request.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
				ctx.Request.SetBodyString(route.body)
				b.ReportAllocs()
				for b.Loop() {
					h(&ctx)
					if code := ctx.Response.StatusCode(); code >= 300 {
						b.Fatalf("status %d: %s", code, ctx.Response.Body())
					}
					ctx.Response.Reset()
				}
			})
		}
	}
}
