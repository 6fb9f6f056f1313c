package main

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestProduceCompression: ferry's records are uncompressed unless
// kafka.compression names a codec, as with Kafka's own producers, so that
// any consumer reads them: a client without the snappy library (Debian's
// python3-kafka) fails on a snappy batch, which franz-go's default would
// write. A codec that is named is used; an unknown one is refused.
func TestProduceCompression(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		config string
		want   uint8 // the batch's compression attribute: 0 none, 2 snappy, 4 zstd
	}{
		{"", 0},
		{"compression: none, ", 0},
		{"compression: snappy, ", 2},
		{"compression: zstd, ", 4},
	} {
		t.Run(strings.TrimSuffix(tt.config, ", "), func(t *testing.T) {
			t.Parallel()
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			addr, stop := serveFor(t, c, `
kafka: { `+tt.config+`brokers: ["BROKER"], create_topics: false }
routes:
  - { name: e, path: /v1/events, topic: events, auth: none }
`)
			defer stop()
			body := `{"note":"` + strings.Repeat("compressible ", 40) + `"}`
			if r := do(t, "POST", "http://"+addr+"/v1/events", body, "Content-Type", "application/json"); r.status != 202 {
				t.Fatalf("POST = %s", r)
			}
			recs := topicstest.Read(t, c, "events", 1, 5*time.Second)
			if len(recs) != 1 || string(recs[0].Value) != body {
				t.Fatalf("records %v, want the body", recs)
			}
			if got := recs[0].Attrs.CompressionType(); got != tt.want {
				t.Errorf("batch compression %d, want %d", got, tt.want)
			}
		})
	}
	err := topics.Config{Compression: "brotli"}.WithDefaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "compression") {
		t.Errorf("Validate of compression brotli = %v, want an error naming compression", err)
	}
}
