package policy

import (
	"runtime"
	"testing"
	"time"
)

// TestReplyCacheStartsNoGoroutine: a reply cache is built for each sync
// route on every config reload, so building one must not start anything
// that outlives it (hashicorp's expirable LRU starts a goroutine that
// never ends). Expired replies are dropped when read.
func TestReplyCacheStartsNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		NewReplyCache(10, time.Minute)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("50 caches left %d goroutines behind", after-before)
	}
	c := NewReplyCache(10, time.Minute)
	now := time.Now()
	if _, ok := c.Put("k", CachedReply{Status: 200}, "max-age=1", now); !ok {
		t.Fatal("not kept")
	}
	if _, ok := c.Get("k", now.Add(500*time.Millisecond)); !ok {
		t.Error("a fresh reply was not served")
	}
	if _, ok := c.Get("k", now.Add(2*time.Second)); ok {
		t.Error("an expired reply was served")
	}
	// The reply's max-age overrides the route's TTL both ways, as a
	// shared cache reads an origin's Cache-Control (issue 18).
	if _, ok := c.Put("long", CachedReply{Status: 200}, "public, max-age=90", now); !ok {
		t.Fatal("not kept")
	}
	if _, ok := c.Get("long", now.Add(80*time.Second)); !ok {
		t.Error("a reply with max-age=90 expired at the route's 1m TTL")
	}
	if _, ok := c.Get("long", now.Add(91*time.Second)); ok {
		t.Error("a reply with max-age=90 was served after 91s")
	}
}
