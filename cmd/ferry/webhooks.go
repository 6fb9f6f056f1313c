package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-gw/ferry/consumers/webhook"
	"github.com/ferry-gw/ferry/ingress"
)

// newWebhooks builds the configured webhooks, each with a Kafka client of
// its own (its consumer group, and its dead-letter writes), metrics and
// tracing hooks named webhook_NAME, and the /readyz checks that show their
// breakers. The caller runs them and shuts them down; closers shut down
// those built when a later one fails.
func newWebhooks(cfg *loaded, seeds []string, log *slog.Logger, klog kafkaLog, tel *telemetry) ([]*webhook.Webhook, []ingress.Check, error) {
	var (
		hooks  []*webhook.Webhook
		checks []ingress.Check
	)
	opts := []webhook.Option{webhook.WithLogger(log)}
	if tel.webhooks != nil {
		opts = append(opts, webhook.WithObserver(tel.webhooks))
	}
	for _, wc := range cfg.Webhooks {
		kopts, err := kafkaOpts(cfg.Kafka, seeds, klog, tel.kafkaHooks("webhook_"+wc.Name)...)
		if err == nil {
			var w *webhook.Webhook
			if w, err = webhook.New(wc, kopts, opts...); err == nil {
				hooks = append(hooks, w)
				// An endpoint that is down does not make this instance
				// unready: /readyz shows the breaker as a detail.
				checks = append(checks, ingress.Check{Name: "webhook." + wc.Name, Check: w.Check, Advisory: true})
				if err = tel.watchWebhook(w); err == nil {
					continue
				}
			}
		}
		shutdownWebhooks(context.Background(), hooks)
		return nil, nil, fmt.Errorf("webhook %s: %w", wc.Name, err)
	}
	return hooks, checks, nil
}

// shutdownWebhooks shuts the webhooks down at once, each within ctx.
func shutdownWebhooks(ctx context.Context, hooks []*webhook.Webhook) error {
	errs := make([]error, len(hooks))
	var wg sync.WaitGroup
	for i, w := range hooks {
		wg.Go(func() { errs[i] = w.Shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// webhookMetrics are the ferry_webhook_* metrics. It is the
// webhook.Observer of every webhook; the lag and breaker gauges read each
// webhook when scraped.
type webhookMetrics struct {
	reg      *prometheus.Registry
	outcomes *prometheus.CounterVec   // webhook, outcome
	failures *prometheus.CounterVec   // webhook, reason
	retries  *prometheus.CounterVec   // webhook
	duration *prometheus.HistogramVec // webhook
}

// newWebhookMetrics registers the webhook metrics on reg, every label
// value of the configured webhooks at zero.
func newWebhookMetrics(reg *prometheus.Registry, hooks []webhook.Config) (*webhookMetrics, error) {
	m := &webhookMetrics{
		reg: reg,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ferry", Name: "webhook_deliveries_total",
			Help: "Records done with, by webhook and outcome: delivered (answered 2xx), dead_lettered, filtered (matched no filter: committed without a request)."},
			[]string{"webhook", "outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ferry", Name: "webhook_failures_total",
			Help: "Failed attempts, by webhook and reason: timeout, network, http_3xx, http_4xx, http_410, http_429 (also 408), http_5xx."},
			[]string{"webhook", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ferry", Name: "webhook_retries_total",
			Help: "Attempts after a record's first, by webhook."}, []string{"webhook"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "ferry", Name: "webhook_attempt_duration_seconds",
			Help: "Time from sending a webhook request to its status (or failure), by webhook.", Buckets: prometheus.DefBuckets},
			[]string{"webhook"}),
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.failures, m.retries, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	for _, wc := range hooks {
		for _, o := range webhook.Outcomes {
			m.outcomes.WithLabelValues(wc.Name, o)
		}
		for _, r := range webhook.Failures {
			m.failures.WithLabelValues(wc.Name, r)
		}
		m.retries.WithLabelValues(wc.Name)
	}
	return m, nil
}

// ObserveAttempt counts an attempt.
func (m *webhookMetrics) ObserveAttempt(a webhook.Attempt) {
	m.duration.WithLabelValues(a.Webhook).Observe(a.Duration.Seconds())
	if a.N > 1 {
		m.retries.WithLabelValues(a.Webhook).Inc()
	}
	if a.Failure != "" {
		m.failures.WithLabelValues(a.Webhook, a.Failure).Inc()
	}
}

// ObserveOutcome counts a record done with.
func (m *webhookMetrics) ObserveOutcome(name, outcome string) {
	m.outcomes.WithLabelValues(name, outcome).Inc()
}

// watch registers the lag and breaker gauges of w.
func (m *webhookMetrics) watch(w *webhook.Webhook) error {
	labels := prometheus.Labels{"webhook": w.Name()}
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ferry", Name: "webhook_lag_records", ConstLabels: labels,
		Help: "Records of the webhook's topic its consumer group has not committed (end offset less committed offset, read every 5s): the same on every instance."},
		func() float64 { return float64(w.Lag()) })
	state := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ferry", Name: "webhook_breaker_state", ConstLabels: labels,
		Help: "The webhook's circuit breaker on this instance: 0 closed, 1 half-open (probing), 2 open (endpoint down, fetching paused)."},
		func() float64 { return float64(w.Breaker()) })
	for _, c := range []prometheus.Collector{lag, state} {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	return nil
}

// addWebhooks creates the webhook metrics, when metrics are on.
func (t *telemetry) addWebhooks(hooks []webhook.Config) error {
	if t.metrics == nil || len(hooks) == 0 {
		return nil
	}
	m, err := newWebhookMetrics(t.reg, hooks)
	t.webhooks = m
	return err
}

// watchWebhook registers w's lag and breaker gauges, when metrics are on.
func (t *telemetry) watchWebhook(w *webhook.Webhook) error {
	if t.webhooks == nil {
		return nil
	}
	return t.webhooks.watch(w)
}
