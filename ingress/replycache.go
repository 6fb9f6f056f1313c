package ingress

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
)

// Reply caching (reply.cache) for sync routes: a request identical to an
// earlier one (same route, principal unless shared, record key and body)
// is answered with the earlier 2xx reply while it is fresh, with
// X-Cache: hit and Age, and produces no record; the others carry
// X-Cache: miss, and their 2xx final replies are kept.

// buildReplyCaches makes one cache per route with reply.cache.
func (s *Server) buildReplyCaches() {
	s.replyCaches = make(map[string]*policy.ReplyCache)
	for _, r := range s.table.Routes() {
		if r.Reply != nil && r.Reply.Cache != nil {
			s.replyCaches[r.Name] = policy.NewReplyCache(r.Reply.Cache.MaxEntries, r.Reply.Cache.TTL)
		}
	}
}

// replyFromCache answers the request from its route's cache and reports
// whether it did. On a miss, while an identical request is waiting for
// its reply, it waits for that one (up to wait) and answers with its reply
// when it is kept; otherwise the request leads a flight of its own
// (ri.flight: the caller must landFlight it) and notes its key, for
// keepReply.
func (s *Server) replyFromCache(c *fiber.Ctx, r *topics.Route, ri *reqInfo, m *topics.Message, wait time.Duration) bool {
	cache := s.replyCaches[r.Name]
	if cache == nil {
		return false
	}
	who := ""
	if !r.Reply.Cache.Shared {
		if p := ri.principal; p != nil {
			who = p.Kind + ":" + p.ID
		}
	}
	key := policy.ReplyCacheKey(r.Name, who, m.Key, m.Value)
	now := time.Now()
	hit, ok := cache.Get(key, now)
	if !ok {
		f, leader := cache.Join(key)
		if !leader {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-f.Done():
				hit, ok = f.Result()
			case <-t.C:
			case <-c.UserContext().Done():
			case <-s.streams.Done():
			}
			if !ok {
				// It failed, or is late: this request goes on its own.
				if f, leader = cache.Join(key); !leader {
					f = nil // another follower leads now; no cache for this one
				}
			}
		}
		if !ok {
			ri.cacheKey, ri.flight = key, f
			c.Set("X-Cache", "miss")
			return false
		}
		now = time.Now()
	}
	for _, h := range hit.Header {
		c.Set(h[0], h[1])
	}
	c.Set("X-Cache", "hit")
	c.Set(fiber.HeaderAge, strconv.Itoa(int(now.Sub(hit.Stored)/time.Second)))
	c.Set(fiber.HeaderContentType, cmp.Or(hit.ContentType, fiber.MIMEApplicationJSON))
	c.Status(hit.Status)
	c.Response().SetBody(hit.Body)
	return true
}

// keepReply keeps a final 2xx reply of a request that missed the cache.
func (s *Server) keepReply(r *topics.Route, ri *reqInfo, rep *correlator.Reply) {
	cache := s.replyCaches[r.Name]
	if cache == nil || ri.cacheKey == "" || !rep.Final || rep.Status < 200 || rep.Status > 299 || rep.Err() != nil {
		return
	}
	if r.Reply.Schema != "" && s.checkReply(*r, rep.Status, rep.Body) != nil {
		return // answered as 502 bad-reply: nothing to keep
	}
	kept := policy.CachedReply{Status: rep.Status, ContentType: rep.ContentType, Body: rep.Body}
	cacheControl := ""
	for _, h := range rep.Header {
		kept.Header = append(kept.Header, [2]string{h.Name, h.Value})
		if strings.EqualFold(h.Name, fiber.HeaderCacheControl) {
			cacheControl = h.Value
		}
	}
	kept, ok := cache.Put(ri.cacheKey, kept, cacheControl, time.Now())
	if ri.flight != nil {
		cache.Land(ri.cacheKey, ri.flight, kept, ok)
	}
}

// landFlight ends the flight the request leads (if any) without a reply
// to share, unless keepReply landed it already.
func (s *Server) landFlight(r *topics.Route, ri *reqInfo) {
	if ri.flight != nil {
		s.replyCaches[r.Name].Land(ri.cacheKey, ri.flight, policy.CachedReply{}, false)
	}
}
