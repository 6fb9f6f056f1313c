package policy

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/topics"
)

func TestLeaseSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rl   topics.RateLimitConfig
		d    time.Duration
		want int
	}{
		{topics.RateLimitConfig{Rate: 20, Burst: 40}, 50 * time.Millisecond, 1}, // the quickstart's: exact
		{topics.RateLimitConfig{Rate: 1000, Burst: 1000}, 50 * time.Millisecond, 50},
		{topics.RateLimitConfig{Rate: 1000, Burst: 8}, 50 * time.Millisecond, 2}, // a quarter of the burst
		{topics.RateLimitConfig{Rate: 6000, Per: time.Minute, Burst: 6000}, time.Second, 100},
		{topics.RateLimitConfig{Rate: 1000, Burst: 1000}, 0, 1},
	} {
		if got := leaseSize(tc.rl, tc.d); got != tc.want {
			t.Errorf("leaseSize(%+v, %s) = %d, want %d", tc.rl, tc.d, got, tc.want)
		}
	}
}

// TestLocalLeaseKeepsTheSharedLimit: two instances with local leases
// share one budget in Redis (miniredis, its clock and theirs frozen):
// together they admit no more than the budget holds, and at most one
// slice each fewer; a refused key is answered locally until its retry
// time, without asking Redis; a lease lapses after its time, so leased
// requests cannot pile up; and past the retry time Redis is asked again.
func TestLocalLeaseKeepsTheSharedLimit(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	now := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	mr.SetTime(now)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	calls := &callCounter{}
	rdb.AddHook(calls)
	rl := topics.RateLimitConfig{Rate: 100, Per: time.Second, Burst: 100} // leases of 5 at 50ms
	var instances [2]*RedisLimiter
	for i := range instances {
		instances[i] = NewRedisLimiter(rdb, WithLocalLease(50*time.Millisecond))
		instances[i].now = func() time.Time { return now }
	}
	ctx := context.Background()
	admitted, asked := 0, calls.n.Load()
	for i := range 150 {
		res, err := instances[i%2].Allow(ctx, "k", rl)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			admitted++
		}
	}
	if admitted > rl.Burst || admitted < rl.Burst-2*5 {
		t.Errorf("two instances admitted %d of 150 requests at once, want %d at most and %d at least", admitted, rl.Burst, rl.Burst-2*5)
	}
	if n := calls.n.Load() - asked; n > 2*(int64(rl.Burst)/5+2) {
		t.Errorf("%d Redis calls for 150 requests: the leases were not used", n)
	}

	// Refused: answered locally with the time left, Redis not asked.
	asked = calls.n.Load()
	res, err := instances[0].Allow(ctx, "k", rl)
	if err != nil || res.Allowed || res.RetryAfter <= 0 {
		t.Fatalf("a refused key: %+v, %v; want refused with a Retry-After", res, err)
	}
	if calls.n.Load() != asked {
		t.Errorf("a key refused a moment ago asked Redis again")
	}

	// 50ms later Redis has 5 requests again, but the unspent slices of
	// the first moment have lapsed: at most 5 more in all, and the retry
	// time has passed, so Redis is asked.
	now = now.Add(50 * time.Millisecond)
	mr.SetTime(now)
	more := 0
	for i := range 20 {
		if res, err := instances[i%2].Allow(ctx, "k", rl); err == nil && res.Allowed {
			more++
		}
	}
	if more > 5 {
		t.Errorf("50ms later the two instances admitted %d, want at most the 5 the budget refilled", more)
	}
	if more == 0 {
		t.Errorf("50ms later nothing was admitted: the refusal was kept past its retry time")
	}
}

// callCounter counts the commands a go-redis client sends.
type callCounter struct{ n atomic.Int64 }

func (c *callCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *callCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *callCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
