package ingress

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferry-gw/ferry/ingress/accesslog"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
)

// reqInfo is what one request carries between middleware and handlers: its
// id and trace context, and what the access log reports about it.
type reqInfo struct {
	id          string
	traceParent string
	route       string
	principal   *identity.Principal
	scheme      string // the credential scheme the client used, once authenticated
	client      string // client address, once clientAddr computed it
	topic       string
	partition   int32
	offset      int64
	produced    bool
	cause       error
	// settle, when not nil, tells the route's responder breaker what the
	// wait for the reply showed (settleReply).
	settle func(policy.Outcome)
	// cacheKey names the request in its route's reply cache, when it has
	// one and the request was not answered from it.
	cacheKey string
	// flight is the reply cache flight this request leads: identical
	// requests wait for its reply (replycache.go).
	flight *policy.Flight
	// late, when not nil, learns what became of a record the broker had
	// not acknowledged when the request was answered kafka-timeout: the
	// 202 it would have had once the record is stored, or false when it
	// was not (idempotent settles the Idempotency-Key with it).
	late func(context.Context) (policy.StoredResponse, bool)
	// clientCert is the client certificate checkClientCertificate
	// verified (verify_if_given), or nil.
	clientCert *x509.Certificate
}

// settleReply tells the responder breaker the outcome of the request's
// wait, once: later calls do nothing.
func (ri *reqInfo) settleReply(o policy.Outcome) {
	if ri != nil && ri.settle != nil {
		ri.settle(o)
		ri.settle = nil
	}
}

const infoKey = "ferry.info"

var infoPool = sync.Pool{New: func() any { return new(reqInfo) }}

// info returns the request's reqInfo, or nil before the first middleware.
func info(c *fiber.Ctx) *reqInfo {
	ri, _ := c.Locals(infoKey).(*reqInfo)
	return ri
}

// newRequestIDs returns a new request id and a new traceparent, both
// random, from one random read and in one string.
func newRequestIDs() (id, traceParent string) {
	var rnd [16 + 24]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails (Go 1.24+)
	var b [32 + topics.TraceParentLen]byte
	hex.Encode(b[:32], rnd[:16])
	topics.AppendTraceParent(b[32:32], (*[24]byte)(rnd[16:]))
	both := string(b[:])
	return both[:32], both[32:]
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// validRequestID accepts client ids of up to 128 visible ASCII characters,
// so that a client cannot inject anything into logs or headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// requestContext is the first middleware: it accepts or generates the
// request id and W3C traceparent, echoes X-Request-ID, and writes the access
// log line after the chain (rendering any error itself, so that the line has
// the final status).
func (s *Server) requestContext(c *fiber.Ctx) error {
	start := time.Now()
	ri := infoPool.Get().(*reqInfo)
	*ri = reqInfo{}
	defer infoPool.Put(ri)
	c.Locals(infoKey, ri)
	defer c.Locals(infoKey, nil)

	id := c.Get(fiber.HeaderXRequestID)
	var span trace.Span
	switch tp := c.Get(topics.HeaderTraceParent); {
	case s.tracing.tracer == nil && !validRequestID(id) && !topics.ValidTraceParent(tp):
		ri.id, ri.traceParent = newRequestIDs() // the usual request: one random read, one string
	default:
		if validRequestID(id) {
			ri.id = string([]byte(id)) // copy: fasthttp reuses the header buffer
		} else {
			ri.id = newRequestID()
		}
		if s.tracing.tracer != nil {
			span = s.startSpan(c, ri)
		} else if topics.ValidTraceParent(tp) {
			ri.traceParent = string([]byte(tp))
		} else {
			ri.traceParent = topics.NewTraceParent()
		}
	}
	s.metrics.InFlight(1)

	err := c.Next()
	// After the chain, not before: a request waiting for its reply then
	// holds no response header yet (an error answer sets it again, as
	// it resets the response; a stream's headers go out after the chain).
	c.Set(fiber.HeaderXRequestID, ri.id)
	if err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	d := time.Since(start)
	status := c.Response().StatusCode()
	method := metrics.MethodLabel(c.Method())
	exemplar := ""
	if span != nil {
		if span.SpanContext().IsSampled() {
			exemplar = traceID(ri.traceParent)
		}
		s.endSpan(span, ri, method, status)
	}
	s.metrics.InFlight(-1)
	s.metrics.RequestDone(ri.route, method, status, d, exemplar)
	if *s.cfg.AccessLog && s.access.Enabled(c.UserContext(), s.accessLevel) {
		s.logAccess(c, ri, d)
	}
	return nil
}

func (s *Server) logAccess(c *fiber.Ctx, ri *reqInfo, d time.Duration) {
	if s.accessOut != nil {
		l := accesslog.Begin(time.Now(), s.accessLevel, "request", "log", "access")
		s.accessFields(c, ri, d, accessSink{l.Str, l.Int, l.Float})
		_ = l.End(s.accessOut)
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	s.accessFields(c, ri, d, accessSink{
		func(k, v string) { attrs = append(attrs, slog.String(k, v)) },
		func(k string, v int64) { attrs = append(attrs, slog.Int64(k, v)) },
		func(k string, v float64) { attrs = append(attrs, slog.Float64(k, v)) },
	})
	s.access.LogAttrs(c.UserContext(), s.accessLevel, "request", attrs...)
}

// accessSink takes an access line's attributes: into an *accesslog.Line
// (JSON logs, WithAccessLines) or slog.Attrs. Funcs, not an interface,
// so that neither the sink nor what it appends to escapes.
type accessSink struct {
	str func(key, value string)
	num func(key string, v int64)
	flt func(key string, v float64)
}

// accessFields hands out the attributes of the request's access line,
// in their order.
func (s *Server) accessFields(c *fiber.Ctx, ri *reqInfo, d time.Duration, out accessSink) {
	out.str("request_id", ri.id)
	out.str("method", c.Method())
	out.str("path", c.Path())
	out.str("route", ri.route)
	out.num("status", int64(c.Response().StatusCode()))
	out.flt("duration_ms", float64(d.Microseconds())/1000)
	out.str("trace_id", traceID(ri.traceParent))
	out.str("client_address", s.clientAddr(c))
	if ri.principal != nil && ri.principal.ID != "" {
		out.str("principal", ri.principal.ID)
	}
	if ri.produced {
		out.str("topic", ri.topic)
		out.num("partition", int64(ri.partition))
		out.num("offset", ri.offset)
	}
	if ri.cause != nil {
		out.str("err", ri.cause.Error())
	}
	if n := s.cfg.AccessLogBodyBytes; n > 0 {
		body := c.Request().Body() // as received: never decompressed here
		out.num("body_bytes", int64(len(body)))
		out.str("body", truncate(body, n))
	}
}

// truncate returns b, cut to at most n bytes at a UTF-8 boundary and marked
// with "…" when cut, as a new string.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	cut := n
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…"
}

// traceID extracts the trace id of a valid traceparent.
func traceID(tp string) string {
	if len(tp) < 35 {
		return ""
	}
	return tp[3:35]
}
