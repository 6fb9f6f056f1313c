package topics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// committed reads every committed record of topic (read_committed),
// waiting until the topic's end offsets are reached.
func committed(t *testing.T, cl *kgo.Client, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []string
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
}

// TestTransactorAllOrNothing: ProduceAll commits every record of a
// transaction, or, when one of them fails, none: a read_committed reader
// sees the whole first batch and nothing of the second.
func TestTransactorAllOrNothing(t *testing.T) {
	c := topicstest.Cluster(t, 3, "orders")
	txcl := topicstest.Client(t, c, kgo.TransactionalID("ferry-test"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	tx := topics.NewTransactor(txcl, 2*time.Second)
	batch := func(prefix string, topic ...string) []*topics.Message {
		var ms []*topics.Message
		for i := range 5 {
			tp := "orders"
			if i == 4 && len(topic) > 0 {
				tp = topic[0]
			}
			ms = append(ms, &topics.Message{Topic: tp, Value: fmt.Appendf(nil, "%s-%d", prefix, i), ID: fmt.Sprint(prefix, i), Time: time.Now()})
		}
		return ms
	}
	pos, err := tx.ProduceAll(context.Background(), batch("ok"))
	if err != nil || len(pos) != 5 {
		t.Fatalf("ProduceAll = %v, %v", pos, err)
	}
	if _, err := tx.ProduceAll(context.Background(), batch("bad", "no.such.topic")); err == nil {
		t.Fatal("a transaction with a record to a missing topic committed")
	}
	// The transactor is usable after an abort.
	if _, err := tx.ProduceAll(context.Background(), batch("again")); err != nil {
		t.Fatalf("after an abort: %v", err)
	}
	reader := topicstest.Client(t, c, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got := committed(t, reader, "orders")
	want := map[string]bool{}
	for _, p := range []string{"ok", "again"} {
		for i := range 5 {
			want[fmt.Sprintf("%s-%d", p, i)] = true
		}
	}
	if len(got) != len(want) {
		t.Errorf("read_committed sees %v, want the 10 records of the committed transactions", got)
	}
	for _, v := range got {
		if !want[v] {
			t.Errorf("read_committed sees %s from the aborted transaction", v)
		}
	}
}
