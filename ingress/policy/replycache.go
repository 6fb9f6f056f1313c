package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
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
// MaxEntries of them, least recently used first out (hashicorp's
// expirable LRU). It is safe for concurrent use.
type ReplyCache struct {
	ttl time.Duration
	lru *expirable.LRU[string, CachedReply]
}

// NewReplyCache returns a cache of at most maxEntries replies, each kept
// at most ttl.
func NewReplyCache(maxEntries int, ttl time.Duration) *ReplyCache {
	return &ReplyCache{ttl: ttl, lru: expirable.NewLRU[string, CachedReply](maxEntries, nil, ttl)}
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
	if !ok || !now.Before(r.Expires) {
		return CachedReply{}, false
	}
	return r, true
}

// Put keeps r for key, unless its Cache-Control says no-store; a max-age
// shorter than the TTL shortens its life (a longer one cannot lengthen
// it). It reports whether r was kept.
func (c *ReplyCache) Put(key string, r CachedReply, cacheControl string, now time.Time) bool {
	ttl := c.ttl
	for _, d := range strings.Split(cacheControl, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store", d == "no-cache", d == "private":
			return false
		case strings.HasPrefix(d, "max-age="):
			if s, err := strconv.Atoi(d[len("max-age="):]); err == nil && s >= 0 {
				ttl = min(ttl, time.Duration(s)*time.Second)
			}
		}
	}
	if ttl <= 0 {
		return false
	}
	r.Stored, r.Expires = now, now.Add(ttl)
	c.lru.Add(key, r)
	return true
}
