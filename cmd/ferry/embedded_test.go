package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/topics"
)

// TestEmbeddedKafkaAsksNoClientMetrics: the embedded broker, like a Kafka
// broker without a client-metrics subscription, requests no KIP-714
// metrics, so that its clients (ferry's own, and those of other processes
// on it) do not compress and push their metrics to it every 30 s (kfake
// subscribes every client to all metrics; franz-go compresses each push
// with 4 MB lz4 blocks).
func TestEmbeddedKafkaAsksNoClientMetrics(t *testing.T) {
	c, seeds, err := startKafka(topics.Config{Embedded: topics.EmbeddedConfig{Listen: "127.0.0.1:0"}, Partitions: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 { // the answer is kept for every request
		resp, err := kmsg.NewPtrGetTelemetrySubscriptionsRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil || len(resp.RequestedMetrics) != 0 || resp.PushIntervalMillis <= 0 || resp.ClientInstanceID == [16]byte{} {
			t.Fatalf("GetTelemetrySubscriptions = %+v (err %v), want no requested metrics, a positive interval and an instance id", resp, err)
		}
	}
}
