package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestGetRoutesFromCompactedTopic: GET routes answer from the latest
// record of each key of a topic that already held records when ferry
// started and that PUT and DELETE routes keep writing: ETag and
// Last-Modified, 304 for a current If-None-Match, Prefer: wait held
// until the key changes, 404 after a tombstone, and a collection paged
// by Link until every key was listed once.
func TestGetRoutesFromCompactedTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders.state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	var recs []*kgo.Record
	for i := range 150 {
		recs = append(recs, &kgo.Record{Topic: "orders.state", Key: fmt.Appendf(nil, "o-%02d", i%50), Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	// Written by another producer: JSON to encoding/json, but not UTF-8.
	recs = append(recs, &kgo.Record{Topic: "orders.state", Key: []byte("o-50"), Value: []byte("{\"n\":\"caf\xe9\"}")},
		&kgo.Record{Topic: "orders.state", Key: []byte("o-é/1"), Value: []byte(`{"n":"escaped"}`)})
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	addr, stop := serveFor(t, c, `
routes:
  - { name: put-order, method: PUT, path: "/v1/orders/{id}", topic: orders.state, key: "{path.id}", auth: none }
  - { name: delete-order, method: DELETE, path: "/v1/orders/{id}", topic: orders.state, key: "{path.id}", auth: none }
  - { name: get-order, method: GET, path: "/v1/orders/{id}", topic: orders.state, key: "{path.id}", auth: none }
  - { name: list-orders, method: GET, path: /v1/orders, topic: orders.state, auth: none }
`)
	defer stop()
	base := "http://" + addr

	r := do(t, "GET", base+"/v1/orders/o-07", "")
	etag := r.header.Get("ETag")
	if r.status != 200 || r.body != `{"n":107}` || !regexp.MustCompile(`^"\d-\d+"$`).MatchString(etag) || r.header.Get("Last-Modified") == "" {
		t.Fatalf("GET o-07 = %s (ETag %q), want 200 with the latest value", r, etag)
	}
	if r := do(t, "GET", base+"/v1/orders/o-07", "", "If-None-Match", etag); r.status != 304 {
		t.Errorf("If-None-Match current = %s, want 304", r)
	}
	lastMod := r.header.Get("Last-Modified")
	if r := do(t, "GET", base+"/v1/orders/o-07", "", "If-Modified-Since", lastMod); r.status != 304 {
		t.Errorf("If-Modified-Since its Last-Modified = %s, want 304", r)
	}
	if r := do(t, "GET", base+"/v1/orders/o-07", "", "If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"); r.status != 200 {
		t.Errorf("If-Modified-Since long ago = %s, want 200", r)
	}
	// A key that a URL path can carry only percent-encoded.
	if r := do(t, "GET", base+"/v1/orders/o-%C3%A9%2F1", ""); r.status != 200 || r.body != `{"n":"escaped"}` {
		t.Errorf("GET o-%%C3%%A9%%2F1 = %s, want 200 with the value of key o-é/1", r)
	}
	if r := do(t, "GET", base+"/v1/orders/none", ""); r.status != 404 || !strings.Contains(r.body, "key-not-found") {
		t.Errorf("GET of an absent key = %s, want 404 key-not-found", r)
	}

	// Prefer: wait holds until the key changes.
	got := make(chan response, 1)
	began := time.Now()
	go func() {
		got <- do(t, "GET", base+"/v1/orders/o-07", "", "If-None-Match", etag, "Prefer", "wait=10")
	}()
	time.Sleep(100 * time.Millisecond) // let the GET wait (if it did not, it answers 304 at once and fails below)
	if r := do(t, "PUT", base+"/v1/orders/o-07", `{"n":"changed"}`, "Content-Type", "application/json"); r.status != 202 {
		t.Fatalf("PUT = %s", r)
	}
	w := <-got
	if w.status != 200 || w.body != `{"n":"changed"}` || w.header.Get("ETag") == etag || time.Since(began) > 9*time.Second {
		t.Errorf("waiting GET = %s after %v, want 200 with the new value", w, time.Since(began))
	}
	// Without a change, the wait ends in a 304.
	cur := w.header.Get("ETag")
	if r := do(t, "GET", base+"/v1/orders/o-07", "", "If-None-Match", cur, "Prefer", "wait=1"); r.status != 304 {
		t.Errorf("wait without a change = %s, want 304", r)
	}

	// A tombstone removes the key.
	if r := do(t, "DELETE", base+"/v1/orders/o-08", ""); r.status != 202 {
		t.Fatalf("DELETE = %s", r)
	}
	topicstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if r := do(t, "GET", base+"/v1/orders/o-08", ""); r.status != 404 {
			return fmt.Errorf("GET after the tombstone = %d", r.status)
		}
		return nil
	})

	// The collection, paged by Link.
	seen := make(map[string]int)
	next := "/v1/orders?limit=20"
	pages := 0
	for next != "" {
		r := do(t, "GET", base+next, "")
		var items []struct {
			Key           string
			Value         json.RawMessage
			ETag          string
			ValueEncoding string `json:"value_encoding"`
		}
		if r.status != 200 || json.Unmarshal([]byte(r.body), &items) != nil {
			t.Fatalf("GET %s = %s", next, r)
		}
		if !utf8.ValidString(r.body) {
			t.Errorf("GET %s is not UTF-8: %q", next, r.body)
		}
		for _, it := range items {
			seen[it.Key]++
			if it.Key == "o-50" {
				// Not UTF-8: in base64, every byte kept.
				var b64 string
				_ = json.Unmarshal(it.Value, &b64)
				raw, err := base64.StdEncoding.DecodeString(b64)
				if it.ValueEncoding != "base64" || err != nil || string(raw) != "{\"n\":\"caf\xe9\"}" {
					t.Errorf("o-50 listed as %s (value_encoding %q), want its bytes in base64", it.Value, it.ValueEncoding)
				}
			}
		}
		pages++
		next = ""
		if m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(r.header.Get("Link")); m != nil {
			next = m[1]
		}
	}
	if len(seen) != 51 || pages != 3 {
		t.Errorf("listed %d keys in %d pages, want 51 in 3", len(seen), pages)
	}
	for k, n := range seen {
		if n != 1 || k == "o-08" {
			t.Errorf("key %s listed %d times", k, n)
		}
	}
	if r := do(t, "GET", base+"/v1/orders?limit=5000", ""); r.status != http.StatusBadRequest {
		t.Errorf("limit=5000 = %s, want 400", r)
	}
	if r := do(t, "GET", base+"/v1/orders?cursor=garbage", ""); r.status != http.StatusBadRequest {
		t.Errorf("a cursor the route never gave = %s, want 400", r)
	}
	// HEAD wherever GET works; the single GET of a value that is not
	// JSON says so.
	if r := do(t, "HEAD", base+"/v1/orders/o-07", ""); r.status != 200 || r.header.Get("ETag") == "" {
		t.Errorf("HEAD o-07 = %s, want 200 with the ETag", r)
	}
	if r := do(t, "HEAD", base+"/v1/orders", ""); r.status != 200 {
		t.Errorf("HEAD of the collection = %s, want 200", r)
	}
	if r := do(t, "GET", base+"/v1/orders/o-50", ""); r.status != 200 || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET o-50 (not UTF-8, no content-type header) = %s (%s), want 200 application/octet-stream", r, r.header.Get("Content-Type"))
	}
	ready := do(t, "GET", base+"/readyz", "")
	if !strings.Contains(ready.body, `"view.orders.state":"ok"`) {
		t.Errorf("/readyz = %s, want the view's check", ready)
	}
}

// TestViewFullKeepsInstanceReady: a topic with more keys than the
// smallest view.max_keys of its GET routes (the list route without a
// view section does not lift it) puts those routes out of service (503),
// while the instance stays ready, /readyz showing why, and publishing
// routes keep answering.
func TestViewFullKeepsInstanceReady(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "small.state", "pings"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	for i := range 5 {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "small.state", Key: fmt.Appendf(nil, "k%d", i), Value: []byte(`{}`)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	addr, stop := serveFor(t, c, `
routes:
  - { name: get-small, method: GET, path: "/v1/small/{id}", topic: small.state, key: "{path.id}", auth: none, view: { max_keys: 3 } }
  - { name: list-small, method: GET, path: /v1/small, topic: small.state, auth: none }
  - { name: ping, path: /v1/ping, topic: pings, auth: none }
`)
	defer stop()
	base := "http://" + addr
	for _, path := range []string{"/v1/small/k1", "/v1/small"} {
		if r := do(t, "GET", base+path, ""); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "view-unavailable") {
			t.Errorf("GET %s past max_keys = %s, want 503 view-unavailable", path, r)
		}
	}
	if r := do(t, "POST", base+"/v1/ping", `{}`, "Content-Type", "application/json"); r.status != http.StatusAccepted {
		t.Errorf("POST /v1/ping = %s, want 202", r)
	}
	ready := do(t, "GET", base+"/readyz", "")
	if ready.status != http.StatusOK || !strings.Contains(ready.body, `"view.small.state":"ok"`) || !strings.Contains(ready.body, `"view.small.state.max_keys":"the view holds max_keys keys`) {
		t.Errorf("/readyz = %s, want 200, the view caught up, and its max_keys shown", ready)
	}
}
