package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestAtomicBatch: a batch route with atomic: true writes its records in
// one Kafka transaction: a valid batch is committed whole; a batch with
// one refused record produces none of them (422), and a read_committed
// consumer sees exactly the committed records.
func TestAtomicBatch(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders.bulk"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr, stop := serveFor(t, c, `
routes:
  - { name: bulk, path: /v1/bulk, topic: orders.bulk, key: "{body./id}", auth: none, batch: { max_records: 100, atomic: true } }
`)
	defer stop()
	ok := do(t, "POST", "http://"+addr+"/v1/bulk", `[{"id":"a"},{"id":"b"},{"id":"c"}]`, "Content-Type", "application/json")
	var ans struct {
		Produced, Failed int
		Records          []struct{ Status int }
	}
	if ok.status != 200 || json.Unmarshal([]byte(ok.body), &ans) != nil || ans.Produced != 3 {
		t.Fatalf("valid atomic batch = %s, want 200 with 3 produced", ok)
	}
	bad := do(t, "POST", "http://"+addr+"/v1/bulk", `[{"id":"d"},{"no_id":1},{"id":"e"}]`, "Content-Type", "application/json")
	ans = struct {
		Produced, Failed int
		Records          []struct{ Status int }
	}{}
	if bad.status != 422 || json.Unmarshal([]byte(bad.body), &ans) != nil || ans.Produced != 0 || ans.Failed != 3 {
		t.Fatalf("atomic batch with a refused record = %s, want 422 with nothing produced", bad)
	}
	reader := topicstest.Client(t, c, kgo.ConsumeTopics("orders.bulk"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	// Read until the committed batch is seen (a loaded machine may take
	// seconds), then once more: a record of the refused batch would show.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	keys := map[string]bool{}
	for ctx.Err() == nil && !(keys["a"] && keys["b"] && keys["c"]) {
		reader.PollFetches(ctx).EachRecord(func(r *kgo.Record) { keys[string(r.Key)] = true })
	}
	more, stop := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer stop()
	reader.PollFetches(more).EachRecord(func(r *kgo.Record) { keys[string(r.Key)] = true })
	if len(keys) != 3 || !keys["a"] || !keys["b"] || !keys["c"] {
		t.Errorf("read_committed sees keys %v, want a, b and c", keys)
	}
}
