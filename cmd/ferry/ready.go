package main

import (
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/ferry-gw/ferry/topics"
)

// startInfo is what serve learns while it starts that the "ferry ready"
// line reports.
type startInfo struct {
	addr          net.Addr // the HTTP listener's
	seeds         []string // the Kafka brokers the clients dial
	kafkaEmbedded bool
	redis         string // RedisConfig.Address, or the embedded one's host:port
	redisEmbedded bool
	echoTopics    []string // the demo echo responder's, when it runs
}

// readyAttrs are the attributes of the one line serve logs once it takes
// requests: where to reach it (gateway, API description and metrics
// URLs), the Kafka brokers (the embedded broker's address, for kcat) and
// where the embedded broker keeps its data, the effective Redis, and what
// it serves. Nothing in them is a credential: Redis is named by
// RedisConfig.Address, and Kafka by its brokers and SASL mechanism.
func readyAttrs(cfg *loaded, in startInfo) []slog.Attr {
	base := gatewayURL(in.addr)
	if cfg.TLS.enabled() {
		base = "https" + strings.TrimPrefix(base, "http")
	}
	attrs := []slog.Attr{
		slog.String("gateway", base),
		slog.String("addr", in.addr.String()),
		slog.String("openapi", base+"/openapi.json"),
		slog.String("asyncapi", base+"/asyncapi.json"),
	}
	if cfg.Telemetry.metricsOn() {
		attrs = append(attrs, slog.String("metrics", base+"/metrics"))
	}
	if cfg.Console.Enabled {
		attrs = append(attrs, slog.String("console", base+"/console"))
	}
	kafka := []any{"addr", strings.Join(in.seeds, ","), "embedded", in.kafkaEmbedded}
	if in.kafkaEmbedded {
		kafka = append(kafka, "data_dir", cmpOr(cfg.Kafka.Embedded.DataDir, "none (in memory, lost at exit)"))
	} else {
		kafka = append(kafka, "tls", cfg.Kafka.TLS != nil)
		if cfg.Kafka.SASL != nil {
			kafka = append(kafka, "sasl", cfg.Kafka.SASL.Mechanism)
		}
	}
	redis := []any{"addr", in.redis, "embedded", in.redisEmbedded}
	if in.redisEmbedded {
		redis = append(redis, "data", "in memory, lost at exit")
	}
	attrs = append(attrs, slog.Group("kafka", kafka...), slog.Group("redis", redis...))
	routes := make([]string, 0, len(cfg.table.Routes()))
	for _, r := range cfg.table.Routes() {
		routes = append(routes, fmt.Sprintf("%s: %s %s -> %s (auth %s)", r.Name, r.Method, r.Path, strings.Join(r.Topics(), "|"), r.Auth))
	}
	attrs = append(attrs, slog.Any("routes", routes))
	if len(cfg.Streams) > 0 {
		streams := make([]string, 0, len(cfg.Streams))
		for _, st := range cfg.Streams {
			streams = append(streams, fmt.Sprintf("%s/v1/streams/%s <- %s (auth %s)", base, st.Name, st.Topic, cmpOr(st.Auth, topics.AuthRequired)))
		}
		attrs = append(attrs, slog.Any("streams", streams))
	}
	if len(cfg.Replay.Topics) > 0 {
		attrs = append(attrs, slog.Group("replay", "topics", cfg.Replay.Topics, "scopes", cfg.Replay.Scopes))
	}
	if len(in.echoTopics) > 0 {
		attrs = append(attrs, slog.Group("echo_responder", "topics", in.echoTopics, "group", echoGroup))
	}
	return append(attrs, slog.String("version", version))
}

// gatewayURL is the base URL of a listener: http://HOST:PORT, with
// localhost for an address that listens on every interface (:8080).
func gatewayURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
