package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestTopicMissing runs serve against a real broker (kfake) without the
// route's topic and with create_topics: false: a publish is a
// misconfiguration, not a retryable outage, so it answers 500
// topic-missing without Retry-After, instead of 503 kafka-unavailable
// "retry later" forever.
func TestTopicMissing(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr, stop := serveForProbe(t, c, `
routes:
  - { name: pub, path: /v1/pub, topic: orders.missing, auth: none }
`, "/healthz")
	defer stop()
	start := time.Now()
	resp, err := http.Post("http://"+addr+"/v1/pub", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct{ Type, Detail string }
	_ = json.NewDecoder(resp.Body).Decode(&p)
	if resp.StatusCode != 500 || p.Type != "urn:ferry:problem:topic-missing" || resp.Header.Get("Retry-After") != "" ||
		!strings.Contains(p.Detail, "orders.missing") {
		t.Errorf("publish to a missing topic: %d %s %q (Retry-After %q) in %s, want 500 topic-missing naming the topic, no Retry-After",
			resp.StatusCode, p.Type, p.Detail, resp.Header.Get("Retry-After"), time.Since(start).Round(time.Millisecond))
	}
}
