package consumers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// BenchmarkReplayer reads a 100,000-record range with Replay.Next (no
// HTTP, no encoding), against a raw franz-go consumer on the same range.
//
//	go test ./consumers -run '^$' -bench BenchmarkReplayer -benchtime 5x
func BenchmarkReplayer(b *testing.B) {
	const n = 100_000
	c := topicstest.Cluster(b, 3, "orders.events")
	rep := NewReplayer(ReplayConfig{Topics: []string{"orders.*"}, MaxRecords: n}, topics.NewAdmin(topicstest.Client(b, c)), base(c))
	b.Cleanup(func() { rep.Close() })
	value := []byte(`{"pad":"` + strings.Repeat("0123456789abcdef", 12) + `"}`)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "orders.events", Partition: int32(i % 3), Key: []byte("k" + strconv.Itoa(i)), Value: value}
	}
	if err := topicstest.Client(b, c, kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("replayer/records=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rp, err := rep.Open(context.Background(), ReplayRequest{Topic: "orders.events"})
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for {
				_, err := rp.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				got++
			}
			rp.Close()
			if got != n {
				b.Fatalf("read %d, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run(fmt.Sprintf("encode/records=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			rp, err := rep.Open(context.Background(), ReplayRequest{Topic: "orders.events"})
			if err != nil {
				b.Fatal(err)
			}
			for {
				rec, err := rp.Next(context.Background())
				if err != nil {
					break
				}
				buf = rec.AppendJSON(buf[:0])
			}
			rp.Close()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run(fmt.Sprintf("franz-go/records=%d", n), func(b *testing.B) {
		for b.Loop() {
			cl, err := kgo.NewClient(append(base(c), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders.events": {
				0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}}))...)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			got := 0
			for got < n {
				got += cl.PollFetches(ctx).NumRecords()
			}
			cancel()
			cl.Close()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkAppendJSON encodes one record by value size.
//
//	go test ./consumers -run '^$' -bench BenchmarkAppendJSON
func BenchmarkAppendJSON(b *testing.B) {
	for _, size := range []int{200, 1000, 10000} {
		b.Run(fmt.Sprintf("value=%dB", size), func(b *testing.B) {
			r := Record{Topic: "orders.events", Partition: 1, Offset: 123456, Timestamp: time.Now(), Key: []byte("c-42"),
				Headers: []topics.Header{{Key: "ce_type", Value: []byte("com.example.order.created")}, {Key: "content-type", Value: []byte("application/json")}},
				Value:   []byte(`{"pad":"` + strings.Repeat("x", size-10) + `"}`)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = r.AppendJSON(buf[:0])
			}
		})
	}
}

// eventValue is an order-like JSON event of about size bytes: many short
// strings and numbers, as real events have.
func eventValue(size int) []byte {
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet")
	v := fmt.Appendf(nil, `{"order_id":"o-%08x","customer_id":"c-%06d","total":%d.%02d,"items":[`, 0xbeef, 42, 12, 50)
	for j := 0; len(v) < size-40; j++ {
		if j > 0 {
			v = append(v, ',')
		}
		v = fmt.Appendf(v, `{"sku":"%s-%04d","qty":%d,"note":"%s %s"}`, words[j%len(words)], j, 1+j%9, words[(j+3)%len(words)], words[(j+7)%len(words)])
	}
	return append(v, "]}"...)
}

// BenchmarkValidJSON compares ValidJSON with encoding/json.Valid on
// order-like events.
//
//	go test ./consumers -run '^$' -bench BenchmarkValidJSON
func BenchmarkValidJSON(b *testing.B) {
	for _, size := range []int{200, 1000} {
		v := eventValue(size)
		b.Run(fmt.Sprintf("ferry/value=%dB", size), func(b *testing.B) {
			b.SetBytes(int64(len(v)))
			for b.Loop() {
				if !ValidJSON(v) {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(fmt.Sprintf("encoding-json/value=%dB", size), func(b *testing.B) {
			b.SetBytes(int64(len(v)))
			for b.Loop() {
				if !json.Valid(v) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
