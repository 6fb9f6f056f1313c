package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// logLines is a JSON log kept for a test; ready is closed when the
// "ferry ready" line is written.
type logLines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytes.Contains(p, []byte(`"msg":"ferry ready"`)) {
		l.once.Do(func() { close(l.ready) })
	}
	return l.buf.Write(p)
}

func (l *logLines) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestServeStartupReadyBlock (issue 16 items 10 and 19): serve logs one
// "ferry ready" line with the gateway's URLs, the embedded broker's
// address and where its data lives, and the effective Redis address
// without its credentials; the Kafka client's info lines (franz-go)
// stay out of the log by default.
func TestServeStartupReadyBlock(t *testing.T) {
	mr := miniredis.NewMiniRedis()
	mr.RequireUserAuth("ferry", "s3cret-redis-password")
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "ferry.yaml")
	cfgText := fmt.Sprintf(`listen: "127.0.0.1:0"
server: { access_log: false }
kafka: { embedded: { listen: "127.0.0.1:0", data_dir: data } }
redis: { url: "redis://ferry:s3cret-redis-password@%s/2" }
routes:
  - { name: quote, path: /v1/quotes, topic: quotes.requests, auth: none, reply: { topic: quotes.replies } }
streams:
  - { name: quotes, topic: quotes.requests, auth: none }
`, mr.Addr())
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig:\n%s", formatErrors(err))
	}
	logs := &logLines{ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, newLogger(cfg.Log, logs), serveOptions{echo: true}) }()
	select {
	case <-logs.ready:
	case err := <-done:
		t.Fatalf("serve() = %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no ferry ready line in 20s")
	}
	var ready map[string]any
	for _, r := range logs.records(t) {
		if r["msg"] == "ferry ready" {
			ready = r
		}
	}
	gateway, _ := ready["gateway"].(string)
	if !strings.HasPrefix(gateway, "http://127.0.0.1:") {
		t.Fatalf("ready gateway = %q, want http://127.0.0.1:PORT (line %v)", gateway, ready)
	}
	if r := do(t, "POST", gateway+"/v1/quotes", `{"q":1}`); r.status != 200 { // Kafka clients busy: producer, replies, echo
		t.Errorf("POST /v1/quotes = %s, want the echo", r)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve() = %v", err)
	}

	want := map[string]string{
		"openapi": gateway + "/openapi.json",
		"metrics": gateway + "/metrics",
	}
	for k, v := range want {
		if ready[k] != v {
			t.Errorf("ready %s = %v, want %s", k, ready[k], v)
		}
	}
	kafka, _ := ready["kafka"].(map[string]any)
	if addr, _ := kafka["addr"].(string); !strings.HasPrefix(addr, "127.0.0.1:") || kafka["embedded"] != true || kafka["data_dir"] != filepath.Join(dir, "data") {
		t.Errorf("ready kafka = %v, want the embedded broker's address and data_dir %s", kafka, filepath.Join(dir, "data"))
	}
	if redis, _ := ready["redis"].(map[string]any); redis["addr"] != "redis://"+mr.Addr()+"/2" || redis["embedded"] != false {
		t.Errorf("ready redis = %v, want redis://%s/2, not embedded", redis, mr.Addr())
	}
	if routes, _ := ready["routes"].([]any); len(routes) != 1 || !strings.Contains(fmt.Sprint(routes[0]), "POST /v1/quotes -> quotes.requests") {
		t.Errorf("ready routes = %v", ready["routes"])
	}
	if streams, _ := ready["streams"].([]any); len(streams) != 1 || !strings.Contains(fmt.Sprint(streams[0]), gateway+"/v1/streams/quotes") {
		t.Errorf("ready streams = %v", ready["streams"])
	}
	all := logs.buf.String()
	if strings.Contains(all, "s3cret-redis-password") || strings.Contains(all, "ferry:s3cret") {
		t.Errorf("the log holds Redis credentials:\n%s", all)
	}
	n := 0
	for _, r := range logs.records(t) {
		if r["msg"] == "ferry ready" {
			n++
		}
		if r["component"] == "kafka" && r["level"] == "INFO" {
			t.Errorf("a Kafka client info line in the log at the default kafka_level: %v", r)
		}
	}
	if n != 1 {
		t.Errorf("%d ferry ready lines, want 1", n)
	}
}

// TestKafkaLogLevel (issue 16 item 10): the Kafka client logs at warn by
// default; log.kafka_level lowers or raises it; replay clients never log
// below warn.
func TestKafkaLogLevel(t *testing.T) {
	for _, tt := range []struct {
		level       string
		want        kgo.LogLevel
		infoShown   bool
		replayLevel kgo.LogLevel
	}{
		{"", kgo.LogLevelWarn, false, kgo.LogLevelWarn},
		{"info", kgo.LogLevelInfo, true, kgo.LogLevelWarn},
		{"error", kgo.LogLevelError, false, kgo.LogLevelError},
		{"none", kgo.LogLevelNone, false, kgo.LogLevelNone},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		klog := newKafkaLog(LogConfig{KafkaLevel: tt.level}, log)
		opts, err := kafkaOpts(topics.Config{}.WithDefaults(), []string{"127.0.0.1:1"}, klog)
		if err != nil {
			t.Fatal(err)
		}
		l := optLogger(t, opts)
		if l.Level() != tt.want {
			t.Errorf("kafka_level %q: client log level %v, want %v", tt.level, l.Level(), tt.want)
		}
		l.Log(kgo.LogLevelInfo, "assigning partitions")
		if got := strings.Contains(buf.String(), "assigning partitions"); got != tt.infoShown {
			t.Errorf("kafka_level %q: info line logged = %v, want %v", tt.level, got, tt.infoShown)
		}
		ropts, err := replayKafkaOpts(topics.Config{}.WithDefaults(), []string{"127.0.0.1:1"}, klog)
		if err != nil {
			t.Fatal(err)
		}
		if l := optLogger(t, ropts); l.Level() != tt.replayLevel {
			t.Errorf("kafka_level %q: replay client log level %v, want %v", tt.level, l.Level(), tt.replayLevel)
		}
	}
	if _, err := (Config{Log: LogConfig{KafkaLevel: "chatty"}}).compile(); err == nil || !strings.Contains(err.Error(), "log.kafka_level: must be debug, info, warn, error or none") {
		t.Errorf("kafka_level chatty: %v", err)
	}
}

// optLogger is the kgo.Logger a client built from opts uses.
func optLogger(t *testing.T, opts []kgo.Opt) kgo.Logger {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return cl.OptValue(kgo.WithLogger).(kgo.Logger)
}
