package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers of a dead-letter record, after the original record's own: why
// and where from. ferry-* headers are reserved, so no client sets them.
const (
	HeaderDLQWebhook   = "ferry-webhook"           // the webhook's name
	HeaderDLQReason    = "ferry-webhook-reason"    // ReasonExhausted or ReasonGone
	HeaderDLQAttempts  = "ferry-webhook-attempts"  // attempts made
	HeaderDLQStatus    = "ferry-webhook-status"    // the last HTTP status; absent when nothing answered
	HeaderDLQError     = "ferry-webhook-error"     // the last failure in a few words
	HeaderDLQTopic     = "ferry-webhook-topic"     // where the record was read
	HeaderDLQPartition = "ferry-webhook-partition" //
	HeaderDLQOffset    = "ferry-webhook-offset"    //
)

// Why a record was dead-lettered.
const (
	ReasonExhausted = "exhausted" // retry.max_attempts failed
	ReasonGone      = "gone"      // the endpoint answered 410 Gone
)

// maxDetail bounds the failure text kept from a response body.
const maxDetail = 200

// deliver makes attempts until the endpoint answers 2xx, or the record is
// written to the dead-letter topic, or the webhook stops or gives the
// partition up. It reports whether the record may be committed past.
// Attempts refused by the open breaker are not made: they wait for the
// breaker instead; and a failed probe of the half-open breaker does not
// count against the record's retry.max_attempts either.
func (w *Webhook) deliver(it *item) bool {
	rc := w.cfg.Retry
	n := 0
	for {
		if w.abandoned(it) {
			return false
		}
		probe := w.cb.State() == gobreaker.StateHalfOpen
		done, err := w.cb.Allow()
		if err != nil {
			if !w.waitBreaker(it) {
				return false
			}
			continue
		}
		start := time.Now()
		res := w.attempt(it)
		if w.abort.Err() != nil {
			done(context.Canceled) // cut short by Shutdown: no verdict on the endpoint
			return false
		}
		done(res.breakerErr())
		w.obs.ObserveAttempt(Attempt{Webhook: w.cfg.Name, N: n + 1, Duration: time.Since(start), Failure: res.reason()})
		if probe && res.endpointDown() {
			// A failed probe says the endpoint is still down, nothing
			// about the record: it costs the record no attempt, and the
			// breaker is open again.
			w.noteFailure(res)
			continue
		}
		n++
		if res.ok() {
			w.obs.ObserveOutcome(w.cfg.Name, OutcomeDelivered)
			if w.log.Enabled(context.Background(), slog.LevelDebug) {
				w.log.LogAttrs(context.Background(), slog.LevelDebug, "delivered", w.where(it, slog.Int("attempts", n), slog.Int("status", res.status))...)
			}
			return true
		}
		w.noteFailure(res)
		w.log.LogAttrs(context.Background(), slog.LevelDebug, "attempt failed", w.where(it, slog.Int("attempt", n), slog.String("err", res.detail))...)
		gone := res.status == http.StatusGone
		if w.cfg.DeadLetterTopic != "" && (n >= rc.MaxAttempts || gone) {
			reason := ReasonExhausted
			if gone {
				reason = ReasonGone
			}
			return w.deadLetter(it, n, res, reason)
		}
		if n == rc.MaxAttempts {
			w.log.LogAttrs(context.Background(), slog.LevelError, "delivery attempts exhausted; without a dead_letter_topic the record is retried every retry.max_backoff until it is delivered, and nothing after it is committed",
				w.where(it, slog.Int("attempts", n), slog.String("err", res.detail))...)
		}
		if !w.sleep(it, backoff(rc, n, res.retryAfter, w.rnd), nil) {
			return false
		}
	}
}

// noteFailure keeps the last failure for Check.
func (w *Webhook) noteFailure(res result) {
	w.bmu.Lock()
	w.lastFail = res.detail
	w.bmu.Unlock()
}

// attempt POSTs the record once.
func (w *Webhook) attempt(it *item) result {
	ctx, cancel := context.WithTimeout(w.abort, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(it.rec.Value))
	if err != nil {
		return result{err: err, detail: err.Error()}
	}
	req.Header = requestHeader(it.rec, it.id, time.Now(), w.secrets)
	resp, err := w.hc.Do(req)
	if err != nil {
		// The *url.Error names the URL, whose query may hold a token:
		// keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return result{err: err, detail: err.Error()}
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode}
	if !res.ok() {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDetail))
		res.detail = describe(resp.StatusCode, body, nil)
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	// Read what is left (a little) so that the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return res
}

// deadLetter writes the record to the dead-letter topic, retrying until the
// broker acknowledges it or the webhook stops or gives the partition up.
func (w *Webhook) deadLetter(it *item, attempts int, last result, reason string) bool {
	out := deadLetterRecord(w.cfg, it.rec, attempts, last, reason)
	for n := 1; ; n++ {
		if w.abandoned(it) {
			return false
		}
		err := w.cl.ProduceSync(w.abort, out).FirstErr()
		if err == nil {
			w.obs.ObserveOutcome(w.cfg.Name, OutcomeDeadLettered)
			w.log.LogAttrs(context.Background(), slog.LevelError, "record written to the dead-letter topic",
				w.where(it, slog.String("dead_letter_topic", w.cfg.DeadLetterTopic), slog.String("reason", reason),
					slog.Int("attempts", attempts), slog.String("err", last.detail))...)
			return true
		}
		if w.abort.Err() != nil {
			return false
		}
		w.log.LogAttrs(context.Background(), slog.LevelWarn, "writing to the dead-letter topic failed; retrying",
			w.where(it, slog.String("dead_letter_topic", w.cfg.DeadLetterTopic), slog.Any("err", err))...)
		if !w.sleep(it, backoff(w.cfg.Retry, n, 0, w.rnd), nil) {
			return false
		}
	}
}

// deadLetterRecord is rec for the dead-letter topic: the same key, value
// and headers (less those of an earlier dead-lettering), and why.
func deadLetterRecord(cfg Config, rec *kgo.Record, attempts int, last result, reason string) *kgo.Record {
	out := &kgo.Record{Topic: cfg.DeadLetterTopic, Key: rec.Key, Value: rec.Value}
	for _, h := range rec.Headers {
		if h.Key != HeaderDLQWebhook && !strings.HasPrefix(h.Key, HeaderDLQWebhook+"-") {
			out.Headers = append(out.Headers, h)
		}
	}
	add := func(k, v string) { out.Headers = append(out.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderDLQWebhook, cfg.Name)
	add(HeaderDLQReason, reason)
	add(HeaderDLQAttempts, strconv.Itoa(attempts))
	if last.status != 0 {
		add(HeaderDLQStatus, strconv.Itoa(last.status))
	}
	add(HeaderDLQError, last.detail)
	add(HeaderDLQTopic, rec.Topic)
	add(HeaderDLQPartition, strconv.Itoa(int(rec.Partition)))
	add(HeaderDLQOffset, strconv.FormatInt(rec.Offset, 10))
	return out
}

// abandoned reports whether the webhook stopped or gave its partition up.
func (w *Webhook) abandoned(it *item) bool {
	select {
	case <-w.stop.Done():
		return true
	case <-it.part.gone:
		return true
	default:
		return false
	}
}

// sleep waits d, or until wake is closed (nil: never); false when the
// webhook stopped or gave its partition up meanwhile.
func (w *Webhook) sleep(it *item, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-w.stop.Done():
		return false
	case <-it.part.gone:
		return false
	}
}

// waitBreaker waits while the breaker refuses attempts: until its state
// changes, or until it is due to half-open (an open breaker turns
// half-open only when asked). False when the webhook stopped or gave the
// partition up meanwhile.
func (w *Webhook) waitBreaker(it *item) bool {
	w.bmu.Lock()
	changed := w.changed
	d := time.Until(w.openedAt.Add(w.cfg.CircuitBreaker.OpenFor))
	w.bmu.Unlock()
	if d <= 0 {
		d = w.cfg.CircuitBreaker.OpenFor // half-open: wait for the probe's verdict
	}
	return w.sleep(it, d, changed)
}

// where are the log attributes naming the record, then extra.
func (w *Webhook) where(it *item, extra ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{
		slog.String("topic", it.rec.Topic), slog.Int("partition", int(it.rec.Partition)),
		slog.Int64("offset", it.rec.Offset), slog.String("webhook_id", it.id),
	}, extra...)
}

// redact is a URL for logs: scheme, host and path, without the query
// (which may hold a token).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
