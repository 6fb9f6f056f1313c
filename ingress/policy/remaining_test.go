package policy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/topics"
)

// TestRemainingCountsExactly: the first request of a fresh budget leaves
// burst-1 (the IETF RateLimit draft's remaining quota), not burst-2 as
// redis_rate's floating-point remaining said for 20/s with burst 40; and
// each request right after spends exactly one more. Runs on miniredis and,
// when it answers, the real Redis at 127.0.0.1:6379.
func TestRemainingCountsExactly(t *testing.T) {
	t.Parallel()
	addrs := []string{miniredis.RunT(t).Addr()}
	if c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}); c.Ping(context.Background()).Err() == nil {
		addrs = append(addrs, "127.0.0.1:6379")
		c.Close()
	}
	for _, addr := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		l := NewRedisLimiter(rdb)
		for _, rl := range []topics.RateLimitConfig{
			{Rate: 20, Per: time.Second, Burst: 40}, {Rate: 40, Per: time.Second, Burst: 40},
			{Rate: 10, Per: time.Minute, Burst: 10}, {Rate: 3, Per: time.Second, Burst: 7},
		} {
			key := fmt.Sprintf("remaining-%s-%d", t.Name(), time.Now().UnixNano())
			res, err := l.Allow(context.Background(), key, rl)
			if err != nil {
				t.Fatal(err)
			}
			if res.Remaining != rl.Burst-1 || res.Limit != rl.Burst {
				t.Errorf("%s %d/%s burst %d: first request leaves %d of %d, want %d", addr, rl.Rate, rl.Per, rl.Burst, res.Remaining, res.Limit, rl.Burst-1)
			}
		}
	}
}
