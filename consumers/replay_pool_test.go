package consumers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReplayPooledMemory reads compressed batches (whose records point
// into pooled decompression buffers) through several replays, one after
// the other and two at once, and checks each record as Next returns it:
// a batch's memory must not be reused while a record Next returned still
// points to it, nor a record of one replay show another's bytes.
func TestReplayPooledMemory(t *testing.T) {
	const n = 3000
	e := newEnv(t, ReplayConfig{MaxRecords: n}, "orders.events")
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "orders.events", Partition: int32(i % 3), Key: fmt.Appendf(nil, "k%d", i),
			Value: fmt.Appendf(nil, `{"n":%d,"pad":"%0200d"}`, i, i)}
	}
	// Small snappy batches: many per fetch, so that batches are released
	// and reused while a replay runs.
	p, err := kgo.NewClient(append(base(e.cluster), kgo.ProducerBatchMaxBytes(8<<10), kgo.ProducerBatchCompression(kgo.SnappyCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	check := func(rp *Replay) error {
		got := 0
		for {
			rec, err := rp.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			i := int(rec.Offset)*3 + int(rec.Partition)
			if want := fmt.Sprintf(`{"n":%d,"pad":"%0200d"}`, i, i); string(rec.Value) != want {
				return fmt.Errorf("record %d/%d: value %.40q..., want %.40q...", rec.Partition, rec.Offset, rec.Value, want)
			}
			if want := fmt.Sprintf("k%d", i); string(rec.Key) != want {
				return fmt.Errorf("record %d/%d: key %q, want %q", rec.Partition, rec.Offset, rec.Key, want)
			}
			got++
		}
		if got != n {
			return fmt.Errorf("read %d records, want %d", got, n)
		}
		return nil
	}
	open := func() *Replay {
		rp, err := e.replayer.Open(ctx, ReplayRequest{Topic: "orders.events"})
		if err != nil {
			t.Fatal(err)
		}
		return rp
	}
	for round := range 3 {
		rp := open()
		if err := check(rp); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		rp.Close()
	}
	a, b := open(), open()
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 1)
	go func() { errc <- check(a) }()
	if err := check(b); err != nil {
		t.Errorf("concurrent replay: %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("concurrent replay: %v", err)
	}
}

func TestSizedPool(t *testing.T) {
	var p sizedPool[byte]
	for _, n := range []int{0, 1, 2, 3, 1000, 1024, 1025, 1 << 20} {
		b := p.get(n)
		if len(b) != 0 || cap(b) < n {
			t.Errorf("get(%d) = len %d cap %d, want len 0 cap >= %d", n, len(b), cap(b), n)
		}
		p.put(append(b, 1))
	}
	// A slice of any capacity goes into the class it fills: what get
	// returns has room for n whichever slices were put back.
	p.put(make([]byte, 1500))
	for range 10 {
		if b := p.get(1200); cap(b) < 1200 {
			t.Fatalf("get(1200) has cap %d", cap(b))
		}
	}
	if b := p.get(1 << 40); b != nil {
		t.Errorf("get(1<<40) = cap %d, want nil (beyond the classes)", cap(b))
	}
}
