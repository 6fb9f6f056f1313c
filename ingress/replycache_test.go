package ingress

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestReplyCache: a sync route with reply.cache answers an identical
// request (same principal, key and body) from the first one's 2xx reply
// with X-Cache: hit and Age, producing nothing; another body or another
// principal misses; a reply saying Cache-Control: no-store, or a non-2xx
// reply, is not kept.
func TestReplyCache(t *testing.T) {
	t.Parallel()
	prod := &downProducer{}
	corr := newFakeCorrelator()
	_, h := newTestServer(t, []topics.RouteConfig{
		{Name: "quote", Path: "/v1/quotes", Topic: "q", Key: "{body./sym}", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "q.replies", Timeout: 5 * time.Second, Cache: &topics.CacheConfig{TTL: time.Minute}}},
	}, Deps{Producer: prod, Correlator: corr, Results: &fakeResults{}}, withPrincipals())

	// The responder: answers each produced request once, by its body.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	answered := map[string]bool{}
	wg.Go(func() {
		for ctx.Err() == nil {
			prod.mu.Lock()
			ids := slices.Clone(prod.ids)
			prod.mu.Unlock()
			for _, id := range ids {
				if !answered[id] && corr.ws.Deliver([]byte(id), replyFor(id, prod)) {
					answered[id] = true
				}
			}
			time.Sleep(2 * time.Millisecond) // polls the fake producer, not a condition
		}
	})
	post := func(body, who string) handled {
		return handle(h, "POST", "/v1/quotes", "application/json", body, "X-Test-identity.Principal", who)
	}
	first := post(`{"sym":"ACME"}`, "app_user:alice")
	if first.status != 200 || string(first.header.Peek("X-Cache")) != "miss" {
		t.Fatalf("first: %d %s X-Cache %q", first.status, first.body, first.header.Peek("X-Cache"))
	}
	again := post(`{"sym":"ACME"}`, "app_user:alice")
	if again.status != 200 || string(again.header.Peek("X-Cache")) != "hit" || again.header.Peek("Age") == nil || again.body != first.body {
		t.Errorf("identical request: %d %s X-Cache %q Age %q, want the cached reply", again.status, again.body, again.header.Peek("X-Cache"), again.header.Peek("Age"))
	}
	if n := prod.calls.Load(); n != 1 {
		t.Errorf("%d records produced, want 1: a hit produces nothing", n)
	}
	for _, tt := range []struct{ body, who string }{{`{"sym":"OTHER"}`, "app_user:alice"}, {`{"sym":"ACME"}`, "app_user:bob"}} {
		if r := post(tt.body, tt.who); string(r.header.Peek("X-Cache")) != "miss" {
			t.Errorf("%s as %s: X-Cache %q, want miss", tt.body, tt.who, r.header.Peek("X-Cache"))
		}
	}
	for _, body := range []string{`{"sym":"NOSTORE"}`, `{"sym":"FAIL"}`} {
		post(body, "app_user:alice")
		if r := post(body, "app_user:alice"); string(r.header.Peek("X-Cache")) != "miss" {
			t.Errorf("%s twice: X-Cache %q, want miss (not kept)", body, r.header.Peek("X-Cache"))
		}
	}
}

// replyFor is the fake responder's reply to the request id: by its body.
func replyFor(id string, prod *downProducer) correlator.Reply {
	prod.mu.Lock()
	defer prod.mu.Unlock()
	body := ""
	for i, pid := range prod.ids {
		if pid == id {
			body = string(prod.values[i])
		}
	}
	switch body {
	case `{"sym":"NOSTORE"}`:
		return correlator.Reply{Status: 200, Final: true, Body: []byte(`{}`), Header: []correlator.HeaderField{{Name: "Cache-Control", Value: "no-store"}}}
	case `{"sym":"FAIL"}`:
		return correlator.Reply{Status: 500, Final: true, Body: []byte(`{}`)}
	}
	return correlator.Reply{Status: 200, Final: true, Body: []byte(`{"price":` + time.Now().Format("150405.000000") + `}`)}
}

// TestReplyCacheCollapsesConcurrentRequests: identical requests that
// arrive while the first is still waiting for its reply produce no record
// of their own: they wait for the first one's reply and get it as a hit.
func TestReplyCacheCollapsesConcurrentRequests(t *testing.T) {
	t.Parallel()
	prod := &downProducer{}
	corr := newFakeCorrelator()
	_, h := newTestServer(t, []topics.RouteConfig{
		{Name: "quote", Path: "/v1/quotes", Topic: "q", Key: "{body./sym}", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "q.replies", Timeout: 5 * time.Second, Cache: &topics.CacheConfig{TTL: time.Minute, Shared: true}}},
	}, Deps{Producer: prod, Correlator: corr, Results: &fakeResults{}})
	const n = 10
	results := make(chan handled, n)
	for range n {
		go func() { results <- handle(h, "POST", "/v1/quotes", "application/json", `{"sym":"ACME"}`) }()
	}
	// Answer the first record only once every request has arrived: the
	// others are waiting for it, not producing.
	topicstest.Eventually(t, 5*time.Second, time.Millisecond, func() error {
		if prod.calls.Load() == 0 {
			return errors.New("no record yet")
		}
		return nil
	})
	topicstest.Eventually(t, 5*time.Second, time.Millisecond, func() error {
		if w := corr.ws.Len(); w != 1 {
			return fmt.Errorf("%d waiters", w)
		}
		return nil
	})
	prod.mu.Lock()
	id := prod.ids[0]
	prod.mu.Unlock()
	// A request that comes after the reply is kept hits the cache, which
	// is as good as joining the flight: the order does not matter.
	if !corr.ws.Deliver([]byte(id), replyFor(id, prod)) {
		t.Fatal("the reply found no waiter")
	}
	hits := 0
	for range n {
		r := <-results
		if r.status != 200 {
			t.Errorf("answer %d %s, want 200", r.status, r.body)
		}
		if string(r.header.Peek("X-Cache")) == "hit" {
			hits++
		}
	}
	if c := prod.calls.Load(); c != 1 || hits != n-1 {
		t.Errorf("%d records produced and %d hits for %d identical requests, want 1 and %d", c, hits, n, n-1)
	}
}
