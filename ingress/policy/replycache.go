package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// CachedReply is a reply kept for a sync route's reply.cache.
type CachedReply struct {
	Status      int
	ContentType string
	Header      [][2]string // name, value
	Body        []byte
	// Stored is when the reply was kept (for Age); Expires when it stops
	// being served (the TTL, or the reply's Cache-Control max-age).
	Stored, Expires time.Time
}

// ReplyCache keeps the 2xx replies of one sync route for its TTL, at most
// MaxEntries of them, least recently used first out (hashicorp's LRU;
// an expired reply is dropped when it is read, so the cache starts no
// goroutine: one is built per route on every config reload). It is safe
// for concurrent use.
type ReplyCache struct {
	ttl time.Duration
	lru *lru.Cache[string, CachedReply]

	mu      sync.Mutex
	flights map[string]*Flight // requests waiting for their reply, by key
}

// NewReplyCache returns a cache of at most maxEntries replies, each kept
// at most ttl.
func NewReplyCache(maxEntries int, ttl time.Duration) *ReplyCache {
	c, _ := lru.New[string, CachedReply](max(maxEntries, 1)) // errors only for a size < 1
	return &ReplyCache{ttl: ttl, lru: c, flights: make(map[string]*Flight)}
}

// Flight is a request that missed the cache and is waiting for its reply:
// identical requests that arrive meanwhile wait for it (Join) instead of
// producing records of their own (singleflight).
type Flight struct {
	done  chan struct{}
	once  sync.Once
	reply CachedReply
	ok    bool
}

// Done is closed when the flight has landed.
func (f *Flight) Done() <-chan struct{} { return f.done }

// Result is the flight's reply once Done is closed: ok when it was kept
// (a 2xx reply the cache took), else the followers send their own.
func (f *Flight) Result() (CachedReply, bool) { return f.reply, f.ok }

// Join returns the flight of key: a new one that the caller leads (and
// must Land), or the one in the air, which the caller may wait for.
func (c *ReplyCache) Join(key string) (f *Flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[key]; ok {
		return f, false
	}
	f = &Flight{done: make(chan struct{})}
	c.flights[key] = f
	return f, true
}

// Land ends the flight of key that the caller leads, with the reply kept
// for it (ok) or none; only the first call counts.
func (c *ReplyCache) Land(key string, f *Flight, r CachedReply, ok bool) {
	f.once.Do(func() {
		c.mu.Lock()
		if c.flights[key] == f {
			delete(c.flights, key)
		}
		c.mu.Unlock()
		f.reply, f.ok = r, ok
		close(f.done)
	})
}

// ReplyCacheKey names a request for the cache: its route, its principal
// (empty for a shared cache), its record key and a hash of its body.
func ReplyCacheKey(route, principal string, recordKey, body []byte) string {
	sum := sha256.Sum256(body)
	var b strings.Builder
	b.Grow(len(route) + len(principal) + len(recordKey) + 3 + 2*len(sum))
	b.WriteString(route)
	b.WriteByte(0)
	b.WriteString(principal)
	b.WriteByte(0)
	b.Write(recordKey)
	b.WriteByte(0)
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

// Get returns the reply kept for key, if it has not expired at now.
func (c *ReplyCache) Get(key string, now time.Time) (CachedReply, bool) {
	r, ok := c.lru.Get(key)
	if !ok {
		return CachedReply{}, false
	}
	if !now.Before(r.Expires) {
		c.lru.Remove(key)
		return CachedReply{}, false
	}
	return r, true
}

// Put keeps r for key, unless its Cache-Control says no-store, no-cache
// or private; a max-age overrides the TTL (shorter or longer), as a
// shared cache reads an origin's Cache-Control. It reports whether r was
// kept, and returns it as kept.
func (c *ReplyCache) Put(key string, r CachedReply, cacheControl string, now time.Time) (CachedReply, bool) {
	ttl := c.ttl
	for _, d := range strings.Split(cacheControl, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store", d == "no-cache", d == "private":
			return r, false
		case strings.HasPrefix(d, "max-age="):
			if s, err := strconv.Atoi(d[len("max-age="):]); err == nil && s >= 0 {
				ttl = time.Duration(s) * time.Second
			}
		}
	}
	if ttl <= 0 {
		return r, false
	}
	r.Stored, r.Expires = now, now.Add(ttl)
	c.lru.Add(key, r)
	return r, true
}
