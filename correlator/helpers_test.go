package correlator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testRedis is the real Redis at 127.0.0.1:6379 when it answers (or
// FERRY_TEST_REDIS names another), else an in-process miniredis. Keys of
// one test share a random prefix and are deleted at the end.
type testRedis struct {
	rdb    *redis.Client
	mr     *miniredis.Miniredis // nil with a real Redis
	prefix string
}

func newTestRedis(tb testing.TB) *testRedis {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	tr := &testRedis{prefix: "ferrytest:" + hex.EncodeToString(b[:]) + ":"}
	addr := os.Getenv("FERRY_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	if os.Getenv("FERRY_TEST_MINIREDIS") == "" {
		rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			tr.rdb = rdb
			tb.Cleanup(func() {
				ctx := context.Background()
				keys, _ := rdb.Keys(ctx, tr.prefix+"*").Result()
				if len(keys) > 0 {
					rdb.Del(ctx, keys...)
				}
				_ = rdb.Close()
			})
			return tr
		}
		_ = rdb.Close()
	}
	tr.mr = miniredis.NewMiniRedis()
	if err := tr.mr.StartAddr("127.0.0.1:0"); err != nil {
		tb.Fatalf("miniredis: %v", err)
	}
	tr.rdb = redis.NewClient(&redis.Options{Addr: tr.mr.Addr()})
	tb.Cleanup(func() { _ = tr.rdb.Close(); tr.mr.Close() })
	return tr
}

// newCluster starts a one-broker kfake on a free port with the topics
// seeded, each with partitions partitions.
func newCluster(tb testing.TB, partitions int32, topics ...string) []string {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		tb.Fatalf("kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c.ListenAddrs()
}

// newClient returns a Kafka client closed at the end of the test.
func newClient(tb testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.MetadataMinAge(50 * time.Millisecond), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		tb.Fatalf("kgo: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}
