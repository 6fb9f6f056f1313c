package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/ferry-gw/ferry/topics"
)

// kafkaOpts is the one place where franz-go client options are assembled.
// Producing uses acks=all with idempotent writes (franz-go's defaults, set
// explicitly here), no linger: a lone request is sent at once, and
// concurrent requests still share batches while earlier ones are in
// flight; and kafka.compression (none by default).
// A record that is not acknowledged within the produce timeout fails, so it
// cannot be written long after its client was told it was not.
//
// klog is the client's logger (newKafkaLog); hooks are the client's
// metrics and tracing hooks, from
// telemetry.kafkaHooks (one name per long-lived client).
//
// With real brokers, kafka.tls and kafka.sasl add TLS and SASL (PLAIN or
// SCRAM); the embedded broker is always plaintext without SASL.
func kafkaOpts(cfg topics.Config, seeds []string, klog kafkaLog, hooks ...kgo.Hook) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithLogger(klog.logger()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(max(cfg.ProduceTimeout, time.Second)), // franz-go refuses less than 1s
		kgo.ProducerBatchCompression(compressionCodec(cfg.Compression)),
	}
	if len(hooks) > 0 {
		opts = append(opts, kgo.WithHooks(hooks...))
	}
	if cfg.UseEmbedded() {
		return opts, nil
	}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.Load()
		if err != nil {
			return nil, fmt.Errorf("kafka.tls: %w", err)
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if sc := cfg.SASL; sc != nil {
		switch sc.Mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: sc.Username, Pass: sc.Password}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: sc.Username, Pass: sc.Password}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: sc.Username, Pass: sc.Password}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("kafka.sasl.mechanism: %q is not supported", sc.Mechanism)
		}
	}
	return opts, nil
}

// compressionCodec is the codec kafka.compression names (validated):
// none unless one is named, as Kafka's own producers do, where franz-go
// alone would choose snappy, which consumers without a snappy library
// cannot read.
func compressionCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// newKafkaClient builds a long-lived client from kafkaOpts.
func newKafkaClient(cfg topics.Config, seeds []string, klog kafkaLog, hooks ...kgo.Hook) (*kgo.Client, error) {
	opts, err := kafkaOpts(cfg, seeds, klog, hooks...)
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(opts...)
}

// replayKafkaOpts are kafkaOpts for the replay API's short-lived clients.
// Their info lines (metadata updates, partition assignments) would come
// once per request, so they log warnings and errors at most, whatever
// log.kafka_level says.
func replayKafkaOpts(cfg topics.Config, seeds []string, klog kafkaLog) ([]kgo.Opt, error) {
	opts, err := kafkaOpts(cfg, seeds, klog)
	if err != nil {
		return nil, err
	}
	quiet := kafkaLog{log: klog.log.With("client", "replay"), level: min(klog.level, kgo.LogLevelWarn)}
	return append(opts, kgo.WithLogger(quiet.logger())), nil
}

// kafkaLog is how the Kafka clients log: franz-go's lines go through slog
// (kslog) with component "kafka", and those below level are dropped.
type kafkaLog struct {
	log   *slog.Logger
	level kgo.LogLevel
}

// newKafkaLog builds the Kafka clients' logging from log.kafka_level
// (validated by loadConfig; default warn, because franz-go's info lines
// come by the dozen at start and at every rebalance).
func newKafkaLog(cfg LogConfig, log *slog.Logger) kafkaLog {
	level := kgo.LogLevelWarn
	switch strings.ToLower(cfg.KafkaLevel) {
	case "debug":
		level = kgo.LogLevelDebug
	case "info":
		level = kgo.LogLevelInfo
	case "error":
		level = kgo.LogLevelError
	case "none":
		level = kgo.LogLevelNone
	}
	return kafkaLog{log: log.With("component", "kafka"), level: level}
}

// logger is the kgo.Logger of one client.
func (k kafkaLog) logger() kgo.Logger { return levelLogger{kslog.New(k.log), k.level} }

// levelLogger passes on a kgo logger's lines at level and above only.
type levelLogger struct {
	kgo.Logger
	level kgo.LogLevel
}

func (l levelLogger) Level() kgo.LogLevel { return min(l.Logger.Level(), l.level) }

func (l levelLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level <= l.level {
		l.Logger.Log(level, msg, keyvals...)
	}
}
