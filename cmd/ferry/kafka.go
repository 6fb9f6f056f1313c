package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/ferry-gw/ferry/topics"
)

// kafkaOpts is the one place where franz-go client options are assembled.
// Producing uses acks=all with idempotent writes (franz-go's defaults, set
// explicitly here) and no linger: a lone request is sent at once, and
// concurrent requests still share batches while earlier ones are in flight.
// A record that is not acknowledged within the produce timeout fails, so it
// cannot be written long after its client was told it was not.
//
// hooks are the client's metrics and tracing hooks, from
// telemetry.kafkaHooks (one name per long-lived client).
//
// With real brokers, kafka.tls and kafka.sasl add TLS and SASL (PLAIN or
// SCRAM); the embedded broker is always plaintext without SASL.
func kafkaOpts(cfg topics.Config, seeds []string, log *slog.Logger, hooks ...kgo.Hook) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithLogger(kslog.New(log.With("component", "kafka"))),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(max(cfg.ProduceTimeout, time.Second)), // franz-go refuses less than 1s
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

// newKafkaClient builds a long-lived client from kafkaOpts.
func newKafkaClient(cfg topics.Config, seeds []string, log *slog.Logger, hooks ...kgo.Hook) (*kgo.Client, error) {
	opts, err := kafkaOpts(cfg, seeds, log, hooks...)
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(opts...)
}

// replayKafkaOpts are kafkaOpts for the replay API's short-lived clients.
// Their info lines (metadata updates, partition assignments) would come
// once per request, so they log warnings and errors only.
func replayKafkaOpts(cfg topics.Config, seeds []string, log *slog.Logger) ([]kgo.Opt, error) {
	quiet := warnOnly{kslog.New(log.With("component", "kafka", "client", "replay"))}
	opts, err := kafkaOpts(cfg, seeds, log)
	if err != nil {
		return nil, err
	}
	return append(opts, kgo.WithLogger(quiet)), nil
}

// warnOnly passes on a kgo logger's warnings and errors only.
type warnOnly struct{ kgo.Logger }

func (w warnOnly) Level() kgo.LogLevel { return min(w.Logger.Level(), kgo.LogLevelWarn) }

func (w warnOnly) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level <= kgo.LogLevelWarn {
		w.Logger.Log(level, msg, keyvals...)
	}
}
