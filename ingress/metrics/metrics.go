// Package metrics records ferry's Prometheus metrics: the HTTP metrics
// ingress records per request, the policy, SSE and replay counts, and the
// Observer methods that topics and correlator call (cmd/ferry hands them
// the Recorder). It writes the registry in the format a scraper asks for.
//
// It is the one package that may import the Prometheus client (besides
// cmd); it may import topics and correlator for their result names, and
// never Fiber, fasthttp or ingress itself.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/topics"
)

// Fixed route labels for requests that no configured route serves. Route
// labels are always a route name or one of these, never a raw path: label
// values must stay few.
const (
	RouteUnmatched = "unmatched" // 404, 405, and requests rejected before routing
	RouteHealthz   = "healthz"
	RouteReadyz    = "readyz"
	RouteMetrics   = "metrics"
	RouteOpenAPI   = "openapi"
	RouteAsyncAPI  = "asyncapi"
)

// Label values of the policy, correlator and SSE metrics. Callers pass
// these constants (or, for auth reasons, their own small fixed set), never
// text built from a request.
const (
	RateLimitAllowed = "allowed"
	RateLimitLimited = "limited"
	RateLimitError   = "error" // the limiter could not decide (Redis down)

	ReplyMatched = correlator.ReplyMatched // handed to its waiting request
	ReplyLate    = correlator.ReplyLate    // its request had stopped waiting; stored for /v1/results
	ReplyUnknown = correlator.ReplyUnknown // no request has that correlation id
)

// Recorder holds ferry's Prometheus metrics, all named ferry_*, which
// ingress serves at /metrics (ingress.WithMetrics). Packages below ingress
// never import the Prometheus client: they declare small interfaces of the
// methods they call (topics.Observer, correlator.Observer) and cmd/ferry
// passes them this Recorder. The SSE and replay metrics are recorded by
// ingress/stream's writers, which see every way a stream ends.
//
// Every method is safe for concurrent use and does nothing on a nil
// *Recorder, so callers need not check whether metrics are on.
type Recorder struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec   // route, method, status_class
	httpDuration *prometheus.HistogramVec // route
	httpInFlight prometheus.Gauge

	produceDuration *prometheus.HistogramVec // topic, outcome
	produceErrors   *prometheus.CounterVec   // topic, code

	// The children of the vectors above that every request records.
	requestsBy children[[3]string, prometheus.Counter]
	durationBy children[string, prometheus.Observer]
	producedBy children[[2]string, prometheus.Observer]

	authFailures      *prometheus.CounterVec // reason
	rateLimit         *prometheus.CounterVec // route, decision
	idempotentReplays *prometheus.CounterVec // route
	idempotencyOpen   *prometheus.CounterVec // route

	correlatorPending  prometheus.Gauge
	correlatorReplies  *prometheus.CounterVec // result
	correlatorTimeouts prometheus.Counter
	repliesRejected    *prometheus.CounterVec // route

	sseSubscribers *prometheus.GaugeVec   // stream
	sseEvents      *prometheus.CounterVec // stream
	sseSlowClosed  *prometheus.CounterVec // stream

	replayActive  prometheus.Gauge
	replayRecords prometheus.Counter

	waitingClients prometheus.Gauge
	clientHangups  *prometheus.CounterVec // handler

	circuitState    *prometheus.GaugeVec   // target
	circuitRejected *prometheus.CounterVec // target
	split           *prometheus.CounterVec // route, topic
	configReloads   *prometheus.CounterVec
}

// latencyBuckets suit a gateway whose requests take from a few hundred
// microseconds (an acknowledged produce on a local broker) to the longest
// reply wait (30s).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewRecorder creates ferry's metrics and registers them on reg, which
// /metrics serves. reg may hold other collectors too (Go runtime, process,
// the Kafka client's).
func NewRecorder(reg *prometheus.Registry) (*Recorder, error) {
	m := &Recorder{reg: reg}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ferry", Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "ferry", Name: name, Help: help})
	}
	m.httpRequests = counterVec("http_requests_total", "HTTP requests answered, by route name, method and status class (2xx, 4xx, ...).", "route", "method", "status_class")
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "ferry", Name: "http_request_duration_seconds",
		Help: "Time from reading a request to having its answer, by route name.", Buckets: latencyBuckets}, []string{"route"})
	m.httpInFlight = gauge("http_requests_in_flight", "HTTP requests being served.")
	m.produceDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "ferry", Name: "produce_duration_seconds",
		Help:    "Time from producing a record to the broker's acknowledgement or the failure, by topic and outcome (ok, unavailable, timeout, rejected, canceled).",
		Buckets: latencyBuckets}, []string{"topic", "outcome"})
	m.produceErrors = counterVec("produce_errors_total", "Records that failed, by topic and code: the Kafka error name (NOT_ENOUGH_REPLICAS) or a client-side code (record_timeout, deadline, buffer_full, client_closed, retries_exhausted, canceled, other).", "topic", "code")
	m.authFailures = counterVec("auth_failures_total", "Requests refused by authentication or authorization, by reason.", "reason")
	m.rateLimit = counterVec("rate_limit_decisions_total", "Rate limit decisions, by route and decision (allowed, limited, error).", "route", "decision")
	m.idempotentReplays = counterVec("idempotent_replays_total", "Requests answered with the stored response of an earlier request with the same Idempotency-Key, by route.", "route")
	m.idempotencyOpen = counterVec("idempotency_fail_open_total", "Requests with an Idempotency-Key served without that protection because Redis failed (auth.idempotency.on_redis_error: open), by route.", "route")
	m.correlatorPending = gauge("correlator_pending", "Requests waiting for their reply.")
	m.correlatorReplies = counterVec("correlator_replies_total", "Reply records consumed, by result: matched (to a waiting request), late (stored for /v1/results), unknown (no such correlation id).", "result")
	m.repliesRejected = counterVec("replies_rejected_total", "Replies not passed to the client because they violate the route's reply.schema or are not JSON, by route.", "route")
	m.correlatorTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ferry", Name: "correlator_timeouts_total", Help: "Requests whose reply did not come in time."})
	m.sseSubscribers = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ferry", Name: "sse_subscribers", Help: "Open SSE subscriptions, by stream."}, []string{"stream"})
	m.sseEvents = counterVec("sse_events_sent_total", "Events written to SSE subscribers, by stream.", "stream")
	m.sseSlowClosed = counterVec("sse_slow_consumers_closed_total", "SSE subscriptions closed because the client did not keep up, by stream.", "stream")
	m.replayActive = gauge("replay_active", "Replays being streamed.")
	m.waitingClients = gauge("waiting_clients", "Clients watched for a hang-up while their request waits: sync requests waiting for a reply, result long polls and streams, SSE streams.")
	m.clientHangups = counterVec("client_hangups_total", "Clients that closed their connection while their request waited, by handler (reply, result, result_stream, stream, group_poll): their waiter, subscription or slot was freed at once.", "handler")
	m.replayRecords = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ferry", Name: "replay_records_streamed_total", Help: "Records streamed by replays."})
	m.circuitState = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ferry", Name: "circuit_state",
		Help: "State of each circuit breaker: 0 closed, 1 half-open, 2 open; target is kafka or route:NAME."}, []string{"target"})
	m.split = counterVec("split_total", "Records of routes with a split, by route and the topic chosen.", "route", "topic")
	m.configReloads = counterVec("config_reloads_total", "Config reloads on SIGHUP, by result: applied, or rejected (the old config keeps serving).", "result")
	m.circuitRejected = counterVec("circuit_rejections_total", "Requests answered at once because their target's circuit breaker was open, by target.", "target")

	// Known label values start at zero, so that rate() sees the first event.
	for _, r := range []string{ReplyMatched, ReplyLate, ReplyUnknown} {
		m.correlatorReplies.WithLabelValues(r)
	}

	var errs []error
	for _, c := range []prometheus.Collector{
		m.httpRequests, m.httpDuration, m.httpInFlight, m.produceDuration, m.produceErrors,
		m.authFailures, m.rateLimit, m.idempotentReplays, m.idempotencyOpen,
		m.correlatorPending, m.correlatorReplies, m.correlatorTimeouts, m.repliesRejected,
		m.sseSubscribers, m.sseEvents, m.sseSlowClosed, m.replayActive, m.replayRecords,
		m.circuitState, m.circuitRejected, m.split, m.configReloads, m.waitingClients, m.clientHangups,
	} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return m, nil
}

// InFlight adds delta to the requests in flight.
func (m *Recorder) InFlight(delta float64) {
	if m != nil {
		m.httpInFlight.Add(delta)
	}
}

// RequestRejected counts a request that fasthttp refused before any
// middleware ran (body too large, malformed request): it has no route and
// no meaningful duration.
func (m *Recorder) RequestRejected(method string, status int) {
	if m != nil {
		m.httpRequests.WithLabelValues(RouteUnmatched, MethodLabel(method), statusClass(status)).Inc()
	}
}

// RequestDone records one answered request. route is a route name or one
// of the Route constants; traceID, when not empty, is attached to the
// latency sample as an exemplar (shown to OpenMetrics scrapers).
func (m *Recorder) RequestDone(route, method string, status int, d time.Duration, traceID string) {
	if m == nil {
		return
	}
	if route == "" {
		route = RouteUnmatched
	}
	labels := [3]string{route, MethodLabel(method), statusClass(status)}
	m.requestsBy.get(labels, func() prometheus.Counter { return m.httpRequests.WithLabelValues(labels[:]...) }).Inc()
	h := m.durationBy.get(route, func() prometheus.Observer { return m.httpDuration.WithLabelValues(route) })
	if traceID == "" {
		h.Observe(d.Seconds())
		return
	}
	h.(prometheus.ExemplarObserver).ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": traceID})
}

// MethodLabel returns method as one of a fixed set of constants. It never
// returns its argument: Fiber's strings point into buffers that are reused
// after the request, and a label value is kept for the life of the process.
func MethodLabel(method string) string {
	switch method {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	}
	return "other"
}

var statusClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) string {
	if c := status / 100; c >= 1 && c <= 5 {
		return statusClasses[c]
	}
	return statusClasses[0]
}

// ObserveProduce implements topics.Observer: produce latency by topic and
// outcome, and failures by Kafka error code.
func (m *Recorder) ObserveProduce(r topics.ProduceResult) {
	if m == nil {
		return
	}
	labels := [2]string{r.Topic, r.Outcome}
	m.producedBy.get(labels, func() prometheus.Observer { return m.produceDuration.WithLabelValues(labels[:]...) }).Observe(r.Duration.Seconds())
	if r.Outcome != topics.OutcomeOK {
		m.produceErrors.WithLabelValues(r.Topic, r.Code).Inc()
	}
}

// AuthFailure counts a request refused by authentication or authorization.
// reason must come from a small fixed set of constants (for example
// "missing", "malformed", "invalid", "expired", "unknown_key",
// "insufficient_scope"): never a token, a key id or error text.
func (m *Recorder) AuthFailure(reason string) {
	if m != nil {
		m.authFailures.WithLabelValues(reason).Inc()
	}
}

// RateLimit counts one rate limit decision on a route: RateLimitAllowed,
// RateLimitLimited or RateLimitError.
func (m *Recorder) RateLimit(route, decision string) {
	if m != nil {
		m.rateLimit.WithLabelValues(route, decision).Inc()
	}
}

// IdempotentReplay counts a request answered with the stored response of
// an earlier request with the same Idempotency-Key.
func (m *Recorder) IdempotentReplay(route string) {
	if m != nil {
		m.idempotentReplays.WithLabelValues(route).Inc()
	}
}

// IdempotencyFailOpen counts a request with an Idempotency-Key served
// without that protection because Redis failed.
func (m *Recorder) IdempotencyFailOpen(route string) {
	if m != nil {
		m.idempotencyOpen.WithLabelValues(route).Inc()
	}
}

// CorrelatorPending implements correlator.Observer: it adds delta (+1 on
// register, -1 when a waiter is done) to the requests waiting for their
// reply.
func (m *Recorder) CorrelatorPending(delta int) {
	if m != nil {
		m.correlatorPending.Add(float64(delta))
	}
}

// CorrelatorReply implements correlator.Observer: it counts one consumed
// reply record as ReplyMatched, ReplyLate or ReplyUnknown.
func (m *Recorder) CorrelatorReply(result string) {
	if m != nil {
		m.correlatorReplies.WithLabelValues(result).Inc()
	}
}

// ReplyRejected counts a reply that was not passed to the client because
// it violates the route's reply schema (checkReply).
func (m *Recorder) ReplyRejected(route string) {
	if m != nil {
		m.repliesRejected.WithLabelValues(route).Inc()
	}
}

// CorrelatorTimeout counts a synchronous request whose reply did not come
// within its wait (route timeout or Prefer: wait), whatever on_timeout then
// does. The correlator cannot see this: the wait is the handler's.
func (m *Recorder) CorrelatorTimeout() {
	if m != nil {
		m.correlatorTimeouts.Inc()
	}
}

// WaitingClients adds delta (+1 when a waiting request's connection is
// watched for a hang-up, -1 when the watch stops).
func (m *Recorder) WaitingClients(delta int) {
	if m != nil {
		m.waitingClients.Add(float64(delta))
	}
}

// ClientHangup counts a client that closed its connection while its
// request waited in handler (a fixed label).
func (m *Recorder) ClientHangup(handler string) {
	if m != nil {
		m.clientHangups.WithLabelValues(handler).Inc()
	}
}

// SSESubscribers adds delta (+1 on subscribe, -1 on close) to the open
// subscriptions of a configured stream.
func (m *Recorder) SSESubscribers(stream string, delta int) {
	if m != nil {
		m.sseSubscribers.WithLabelValues(stream).Add(float64(delta))
	}
}

// SSEEventsSent counts n events written to subscribers of stream.
func (m *Recorder) SSEEventsSent(stream string, n int) {
	if m != nil {
		m.sseEvents.WithLabelValues(stream).Add(float64(n))
	}
}

// SSESlowConsumerClosed counts a subscription of stream closed because its
// client did not keep up.
func (m *Recorder) SSESlowConsumerClosed(stream string) {
	if m != nil {
		m.sseSlowClosed.WithLabelValues(stream).Inc()
	}
}

// ReplayActive adds delta (+1 at start, -1 at the end) to the replays being
// streamed.
func (m *Recorder) ReplayActive(delta int) {
	if m != nil {
		m.replayActive.Add(float64(delta))
	}
}

// ReplayRecordsStreamed counts n records streamed by a replay.
func (m *Recorder) ReplayRecordsStreamed(n int) {
	if m != nil {
		m.replayRecords.Add(float64(n))
	}
}

// exposition are the formats /metrics offers, by preference: protobuf
// (which carries native histograms), OpenMetrics (exemplars) and the
// Prometheus text format, the default.
var exposition = expfmt.DefaultOpenMetricsAcceptedFormats()

// Write writes every metric of the registry to w in the format the
// Accept header accept asks for (see exposition) and returns that format's
// content type. What could not be gathered is logged to log, and what
// could is written (as promhttp's ContinueOnError does).
func (m *Recorder) Write(ctx context.Context, w io.Writer, accept string, log *slog.Logger) (contentType string, err error) {
	mfs, err := m.reg.Gather()
	if err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "gathering metrics failed", slog.Any("err", err))
		if len(mfs) == 0 {
			return "", err
		}
	}
	format := expfmt.NegotiateAccept(http.Header{"Accept": {accept}}, exposition...)
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return string(format), err
		}
	}
	if cl, ok := enc.(expfmt.Closer); ok {
		return string(format), cl.Close()
	}
	return string(format), nil
}

// CircuitState sets the gauge of a circuit breaker's state (0 closed,
// 1 half-open, 2 open). target comes from the config (kafka, route:NAME).
func (m *Recorder) CircuitState(target string, state int) {
	if m != nil {
		m.circuitState.WithLabelValues(target).Set(float64(state))
	}
}

// CircuitRejected counts a request answered at once by an open breaker.
func (m *Recorder) CircuitRejected(target string) {
	if m != nil {
		m.circuitRejected.WithLabelValues(target).Inc()
	}
}

// Split counts a record of a split route sent to topic. route and topic
// come from the config.
func (m *Recorder) Split(route, topic string) {
	if m != nil {
		m.split.WithLabelValues(route, topic).Inc()
	}
}

// ConfigReload counts a config reload: "applied" or "rejected".
func (m *Recorder) ConfigReload(result string) {
	if m != nil {
		m.configReloads.WithLabelValues(result).Inc()
	}
}
