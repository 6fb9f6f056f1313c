package ingress_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// produceEvents writes n order-like JSON events of about size bytes, with
// varied ids, amounts and words (so that they compress about as real
// events do, not as padding does), and CloudEvents-like headers, over 3
// partitions, with franz-go's default (snappy) compression.
func produceEvents(tb testing.TB, cl *kgo.Client, topic string, n, size int) {
	tb.Helper()
	rnd := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango")
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := fmt.Appendf(nil, `{"order_id":"o-%08x","customer_id":"c-%06d","total":%d.%02d,"items":[`, rnd.Uint32(), rnd.IntN(1e6), rnd.IntN(1000), rnd.IntN(100))
		for j := 0; len(v) < size-40; j++ {
			if j > 0 {
				v = append(v, ',')
			}
			v = fmt.Appendf(v, `{"sku":"%s-%04d","qty":%d,"note":"%s %s"}`, words[rnd.IntN(len(words))], rnd.IntN(1e4), 1+rnd.IntN(9),
				words[rnd.IntN(len(words))], words[rnd.IntN(len(words))])
		}
		v = append(v, "]}"...)
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % 3), Key: fmt.Appendf(nil, "c-%06d", i%5000), Value: v,
			Headers: []kgo.RecordHeader{{Key: "ce_type", Value: []byte("com.example.order.created")}, {Key: "content-type", Value: []byte("application/json")}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

// BenchmarkReplay reads the same range of records through ferry
// (GET /v1/replay over HTTP, NDJSON, the client counting lines) and with a
// raw franz-go consumer (default options, counting records), in the same
// run against the same in-process broker. The goal is ferry at
// half the raw consumer's records/s or better.
//
//	go test ./ingress -run '^$' -bench BenchmarkReplay -benchtime 5x -count 5
func BenchmarkReplay(b *testing.B) {
	for _, size := range []int{200, 1000} {
		const n = 100_000
		g := startReplay(b, consumers.ReplayConfig{MaxRecords: n})
		produceEvents(b, topicstest.Client(b, g.cluster, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders.events", n, size)
		url := g.url + "/v1/replay/orders.events?format=ndjson"

		b.Run(fmt.Sprintf("ferry-ndjson/records=%d/value=%dB", n, size), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 64<<10)
			var streamed int64
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer admin")
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("replay: %v %v", resp, err)
				}
				lines := 0
				for {
					k, err := resp.Body.Read(buf)
					lines += bytes.Count(buf[:k], []byte{'\n'})
					streamed += int64(k)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				resp.Body.Close()
				if lines != n {
					b.Fatalf("read %d records, want %d", lines, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(streamed)/float64(n*b.N), "B/record")
		})

		b.Run(fmt.Sprintf("franz-go/records=%d/value=%dB", n, size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cl, err := kgo.NewClient(kgo.SeedBrokers(g.cluster.ListenAddrs()...), kgo.MetadataMinAge(50*time.Millisecond),
					kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders.events": {
						0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}}))
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				got := 0
				for got < n {
					fs := cl.PollFetches(ctx)
					if err := fs.Err0(); err != nil {
						b.Fatal(err)
					}
					got += fs.NumRecords()
				}
				cancel()
				cl.Close()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
