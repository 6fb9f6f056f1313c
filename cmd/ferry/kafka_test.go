package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// TestReplayKafkaOptsLogQuietly: replay clients, made per request, keep
// franz-go's info lines out of the log, even at log.kafka_level debug,
// and pass warnings on.
func TestReplayKafkaOptsLogQuietly(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts, err := replayKafkaOpts(topics.Config{}.WithDefaults(), []string{"127.0.0.1:1"}, newKafkaLog(LogConfig{KafkaLevel: "debug"}, log))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	l := cl.OptValue(kgo.WithLogger).(kgo.Logger)
	if l.Level() != kgo.LogLevelWarn {
		t.Errorf("replay client log level %v, want warn", l.Level())
	}
	l.Log(kgo.LogLevelInfo, "assigning partitions")
	l.Log(kgo.LogLevelWarn, "unable to open connection")
	if out := buf.String(); strings.Contains(out, "assigning partitions") || !strings.Contains(out, "unable to open connection") {
		t.Errorf("replay client logged:\n%s", out)
	}
}

// TestSyncWritesDefault: the embedded broker fsyncs every batch before a
// 202 when it keeps data on disk, unless told not to; in memory there is
// nothing to sync.
func TestSyncWritesDefault(t *testing.T) {
	t.Parallel()
	no := false
	for _, tt := range []struct {
		e    topics.EmbeddedConfig
		want bool
	}{
		{topics.EmbeddedConfig{}, false},
		{topics.EmbeddedConfig{DataDir: "d"}, true},
		{topics.EmbeddedConfig{DataDir: "d", SyncWrites: &no}, false},
	} {
		if got := syncWrites(tt.e); got != tt.want {
			t.Errorf("syncWrites(%+v) = %v, want %v", tt.e, got, tt.want)
		}
	}
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte("kafka: { embedded: { data_dir: d, sync_writes: false } }\nroutes: [{ name: a, path: /a, topic: t, auth: none }]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil || cfg.Kafka.Embedded.SyncWrites == nil || *cfg.Kafka.Embedded.SyncWrites {
		t.Errorf("kafka.embedded.sync_writes: false is not read: %v", err)
	}
}
