package consumers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// env is a kfake cluster with a Replayer over it.
type env struct {
	cluster  *kfake.Cluster
	producer *kgo.Client
	replayer *Replayer
}

// base is the options a test Replayer builds its clients from: those of
// topicstest, with a short metadata age.
func base(c *kfake.Cluster) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(50 * time.Millisecond)}
}

func newEnv(tb testing.TB, cfg ReplayConfig, topicNames ...string) *env {
	tb.Helper()
	checkGoroutines(tb)
	c := topicstest.Cluster(tb, 3, topicNames...)
	if cfg.Topics == nil {
		cfg.Topics = []string{"orders.*", "audit"}
	}
	e := &env{
		cluster:  c,
		producer: topicstest.Client(tb, c, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner())),
	}
	e.replayer = NewReplayer(cfg, topics.NewAdmin(topicstest.Client(tb, c)), base(c))
	tb.Cleanup(func() { _ = e.replayer.Close() })
	return e
}

// produce writes n records to topic/partition with timestamps start,
// start+1s, ...; keys k0, k1, ...; values {"n":i}, and header parity
// even/odd.
func (e *env) produce(tb testing.TB, topic string, partition int32, n int, start time.Time) {
	tb.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		parity := "even"
		if i%2 == 1 {
			parity = "odd"
		}
		recs[i] = &kgo.Record{
			Topic: topic, Partition: partition, Timestamp: start.Add(time.Duration(i) * time.Second),
			Key:     []byte("k" + strconv.Itoa(i)),
			Value:   []byte(`{"n":` + strconv.Itoa(i) + `}`),
			Headers: []kgo.RecordHeader{{Key: "parity", Value: []byte(parity)}},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

// readAll reads a replay to its end and closes it.
func readAll(tb testing.TB, rp *Replay) []Record {
	tb.Helper()
	defer rp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []Record
	for {
		rec, err := rp.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("Next: %v (after %d records)", err, len(out))
		}
		// Next reuses the record and the memory it points to: keep a
		// deep copy.
		cp := *rec
		cp.Key, cp.Value = bytes.Clone(rec.Key), bytes.Clone(rec.Value)
		cp.Headers = nil
		for _, h := range rec.Headers {
			cp.Headers = append(cp.Headers, topics.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
		out = append(out, cp)
	}
}

// positions returns "partition/offset" of each record.
func positions(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
	}
	return out
}

// checkGoroutines fails the test if, once every later cleanup has run,
// more goroutines are left than when it was called (tailscale's
// ResourceCheck). Call it first, and not from parallel tests.
func checkGoroutines(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		topicstest.Eventually(tb, 5*time.Second, 10*time.Millisecond, func() error {
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<20)
				stacks := string(buf[:runtime.Stack(buf, true)])
				return fmt.Errorf("%d goroutines left, %d before:\n%s", n, before, trimStacks(stacks))
			}
			return nil
		})
	})
}

func trimStacks(s string) string {
	if len(s) > 8000 {
		return s[:8000] + "\n..."
	}
	return strings.TrimSpace(s)
}
