package topics_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// recorder is an Observer that keeps every result.
type recorder struct {
	mu  sync.Mutex
	got []topics.ProduceResult
}

func (r *recorder) ObserveProduce(pr topics.ProduceResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, pr)
}

func (r *recorder) results() []topics.ProduceResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]topics.ProduceResult(nil), r.got...)
}

// TestObserverSeesOutcomeAndCode checks what metrics learn about each kind
// of Produce: the outcome matches the sentinel, and the code is the Kafka
// error name when the broker gave one.
func TestObserverSeesOutcomeAndCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fail    *kerr.Error // nil: the broker accepts
		closed  bool
		timeout time.Duration
		want    []string // outcome, then the acceptable codes
	}{
		{name: "stored", timeout: time.Second, want: []string{topics.OutcomeOK, ""}},
		{name: "broker refuses for good", fail: kerr.InvalidRecord, timeout: 2 * time.Second, want: []string{topics.OutcomeRejected, "INVALID_RECORD"}},
		{name: "broker refuses until the deadline", fail: kerr.NotEnoughReplicas, timeout: 200 * time.Millisecond,
			want: []string{topics.OutcomeTimeout, "NOT_ENOUGH_REPLICAS", topics.CodeDeadline, topics.CodeRecordTimeout}},
		{name: "client closed", closed: true, timeout: time.Second, want: []string{topics.OutcomeUnavailable, topics.CodeClientClosed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := topicstest.Cluster(t, 1, "orders")
			if tt.fail != nil {
				topicstest.FailProduce(c, tt.fail)
			}
			cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
			if tt.closed {
				cl.Close()
			}
			var rec recorder
			p := topics.NewProducer(cl, tt.timeout, topics.WithObserver(&rec))
			start := time.Now()
			_, err := p.Produce(context.Background(), testMessage("orders"))
			elapsed := time.Since(start)
			got := rec.results()
			if len(got) != 1 {
				t.Fatalf("observer saw %d results, want 1 (Produce = %v)", len(got), err)
			}
			r := got[0]
			if r.Topic != "orders" || r.Duration <= 0 || r.Duration > elapsed {
				t.Errorf("result = %+v, want topic orders and a duration in (0, %v]", r, elapsed)
			}
			if r.Outcome != tt.want[0] {
				t.Errorf("Outcome = %q, want %q (Produce = %v)", r.Outcome, tt.want[0], err)
			}
			codeOK := false
			for _, c := range tt.want[1:] {
				codeOK = codeOK || r.Code == c
			}
			if !codeOK {
				t.Errorf("Code = %q, want one of %q (Produce = %v)", r.Code, tt.want[1:], err)
			}
		})
	}
}

// TestObserverCallerGaveUp: a canceled request is neither a broker failure
// nor a success.
func TestObserverCallerGaveUp(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1, "orders")
	topicstest.FailProduce(c, kerr.NotEnoughReplicas)
	var rec recorder
	p := topics.NewProducer(topicstest.Client(t, c), time.Minute, topics.WithObserver(&rec))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = p.Produce(ctx, testMessage("orders"))
	got := rec.results()
	want := []string{topics.OutcomeCanceled, topics.CodeCanceled}
	if len(got) != 1 || !cmp.Equal([]string{got[0].Outcome, got[0].Code}, want) {
		t.Errorf("results = %+v, want one with outcome and code %q", got, want)
	}
}
