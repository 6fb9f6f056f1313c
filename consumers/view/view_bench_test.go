package view

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// BenchmarkViewCatchUp reads a topic of 1,000,000 keys (each with a
// 100-byte JSON value) into a view and reports the catch-up time and the
// heap it holds per key.
func BenchmarkViewCatchUp(b *testing.B) {
	const keys = 1_000_000
	c := topicstest.Cluster(b, 3, "state")
	cl := topicstest.Client(b, c, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	value := []byte(`{"status":"shipped","customer_id":"c-000042","amount":1234.56,"currency":"EUR","items":3,"note":"x"}`)
	var produced int
	for i := range keys {
		cl.Produce(context.Background(), &kgo.Record{Topic: "state", Key: fmt.Appendf(nil, "order-%07d", i), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
		produced++
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		began := time.Now()
		v, err := New("state", 0, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- v.Run(ctx) }()
		for v.Ready(ctx) != nil {
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(began)
		cancel()
		<-done
		v.Close()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if v.Len() != keys {
			b.Fatalf("%d keys, want %d", v.Len(), keys)
		}
		b.ReportMetric(took.Seconds(), "s/catch-up")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "B/key")
		runtime.KeepAlive(v)
	}
}

// BenchmarkViewListAfterNewKey lists the first page of a view of
// 1,000,000 keys right after a new key arrived, as a GET collection does
// on a topic that keeps getting new keys.
func BenchmarkViewListAfterNewKey(b *testing.B) {
	v, err := New("state", 2_000_000, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	for i := range 1_000_000 {
		v.apply(&kgo.Record{Key: fmt.Appendf(nil, "order-%07d", i), Value: []byte("{}")})
	}
	v.caughtUp.Store(true)
	b.ResetTimer()
	for i := range b.N {
		v.apply(&kgo.Record{Key: fmt.Appendf(nil, "new-%d", i), Value: []byte("{}")})
		if page, _, err := v.List("", "", 100); err != nil || len(page) != 100 {
			b.Fatal(len(page), err)
		}
	}
}
