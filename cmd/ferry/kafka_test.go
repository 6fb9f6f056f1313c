package main

import (
	"bytes"
	"log/slog"
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
