package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// gauge returns the value of an unlabelled metric, or of the series whose
// only label has the value label.
func gauge(tb testing.TB, reg *prometheus.Registry, name, label string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// hangUp sends method url with headers kv on its own connection and
// returns a func that makes the client leave, once the request waits.
func hangUp(t *testing.T, method, url, body string, kv ...string) (leave func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, method, url, nil)
		if body != "" {
			req, _ = http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() { cancel(); <-done }
}

// TestClientHangupFreesWaits: a client that closes its connection while
// its request waits frees what the wait holds within about a second
// (ingress/hangup), not when the wait ends by itself (20 s for the sync
// request, 30 s for the polls here): its waiter, its result watch. The
// request's reply is still kept for GET /v1/results (on_timeout: accept).
func TestClientHangupFreesWaits(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	in := e.start(t, instanceOpts{metrics: reg})
	hangups := func(handler string) float64 { return gauge(t, reg, "ferry_client_hangups_total", handler) }
	waiting := func(want float64) func() error {
		return func() error {
			if n := gauge(t, reg, "ferry_waiting_clients", ""); n != want {
				return fmt.Errorf("ferry_waiting_clients = %v, want %v", n, want)
			}
			return nil
		}
	}

	t.Run("sync request", func(t *testing.T) {
		h := e.handResponder(t, quotesTopic)
		leave := hangUp(t, "POST", in.url+"/v1/quotes", `{"n":1}`)
		req := h.next(t)
		topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
			if n := in.corr.Pending(); n != 1 {
				return fmt.Errorf("Pending() = %d, want 1", n)
			}
			return nil
		})
		leave()
		topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
			if n := in.corr.Pending(); n != 0 {
				return fmt.Errorf("Pending() = %d after the client left, want 0", n)
			}
			return nil
		})
		if n := hangups("reply"); n != 1 {
			t.Errorf("hang-ups counted for reply = %v, want 1", n)
		}
		// The responder answers after the client left: the reply is kept.
		var id string
		for _, hd := range req.Headers {
			if hd.Key == topics.HeaderCorrelationID {
				id = string(hd.Value)
			}
		}
		h.reply(t, req, `{"late":true}`)
		topicstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
			if got := do(t, "GET", in.url+"/v1/results/"+id, ""); got.status != 200 || got.body != `{"late":true}` {
				return fmt.Errorf("GET /v1/results/%s = %s, want 200 with the reply", id, got)
			}
			return nil
		})
	})

	// An accepted request nobody answers, for the polls.
	r := do(t, "POST", in.url+"/v1/slow", `{"n":2}`, "Prefer", "respond-async")
	loc := r.header.Get("Location")
	if r.status != 202 || loc == "" {
		t.Fatalf("POST /v1/slow = %s, want 202 with Location", r)
	}
	for _, tc := range []struct {
		name, handler string
		kv            []string
	}{
		{"long poll", "result", []string{"Prefer", "wait=30"}},
		{"result stream", "result_stream", []string{"Accept", "text/event-stream"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leave := hangUp(t, "GET", in.url+loc, "", tc.kv...)
			topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, waiting(1))
			leave()
			topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, waiting(0))
			if n := hangups(tc.handler); n != 1 {
				t.Errorf("hang-ups counted for %s = %v, want 1", tc.handler, n)
			}
		})
	}
}
