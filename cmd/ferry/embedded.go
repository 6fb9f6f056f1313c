package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/topics"
)

// startKafka starts the embedded single-broker Kafka (kfake) on cfg.Listen,
// keeping its data in cfg.DataDir when set. The caller must Close it last.
func startKafka(cfg topics.Config, log *slog.Logger) (*kfake.Cluster, []string, error) {
	listen := cfg.Embedded.Listen
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(int(cfg.Partitions)),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, listen)
		}),
		kfake.WithLogger(kfakeLogger{log.With("component", "embedded-kafka")}),
	}
	if cfg.Embedded.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.Embedded.DataDir))
		if syncWrites(cfg.Embedded) {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded kafka on %s: %w", listen, err)
	}
	c.ControlKey(int16(kmsg.GetTelemetrySubscriptions), noClientMetrics(c))
	return c, c.ListenAddrs(), nil
}

// noClientMetrics answers GetTelemetrySubscriptions (KIP-714) as a Kafka
// broker without a client-metrics subscription does: no metrics
// requested, ask again in 5 minutes. kfake on its own subscribes every
// client to all its metrics every 30 s; nobody reads them from the
// embedded broker, and franz-go compresses each push with 4 MB lz4
// blocks, garbage that every ferry process on this broker carried.
func noClientMetrics(c *kfake.Cluster) func(kmsg.Request) (kmsg.Response, error, bool) {
	return func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req, ok := kreq.(*kmsg.GetTelemetrySubscriptionsRequest)
		if !ok {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.GetTelemetrySubscriptionsResponse)
		resp.ClientInstanceID = req.ClientInstanceID
		if resp.ClientInstanceID == [16]byte{} {
			_, _ = rand.Read(resp.ClientInstanceID[:])
		}
		resp.PushIntervalMillis = int32((5 * time.Minute).Milliseconds())
		return resp, nil, true
	}
}

// kfakeLogger forwards the embedded broker's warnings and errors to slog.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	default:
		return
	}
	l.log.Log(context.Background(), sl, fmt.Sprintf(msg, args...))
}

// startRedis starts the embedded in-process Redis (miniredis) on a free
// loopback port. The caller must Close it.
func startRedis() (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	return m, nil
}

// syncWrites reports whether the embedded broker fsyncs each batch before
// acknowledging it: with a data_dir, unless kafka.embedded.sync_writes is
// false.
func syncWrites(e topics.EmbeddedConfig) bool {
	return e.DataDir != "" && (e.SyncWrites == nil || *e.SyncWrites)
}
