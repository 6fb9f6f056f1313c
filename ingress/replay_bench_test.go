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
// raw franz-go consumer (default options, counting records), against the
// same in-process broker. Each iteration does both, one after the other,
// so that both see the same machine load; it reports the records/s of
// each and their ratio. The goal is a ratio of 0.5 or better.
//
//	go test ./ingress -run '^$' -bench BenchmarkReplay -benchtime 10x -count 5
func BenchmarkReplay(b *testing.B) {
	for _, size := range []int{200, 1000} {
		const n = 100_000
		b.Run(fmt.Sprintf("records=%d/value=%dB", n, size), func(b *testing.B) {
			g := startReplay(b, consumers.ReplayConfig{MaxRecords: n})
			produceEvents(b, topicstest.Client(b, g.cluster, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders.events", n, size)
			url := g.url + "/v1/replay/orders.events?format=ndjson"
			buf := make([]byte, 64<<10)
			var viaFerry, viaKgo time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if got := readFerry(b, g.client, url, buf); got != n {
					b.Fatalf("ferry: %d records, want %d", got, n)
				}
				viaFerry += time.Since(start)
				start = time.Now()
				if got := readKgo(b, g.cluster.ListenAddrs(), n); got != n {
					b.Fatalf("franz-go: %d records, want %d", got, n)
				}
				viaKgo += time.Since(start)
			}
			ferryRate := float64(n*b.N) / viaFerry.Seconds()
			kgoRate := float64(n*b.N) / viaKgo.Seconds()
			b.ReportMetric(ferryRate, "ferry-records/s")
			b.ReportMetric(kgoRate, "franz-go-records/s")
			b.ReportMetric(ferryRate/kgoRate, "ratio")
		})
	}
}

// readFerry replays through ferry and counts the NDJSON lines.
func readFerry(tb testing.TB, client *http.Client, url string, buf []byte) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer admin")
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		tb.Fatalf("replay: %v %v", resp, err)
	}
	defer resp.Body.Close()
	lines := 0
	for {
		k, err := resp.Body.Read(buf)
		lines += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return lines
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// readKgo reads n records of orders.events from the start with a new
// franz-go client, as a consumer of the topic would.
func readKgo(tb testing.TB, seeds []string, n int) int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(50*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders.events": {
			0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}}))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			tb.Fatal(err)
		}
		got += fs.NumRecords()
	}
	return got
}
