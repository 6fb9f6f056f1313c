package policy

import (
	"math"
	"sync"
	"time"

	"github.com/ferry-gw/ferry/topics"
)

// leaseSize is how many requests of a budget under rl one instance leases
// from Redis at once with a local lease of d: what the budget refills in
// d, at most a quarter of the burst (so that a few instances sharing a
// key all get some), at least 1 (1: no lease; every request asks Redis).
//
// The error this allows, across instances: a request is admitted up to d
// after Redis counted it, so in any interval T a key admits at most
// rate*(T+d) + burst requests (instead of rate*T + burst); and each
// instance may lose at most one unspent slice per d (its leased requests
// expire), so a key spread over k busy instances may get up to k*slice
// fewer requests per d than its rate. The quickstart's 20/s with d = 50ms
// leases 1: exact.
func leaseSize(rl topics.RateLimitConfig, d time.Duration) int {
	if d <= 0 || rl.Rate <= 0 {
		return 1
	}
	per := rl.Per
	if per <= 0 {
		per = time.Second
	}
	n := int(math.Floor(float64(rl.Rate) * float64(d) / float64(per)))
	return max(1, min(n, rl.Burst/4))
}

// leased is one key's local lease: requests Redis granted this instance
// and not spent yet, and a refusal Redis gave, kept until its retry time.
// Its mutex is held across the Redis call, so that the requests of a key
// wait for one lease instead of each asking Redis.
type leased struct {
	mu        sync.Mutex
	tokens    int       // granted requests left
	expires   time.Time // when the unspent ones lapse
	remaining int       // Redis's Remaining at the lease
	refused   time.Time // when a refusal ends (zero: none)
	last      LimitResult
}

// spend takes one request from the lease, asking Redis for a new one
// (lasting life) with ask when it is spent or lapsed.
func (lk *leased) spend(now time.Time, rl topics.RateLimitConfig, life time.Duration, ask func() (LimitResult, error)) (LimitResult, error) {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if now.Before(lk.refused) {
		r := lk.last
		r.RetryAfter = lk.refused.Sub(now)
		return r, nil
	}
	if lk.tokens > 0 && now.Before(lk.expires) {
		lk.tokens--
		return LimitResult{Allowed: true, Limit: rl.Burst, Remaining: min(lk.remaining+lk.tokens, rl.Burst), ResetAfter: lk.last.ResetAfter}, nil
	}
	res, err := ask()
	if err != nil {
		return res, err
	}
	lk.last = res
	if !res.Allowed {
		lk.tokens, lk.refused = 0, now.Add(res.RetryAfter)
		return res, nil
	}
	lk.tokens, lk.expires, lk.remaining, lk.refused = res.Granted-1, now.Add(life), res.Remaining, time.Time{}
	res.Remaining = min(res.Remaining+lk.tokens, rl.Burst)
	return res, nil
}
