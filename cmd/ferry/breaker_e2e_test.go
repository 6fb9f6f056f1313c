package main

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafkaBreakerKfake runs serve against a kfake broker whose produce
// requests fail (fault injection with ControlKey): the first publishes
// wait out produce_timeout and answer 503; once kafka.circuit_breaker
// opens, publishes are answered 503 kafka-unavailable with Retry-After at
// once, and the broker sees no produce for them; when the broker heals,
// the half-open probe passes and publishes are 202 again.
func TestKafkaBreakerKfake(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var failing atomic.Bool
	var produces atomic.Int32
	failing.Store(true)
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		produces.Add(1)
		if failing.Load() {
			// The broker drops the connection: the client retries
			// until produce_timeout.
			return nil, errors.New("injected produce fault"), true
		}
		return nil, nil, false
	})
	addr, stop := serveFor(t, c, `
kafka: { brokers: ["BROKER"], create_topics: false, produce_timeout: 1s,
         circuit_breaker: { failures: 3, window: 30s, open_for: 1s } }
routes:
  - { name: pub, path: /v1/pub, topic: orders.events, auth: none }
`)
	defer stop()
	publish := func() (int, string, time.Duration) {
		start := time.Now()
		resp, err := http.Post("http://"+addr+"/v1/pub", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if st, _, _ := publish(); st != 503 {
				t.Errorf("publish to a failing broker: %d, want 503", st)
			}
		})
	}
	wg.Wait()
	seen := produces.Load()
	st, retry, took := publish()
	if st != 503 || retry == "" || took > 50*time.Millisecond {
		t.Errorf("publish with the breaker open: %d Retry-After %q in %s, want 503 with Retry-After within 50ms", st, retry, took)
	}
	if got := produces.Load(); got != seen {
		t.Errorf("the broker saw %d produce requests for a publish answered 503 by the breaker", got-seen)
	}
	failing.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, _ := publish()
		if st == 202 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishes still fail 10s after the broker healed (%d)", st)
		}
		time.Sleep(100 * time.Millisecond) // open_for must pass: time is what is awaited
	}
}

// TestKafkaBreakerSequentialTimeouts: one client at a time, each publish
// waiting out produce_timeout, still opens the breaker at the documented
// count within the window. A failure counts from its produce's start, so
// the window must reach back by the produce timeout: failures spaced by
// window/failures fell out of a plain window as fast as they came.
func TestKafkaBreakerSequentialTimeouts(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var healed atomic.Bool
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if healed.Load() {
			return nil, nil, false
		}
		return nil, errors.New("injected produce fault"), true
	})
	addr, stop := serveFor(t, c, `
kafka: { brokers: ["BROKER"], create_topics: false, produce_timeout: 400ms,
         circuit_breaker: { failures: 3, window: 1200ms, open_for: 5s } }
routes:
  - { name: pub, path: /v1/pub, topic: orders.events, auth: none }
`)
	defer stop()
	defer healed.Store(true) // before stop: the producer flushes at shutdown
	for i := 1; i <= 6; i++ {
		start := time.Now()
		resp, err := http.Post("http://"+addr+"/v1/pub", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		took := time.Since(start)
		t.Logf("publish %d: %d in %s", i, resp.StatusCode, took.Round(time.Millisecond))
		if resp.StatusCode == 503 && took < 100*time.Millisecond {
			if i <= 3 {
				t.Errorf("the breaker opened after %d failures, want 3", i-1)
			}
			return // open: answered at once
		}
	}
	t.Error("3 failures of 400ms each, one after the other, within a 1.2s window never opened the breaker")
}
