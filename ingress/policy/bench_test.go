package policy

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/topics"
)

// BenchmarkRedis measures the Redis round trips the chain adds per
// request: one rate-limit decision (redis_rate's script) and the first
// Idempotency-Key lookup (claim, then complete), on miniredis and on the
// real Redis at 127.0.0.1:6379 when it answers.
//
// Run: go test -run '^$' -bench Redis -benchmem ./ingress/policy
func BenchmarkRedis(b *testing.B) {
	ctx := context.Background()
	backends := []struct{ name, addr string }{{"mini", miniredis.RunT(b).Addr()}}
	if c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}); c.Ping(ctx).Err() == nil {
		backends = append(backends, struct{ name, addr string }{"real", "127.0.0.1:6379"})
		_ = c.Close()
	} else {
		b.Logf("no real Redis at 127.0.0.1:6379; benchmarking miniredis only")
	}
	var prefix [8]byte
	_, _ = rand.Read(prefix[:])
	pre := fmt.Sprintf("ferry-bench:%x:", prefix)
	for _, be := range backends {
		rdb := redis.NewClient(&redis.Options{Addr: be.addr})
		b.Cleanup(func() {
			if keys, _ := rdb.Keys(ctx, "*"+pre+"*").Result(); len(keys) > 0 {
				rdb.Del(ctx, keys...)
			}
			_ = rdb.Close()
		})
		b.Run("limiter/redis="+be.name, func(b *testing.B) {
			l := NewRedisLimiter(rdb, WithLimiterPrefix(pre))
			rl := topics.RateLimitConfig{Rate: 1 << 30, Per: time.Second, Burst: 1 << 30}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Allow(ctx, "orders:sub:alice", rl); err != nil {
					b.Fatal(err)
				}
			}
		})
		// A busy key, under a limit it does not reach (so that the bench
		// measures the limiter, not the limit), from concurrent requests,
		// with and without a local lease of 50ms.
		for _, lease := range []time.Duration{0, 50 * time.Millisecond} {
			b.Run(fmt.Sprintf("limiter-busy-key/lease=%s/redis=%s", lease, be.name), func(b *testing.B) {
				l := NewRedisLimiter(rdb, WithLimiterPrefix(pre), WithLocalLease(lease))
				rl := topics.RateLimitConfig{Rate: 1 << 30, Per: time.Second, Burst: 1 << 30}
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := l.Allow(ctx, "orders:sub:busy-"+lease.String(), rl); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
		b.Run("idempotency/redis="+be.name, func(b *testing.B) {
			s := NewRedisIdempotency(rdb, WithIdempotencyPrefix(pre))
			resp := StoredResponse{Status: 202, ContentType: "application/json", Body: []byte(`{"id":"01a1fdb7-5238-798c-0000-000000000000"}`)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				key := fmt.Sprintf("k%d", i)
				claim := IdempotencyClaim{Owner: "o", LockTTL: time.Minute}
				if held, err := s.Begin(ctx, key, claim); err != nil || held != nil {
					b.Fatal(held, err)
				}
				if err := s.Complete(ctx, key, claim, resp, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
