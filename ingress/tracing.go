package ingress

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/topics"
)

// tracing is the Server's OpenTelemetry tracing; the zero value is off.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	// paths maps route names to their path templates, for http.route.
	paths map[string]string
}

// instrumentationName names ferry's tracer.
const instrumentationName = "github.com/ferry-gw/ferry/ingress"

// WithTracing starts a server span per request with tp, continuing the
// trace the client sent in the headers prop understands (W3C traceparent
// and tracestate). The span's context is the request's UserContext, so
// produced records, built from it, carry a child of it; the record's
// traceparent is the server span's, or the producer span's when the Kafka
// client has tracing hooks (kotel).
//
// The default is no spans: ferry still continues the client's traceparent,
// or starts a new one, and writes it into each record.
func WithTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) Option {
	return func(s *Server) {
		s.tracing.tracer = tp.Tracer(instrumentationName, trace.WithSchemaURL(semconv.SchemaURL))
		s.tracing.prop = prop
	}
}

// startSpan starts the request's server span, makes its context the
// request's UserContext and its trace context the request's traceparent.
func (s *Server) startSpan(c *fiber.Ctx, ri *reqInfo) trace.Span {
	h := &c.Request().Header
	ctx := s.tracing.prop.Extract(context.Background(), headerCarrier{h})
	method := metrics.MethodLabel(c.Method())
	ctx, span := s.tracing.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() {
		// Copies only: fasthttp reuses these buffers after the request,
		// and the span outlives it until exported.
		span.SetAttributes(
			semconv.HTTPRequestMethodKey.String(method),
			semconv.URLPath(strings.Clone(c.Path())),
			semconv.URLScheme(strings.Clone(c.Protocol())),
			semconv.ClientAddress(s.clientAddr(c)),
			semconv.UserAgentOriginal(string(h.UserAgent())),
		)
	}
	c.SetUserContext(ctx)
	ri.traceParent = traceParent(span.SpanContext())
	return span
}

// endSpan names the span after its route, sets the response status and
// ends it. Only 5xx answers mark a server span as failed (OpenTelemetry's
// HTTP conventions): a 4xx is the client's error, not ferry's.
func (s *Server) endSpan(span trace.Span, ri *reqInfo, method string, status int) {
	if span.IsRecording() {
		if p, ok := s.tracing.paths[ri.route]; ok {
			span.SetName(method + " " + p)
			span.SetAttributes(semconv.HTTPRouteKey.String(p))
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
			if ri.cause != nil {
				span.RecordError(ri.cause)
			}
		}
	}
	span.End()
}

// tracePaths maps each route name to the path template reported as
// http.route.
func tracePaths(table *topics.Table) map[string]string {
	paths := map[string]string{metrics.RouteHealthz: "/healthz", metrics.RouteReadyz: "/readyz", metrics.RouteMetrics: "/metrics"}
	for _, r := range table.Routes() {
		paths[r.Name] = r.Path
	}
	return paths
}

// linkReply links the request's server span, when it records, to the
// trace of the reply's record (kotel's producer span in the responder, or
// whatever traceparent the responder set): the reply's trace is usually
// another one, and the link lets a trace viewer jump from the request to
// the work that answered it.
func (s *Server) linkReply(ctx context.Context, rep correlator.Reply) {
	span := trace.SpanFromContext(ctx)
	if rep.TraceParent == "" || !span.IsRecording() {
		return
	}
	rc := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{topics.HeaderTraceParent: rep.TraceParent})
	if sc := trace.SpanContextFromContext(rc); sc.IsValid() {
		span.AddLink(trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("ferry.link", "reply")}})
	}
}

// traceParent formats a span context as a W3C traceparent.
func traceParent(sc trace.SpanContext) string {
	var b [55]byte
	b[0], b[1], b[2] = '0', '0', '-'
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}

// headerCarrier reads trace context from request headers. Get copies: the
// extracted trace state outlives the request's buffers.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (hc headerCarrier) Get(key string) string { return string(hc.h.Peek(key)) }
func (hc headerCarrier) Set(string, string)    {}
func (hc headerCarrier) Keys() []string {
	var keys []string
	hc.h.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}
