package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPendingApp checks the pending floor: a POST waits its hold and is
// answered 202, and GET /pending counts it while it waits.
func TestPendingApp(t *testing.T) {
	t.Parallel()
	const hold = 300 * time.Millisecond
	app := pendingApp(hold)
	var wg sync.WaitGroup
	defer wg.Wait()
	started := time.Now()
	wg.Go(func() {
		resp, err := app.Test(httptest.NewRequest("POST", "/v1/slow", strings.NewReader(`{}`)), -1)
		if err != nil {
			t.Errorf("POST /v1/slow: %v", err)
			return
		}
		if resp.StatusCode != 202 || time.Since(started) < hold {
			t.Errorf("POST /v1/slow = %d after %s, want 202 after %s", resp.StatusCode, time.Since(started), hold)
		}
	})
	pending := func() string {
		resp, err := app.Test(httptest.NewRequest("GET", "/pending", nil), -1)
		if err != nil {
			t.Fatalf("GET /pending: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	checkFor(t, hold/2, 5*time.Millisecond, func() bool { return pending() == "1" })
	wg.Wait()
	if got := pending(); got != "0" {
		t.Errorf("GET /pending after the answer = %q, want 0", got)
	}
}

// checkFor fails t unless ok says yes within timeout, asked every
// interval.
func checkFor(t testing.TB, timeout, interval time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(interval)
	}
}

// TestReplyApp checks the request/reply baseline against a responder that
// answers as ferry's do (Spring's headers): concurrent POSTs each get
// their own body back with 200, not another request's.
func TestReplyApp(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "req", "rep"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	newClient := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append(producerOpts(brokers...), opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	prod := newClient()
	replies := newClient(kgo.ConsumeTopics("rep"))
	echo := newClient(kgo.ConsumeTopics("req"))
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() {
		for ctx.Err() == nil {
			echo.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				out := &kgo.Record{Value: r.Value}
				for _, h := range r.Headers {
					switch h.Key {
					case springReplyTopic:
						out.Topic = string(h.Value)
					case springCorrelationID:
						out.Headers = append(out.Headers, h)
					}
				}
				echo.Produce(ctx, out, nil)
			})
		}
	})
	app := replyApp(ctx, prod, replies, "req", "rep")
	var calls sync.WaitGroup
	for i := range 8 {
		calls.Go(func() {
			body := fmt.Sprintf(`{"n":%d}`, i)
			resp, err := app.Test(httptest.NewRequest("POST", "/v1/quotes", strings.NewReader(body)), -1)
			if err != nil {
				t.Errorf("POST %s: %v", body, err)
				return
			}
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(got) != body {
				t.Errorf("POST %s = %d %s, want 200 and the same body", body, resp.StatusCode, got)
			}
		})
	}
	calls.Wait()
}
