package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkBatchThroughput measures records/s of 1 KB JSON records
// published three ways on one kfake broker, closed loop (8 clients, each
// sending its next request when the last one answered), in interleaved
// rounds: ferry's batch route with 100 records per request, ferry's
// single-record route (the same route config without batch), and a
// minimal Fiber handler that produces the same 100-record batch with
// franz-go and answers 200 (the baseline). Issue 21 #1. Run without -race:
//
//	go test -run '^$' -bench BatchThroughput -benchtime 3x ./cmd/ferry/
func BenchmarkBatchThroughput(b *testing.B) {
	const topic, perBatch, clients, round = "orders.bulk", 100, 8, 3 * time.Second
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	addr, stop := serveFor(b, c, `
log: { level: warn }
routes:
  - { name: bulk, path: /v1/bulk, topic: orders.bulk, key: "{body./id}", auth: none, batch: { max_records: 100 } }
  - { name: one, path: /v1/one, topic: orders.bulk, key: "{body./id}", auth: none }
`)
	defer stop()
	baseline := minimalBatchHandler(b, c.ListenAddrs()[0], topic)

	pad := strings.Repeat("x", 1000)
	record := func(i int) string { return fmt.Sprintf(`{"id":"c-%d","note":%q}`, i, pad) }
	var batch strings.Builder
	batch.WriteByte('[')
	for i := range perBatch {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.WriteString(record(i))
	}
	batch.WriteByte(']')
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	run := func(url, body string, records int) float64 {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			done int
		)
		end := time.Now().Add(round)
		for range clients {
			wg.Go(func() {
				n := 0
				for time.Now().Before(end) {
					resp, err := cl.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					var buf bytes.Buffer
					_, _ = buf.ReadFrom(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 && resp.StatusCode != 202 {
						b.Errorf("POST %s = %d %s", url, resp.StatusCode, buf.String())
						return
					}
					n += records
				}
				mu.Lock()
				done += n
				mu.Unlock()
			})
		}
		wg.Wait()
		return float64(done) / round.Seconds()
	}
	for range b.N {
		batched := run("http://"+addr+"/v1/bulk", batch.String(), perBatch)
		single := run("http://"+addr+"/v1/one", record(7), 1)
		base := run(baseline, batch.String(), perBatch)
		b.ReportMetric(batched, "ferry-batch-records/s")
		b.ReportMetric(single, "ferry-single-records/s")
		b.ReportMetric(base, "baseline-batch-records/s")
		b.Logf("records/s: ferry batch of %d %.0f, ferry single POSTs %.0f (%.1fx fewer), minimal Fiber + franz-go batch %.0f (ferry %.2fx of it)",
			perBatch, batched, single, batched/single, base, batched/base)
	}
}

// minimalBatchHandler serves a Fiber handler that splits a JSON array
// body into records with no validation and produces them with franz-go,
// answering 200 once all are acknowledged; it returns its URL.
func minimalBatchHandler(b *testing.B, broker, topic string) string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerLinger(0), kgo.DefaultProduceTopic(topic))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/batch", func(c *fiber.Ctx) error {
		body := c.Body()
		var recs []*kgo.Record
		// Split on the records' boundaries ("},{"), as a handler that
		// trusts its input would.
		for part := range bytes.SplitSeq(body[1:len(body)-1], []byte("},{")) {
			recs = append(recs, &kgo.Record{Value: append([]byte(nil), part...)})
		}
		if err := cl.ProduceSync(c.UserContext(), recs...).FirstErr(); err != nil {
			return c.SendStatus(fiber.StatusServiceUnavailable)
		}
		return c.SendStatus(fiber.StatusOK)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	b.Cleanup(func() { _ = app.ShutdownWithContext(context.Background()) })
	return "http://" + ln.Addr().String() + "/batch"
}
