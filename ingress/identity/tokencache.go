package identity

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// maxCacheTTL bounds how long a verified token is trusted without being
// verified again, so that a key removed from a JWKS stops working soon
// even for tokens that live long.
const maxCacheTTL = 5 * time.Minute

// tokenCache remembers verified bearer tokens, keyed by a seeded hash of
// the token. An entry expires with its token (at most maxCacheTTL later)
// and holds the token itself, compared in constant time on a hit, so that
// a hash collision can never lend one token another's principal. It holds
// at most size entries. It is safe for concurrent use.
type tokenCache struct {
	seed maphash.Seed
	size int

	mu        sync.RWMutex
	entries   map[uint64]cacheEntry
	lastSweep int64 // unix nanos of the last sweep for expired entries
}

type cacheEntry struct {
	token   string
	p       *Principal
	expires int64 // unix nanos
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{seed: maphash.MakeSeed(), size: size, entries: make(map[uint64]cacheEntry, min(size, 1024))}
}

// get returns the principal of a cached, unexpired token, or nil.
func (tc *tokenCache) get(token string, now time.Time) *Principal {
	h := maphash.String(tc.seed, token)
	tc.mu.RLock()
	e, ok := tc.entries[h]
	tc.mu.RUnlock()
	if !ok || now.UnixNano() >= e.expires || !constantTimeEqual(e.token, token) {
		return nil
	}
	return e.p
}

// put caches a verified token's principal until expires (capped at
// maxCacheTTL from now). When the cache is full it first drops expired
// entries, then arbitrary ones.
func (tc *tokenCache) put(token string, p *Principal, expires, now time.Time) {
	if limit := now.Add(maxCacheTTL); expires.IsZero() || expires.After(limit) {
		expires = limit
	}
	if !expires.After(now) {
		return
	}
	h := maphash.String(tc.seed, token)
	e := cacheEntry{token: strings.Clone(token), p: p, expires: expires.UnixNano()}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if _, ok := tc.entries[h]; !ok && len(tc.entries) >= tc.size {
		tc.evictLocked(now.UnixNano())
	}
	tc.entries[h] = e
}

// evictLocked drops expired entries (sweeping at most once a second, so
// that a full cache of live tokens does not scan on every miss) and, if
// that made no room, arbitrary ones (Go's map order is random).
func (tc *tokenCache) evictLocked(now int64) {
	if now-tc.lastSweep >= int64(time.Second) {
		tc.lastSweep = now
		for h, e := range tc.entries {
			if now >= e.expires {
				delete(tc.entries, h)
			}
		}
	}
	for h := range tc.entries {
		if len(tc.entries) < tc.size {
			break
		}
		delete(tc.entries, h)
	}
}

// len returns the number of entries, for tests.
func (tc *tokenCache) len() int {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return len(tc.entries)
}

// constantTimeEqual compares two strings in time that depends only on
// their lengths.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
