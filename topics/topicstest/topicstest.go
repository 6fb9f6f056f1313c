// Package topicstest starts an in-process Kafka (kfake) on a TCP port for
// tests, and reads back what was written to it. It is imported only by
// tests; it may import topics and franz-go (kfake, kgo), and no other
// ferry package.
package topicstest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster starts a one-broker kfake cluster on a free loopback port with
// the given topics, and closes it when the test ends.
func Cluster(tb testing.TB, partitions int32, topics ...string) *kfake.Cluster {
	tb.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(int(partitions))}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatalf("kfake.NewCluster: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// Client returns a client of c with a short metadata age (so injected
// faults cost milliseconds, not seconds), closed when the test ends.
func Client(tb testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(50 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		tb.Fatalf("kgo.NewClient: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// Read consumes topic from the start until it has n records or timeout
// passes, and returns what it got.
func Read(tb testing.TB, c *kfake.Cluster, topic string, n int, timeout time.Duration) []*kgo.Record {
	tb.Helper()
	cl := Client(tb, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) { tb.Errorf("fetch %s/%d: %v", t, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// Count returns how many records topic holds (the sum of its partitions'
// end offsets minus start offsets).
func Count(tb testing.TB, c *kfake.Cluster, topic string) int64 {
	tb.Helper()
	adm := kadm.NewClient(Client(tb, c))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		tb.Fatalf("ListEndOffsets(%s): %v", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		tb.Fatalf("ListStartOffsets(%s): %v", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			tb.Fatalf("end offset %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		s, _ := starts.Lookup(o.Topic, o.Partition)
		n += o.Offset - s.Offset
	})
	return n
}

// FailProduce makes every produce request to c fail with code until the
// cluster closes; nothing is stored.
func FailProduce(c *kfake.Cluster, code *kerr.Error) {
	c.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		preq := req.(*kmsg.ProduceRequest)
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range preq.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			st.TopicID = rt.TopicID // Produce v13+ names topics by id
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// Eventually calls f every interval until it returns nil, and fails the
// test with f's last error once timeout has passed: how tests await a
// condition (a record read back, a metric, a state) instead of sleeping.
func Eventually(tb testing.TB, timeout, interval time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// NoLeaks fails the test if, after its cleanups, goroutines running code
// of pkg (say "ferry/consumers.") are still there: tailscale's
// ResourceCheck, narrowed to one package so that client pools do not
// count. Call it first in a test, so that its check runs after every
// other cleanup.
func NoLeaks(tb testing.TB, pkg string) {
	tb.Helper()
	tb.Cleanup(func() {
		Eventually(tb, 3*time.Second, 10*time.Millisecond, func() error {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, pkg) && !strings.Contains(g, "testing.tRunner") && !strings.Contains(g, "topicstest.NoLeaks") {
					return fmt.Errorf("leaked goroutine:\n%s", g)
				}
			}
			return nil
		})
	})
}
