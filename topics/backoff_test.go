package topics_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// fetches is one poll's outcome: records on partition 0 of topic t and
// err on its partition 1 (either may be absent).
func fetches(records int, err error) kgo.Fetches {
	ft := kgo.FetchTopic{Topic: "t"}
	if records > 0 {
		p := kgo.FetchPartition{Partition: 0}
		for i := range records {
			p.Records = append(p.Records, &kgo.Record{Topic: "t", Offset: int64(i)})
		}
		ft.Partitions = append(ft.Partitions, p)
	}
	if err != nil {
		ft.Partitions = append(ft.Partitions, kgo.FetchPartition{Partition: 1, Err: err})
	}
	return kgo.Fetches{{Topics: []kgo.FetchTopic{ft}}}
}

// pauser records what is paused, as a kgo.Client would hold it.
type pauser struct{ paused map[string][]int32 }

func (p *pauser) PauseFetchPartitions(m map[string][]int32) map[string][]int32 {
	p.paused = maps.Clone(m)
	return p.paused
}

func (p *pauser) ResumeFetchPartitions(map[string][]int32) { p.paused = nil }

// TestPollBackoff: a partition that keeps failing is paused for 100 ms,
// 200 ms, ... up to 5 s while the loop goes on (on synctest's clock); the
// poll context ends when it is due back; a quiet spell resets the wait;
// the end of a poll's own context, and errors without a partition, are
// not failures.
func TestPollBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var b topics.PollBackoff
		var cl pauser
		failing := fetches(2, kerr.UnknownTopicID)

		for i, want := range []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000} {
			start := time.Now()
			got := b.After(&cl, failing)
			if len(got["t"]) != 1 || got["t"][0] != 1 || len(cl.paused["t"]) != 1 {
				t.Fatalf("failure %d: paused %v (client holds %v), want t/1", i+1, got, cl.paused)
			}
			// The loop polls on; its poll ends when t/1 is due back.
			pctx, cancel := b.Context(ctx)
			<-pctx.Done()
			cancel()
			if waited := time.Since(start); waited != want*time.Millisecond {
				t.Fatalf("failure %d: paused for %v, want %v", i+1, waited, want*time.Millisecond)
			}
			if b.After(&cl, fetches(1, nil)); cl.paused != nil {
				t.Fatalf("failure %d: still paused after its wait: %v", i+1, cl.paused)
			}
		}

		// Healthy for longer than twice the last wait: back to 100 ms.
		time.Sleep(11 * time.Second)
		b.After(&cl, fetches(1, nil))
		start := time.Now()
		b.After(&cl, failing)
		pctx, cancel := b.Context(ctx)
		<-pctx.Done()
		cancel()
		if waited := time.Since(start); waited != 100*time.Millisecond {
			t.Errorf("failure after a quiet spell: paused for %v, want 100ms", waited)
		}
		b.After(&cl, fetches(0, nil))

		for _, fs := range []kgo.Fetches{
			fetches(0, context.DeadlineExceeded),
			fetches(0, context.Canceled),
			kgo.NewErrFetch(kerr.GroupIDNotFound), // no partition: the client's own
		} {
			if got := b.After(&cl, fs); got != nil || cl.paused != nil {
				t.Errorf("After(%v) paused %v, want nothing", fs.Errors(), got)
			}
		}
		if pctx, cancel := b.Context(ctx); pctx != ctx {
			cancel()
			t.Error("Context with nothing paused is not ctx itself")
		}
	})
}

func TestRecreatedTopics(t *testing.T) {
	fs := kgo.Fetches{{Topics: []kgo.FetchTopic{
		{Topic: "a", Partitions: []kgo.FetchPartition{{Partition: 0, Err: kerr.UnknownTopicID}, {Partition: 1, Err: kerr.UnknownTopicID}}},
		{Topic: "b", Partitions: []kgo.FetchPartition{{Partition: 0, Err: kerr.NotLeaderForPartition}}},
		{Topic: "c", Partitions: []kgo.FetchPartition{{Partition: 2, Err: kerr.UnknownTopicID}}},
	}}}
	if got := topics.RecreatedTopics(fs); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("RecreatedTopics() = %v, want [a c]", got)
	}
	if got := topics.RecreatedTopics(fetches(2, nil)); got != nil {
		t.Errorf("RecreatedTopics(no errors) = %v, want none", got)
	}
}
