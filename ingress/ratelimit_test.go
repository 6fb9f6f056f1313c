package ingress_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// forEachRedis runs f against miniredis and against the real Redis at
// 127.0.0.1:6379 (skipped, with the reason, when it does not answer), each
// with a fresh key prefix.
func forEachRedis(t *testing.T, f func(t *testing.T, newClient func() redis.UniversalClient, prefix string)) {
	t.Run("redis=mini", func(t *testing.T) {
		t.Parallel()
		addr := miniredis.RunT(t).Addr()
		f(t, func() redis.UniversalClient { return redisClient(t, addr) }, testPrefix())
	})
	t.Run("redis=real", func(t *testing.T) {
		t.Parallel()
		prefix := testPrefix()
		realRedis(t, prefix)
		f(t, func() redis.UniversalClient { return redisClient(t, realRedisAddr) }, prefix)
	})
}

// tenantToken is an RS256 token of sub in tenant.
func tenantToken(tb testing.TB, sub, tenant string) string {
	tb.Helper()
	c := claims(sub, "orders:write")
	c["tenant"] = tenant
	return mint(tb, jwt.SigningMethodRS256, getKeys(tb).rsa, "rsa", c)
}

// TestRateLimit spends budgets keyed by principal, client address, claim
// and API key, checking the RateLimit-* headers, the 429 problem with
// Retry-After, and that a refused request produces nothing.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	forEachRedis(t, func(t *testing.T, newClient func() redis.UniversalClient, prefix string) {
		g := startPolicyGateway(t, policyOpts{rdb: newClient(), prefix: prefix})
		alice, bob := bearer(tenantToken(t, "alice", "acme")), bearer(tenantToken(t, "bob", "acme"))
		carol, dave := bearer(tenantToken(t, "carol", "acme")), bearer(tenantToken(t, "dave", "globex"))
		key := []string{"X-API-Key", apiKeyWriter}
		steps := []struct {
			name      string
			path      string
			hdr       []string
			status    int
			remaining int // RateLimit-Remaining; -1 skips the check
		}{
			{"alice 1", "/v1/limited", alice, 202, 2},
			{"alice 2", "/v1/limited", alice, 202, 1},
			{"alice 3", "/v1/limited", alice, 202, 0},
			{"alice 4 is over", "/v1/limited", alice, 429, 0},
			{"bob has his own budget", "/v1/limited", bob, 202, 2},
			{"the API key has its own", "/v1/limited", key, 202, 2},
			{"by ip 1", "/v1/limited-ip", nil, 202, 1},
			{"by ip 2, another principal, same address", "/v1/limited-ip", alice, 202, 0},
			{"by ip 3 is over", "/v1/limited-ip", nil, 429, 0},
			{"tenant acme: alice", "/v1/limited-tenant", alice, 202, 1},
			{"tenant acme: bob spends the same budget", "/v1/limited-tenant", bob, 202, 0},
			{"tenant acme: carol is over", "/v1/limited-tenant", carol, 429, 0},
			{"tenant globex: dave", "/v1/limited-tenant", dave, 202, 1},
			{"api key 1", "/v1/limited-key", key, 202, 1},
			{"api key 2", "/v1/limited-key", key, 202, 0},
			{"api key 3 is over", "/v1/limited-key", key, 429, 0},
			{"a JWT on an api_key limit spends its principal's", "/v1/limited-key", alice, 202, 1},
		}
		accepted := 0
		for _, s := range steps {
			resp, b := g.post(t, s.path, `{}`, s.hdr...)
			if resp.StatusCode != s.status {
				t.Fatalf("%s: POST %s = %d %s, want %d", s.name, s.path, resp.StatusCode, b, s.status)
			}
			h := resp.Header
			if rem, _ := strconv.Atoi(h.Get("RateLimit-Remaining")); s.remaining >= 0 && (rem != s.remaining || h.Get("RateLimit-Remaining") == "") {
				t.Errorf("%s: RateLimit-Remaining = %q, want %d", s.name, h.Get("RateLimit-Remaining"), s.remaining)
			}
			if h.Get("RateLimit-Limit") == "" || h.Get("RateLimit-Reset") == "" {
				t.Errorf("%s: RateLimit-Limit %q RateLimit-Reset %q, want both", s.name, h.Get("RateLimit-Limit"), h.Get("RateLimit-Reset"))
			}
			if s.status == 202 {
				accepted++
				continue
			}
			p := problemOf(t, b)
			retry, err := strconv.Atoi(h.Get("Retry-After"))
			if p.Type != problem.RateLimited.URI || err != nil || retry < 1 || retry > 3600 {
				t.Errorf("%s: problem %s Retry-After %q, want rate-limited and 1..3600 seconds", s.name, p.Type, h.Get("Retry-After"))
			}
		}
		if n := topicstest.Count(t, g.cluster, "limited"); n != int64(accepted) {
			t.Errorf("limited holds %d records, want %d (one per 202)", n, accepted)
		}
		if got := g.counterSum(t, "ferry_rate_limit_decisions_total", "decision=limited,"); got != 4 {
			t.Errorf("ferry_rate_limit_decisions_total{decision=limited} over the routes = %v, want 4", got)
		}
	})
}

// TestRateLimitSharedBudget: two ferry instances on one Redis spend one
// budget.
func TestRateLimitSharedBudget(t *testing.T) {
	t.Parallel()
	forEachRedis(t, func(t *testing.T, newClient func() redis.UniversalClient, prefix string) {
		c := topicstest.Cluster(t, 1, policyTopics...)
		instances := []*policyGateway{
			startPolicyGateway(t, policyOpts{rdb: newClient(), prefix: prefix, cluster: c}),
			startPolicyGateway(t, policyOpts{rdb: newClient(), prefix: prefix, cluster: c}),
		}
		alice := bearer(rsaToken(t, "alice", ""))
		var codes []int
		for i := range 6 {
			resp, b := instances[i%2].post(t, "/v1/limited", `{}`, alice...)
			if resp.StatusCode != 202 && resp.StatusCode != 429 {
				t.Fatalf("POST = %d %s", resp.StatusCode, b)
			}
			codes = append(codes, resp.StatusCode)
		}
		want := []int{202, 202, 202, 429, 429, 429} // burst 3, shared
		for i := range want {
			if codes[i] != want[i] {
				t.Fatalf("statuses across two instances = %v, want %v", codes, want)
			}
		}
	})
}

// TestRateLimitReplenishes moves miniredis's clock: the budget refills at
// its rate.
func TestRateLimitReplenishes(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	t0 := time.Now()
	mr.SetTime(t0)
	g := startPolicyGateway(t, policyOpts{rdb: redisClient(t, mr.Addr())})
	alice := bearer(rsaToken(t, "alice", ""))
	status := func() int {
		resp, _ := g.post(t, "/v1/limited", `{}`, alice...)
		return resp.StatusCode
	}
	for i := range 3 {
		if s := status(); s != 202 {
			t.Fatalf("request %d = %d, want 202", i+1, s)
		}
	}
	if s := status(); s != 429 {
		t.Fatalf("request 4 = %d, want 429", s)
	}
	mr.SetTime(t0.Add(time.Hour)) // rate: 1 per hour
	if s := status(); s != 202 {
		t.Errorf("after an hour = %d, want 202", s)
	}
	if s := status(); s != 429 {
		t.Errorf("the next = %d, want 429", s)
	}
}

// TestRateLimitRedisDown: with Redis gone, a rate-limited route lets
// requests through by default (counted), or answers 503 when closed.
func TestRateLimitRedisDown(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"", policy.FailOpen, policy.FailClosed} {
		t.Run("on_redis_error="+mode, func(t *testing.T) {
			t.Parallel()
			mr := miniredis.RunT(t)
			cfg := testAuthConfig(t)
			cfg.Policy.RateLimits.OnRedisError = mode
			g := startPolicyGateway(t, policyOpts{rdb: redisClient(t, mr.Addr()), auth: cfg})
			mr.Close()
			resp, b := g.post(t, "/v1/limited", `{}`, bearer(rsaToken(t, "alice", ""))...)
			// The error is counted in both modes.
			if n := g.counter(t, "ferry_rate_limit_decisions_total", "decision=error,route=limited"); n != 1 {
				t.Errorf("ferry_rate_limit_decisions_total{error} = %v, want 1", n)
			}
			if mode == policy.FailClosed {
				if p := problemOf(t, b); resp.StatusCode != http.StatusServiceUnavailable || p.Type != problem.RedisUnavailable.URI || resp.Header.Get("Retry-After") == "" {
					t.Errorf("POST with Redis down = %d %s, want a 503 redis-unavailable problem with Retry-After", resp.StatusCode, b)
				}
				if n := topicstest.Count(t, g.cluster, "limited"); n != 0 {
					t.Errorf("limited holds %d records, want 0", n)
				}
				return
			}
			if resp.StatusCode != http.StatusAccepted || resp.Header.Get("RateLimit-Remaining") != "" {
				t.Errorf("POST with Redis down = %d %s (RateLimit-Remaining %q), want 202 without RateLimit headers", resp.StatusCode, b, resp.Header.Get("RateLimit-Remaining"))
			}
			if n := g.counter(t, "ferry_rate_limit_decisions_total", "decision=error,route=limited"); n != 1 {
				t.Errorf("ferry_rate_limit_decisions_total{error} = %v, want 1", n)
			}
		})
	}
}
