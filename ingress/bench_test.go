package ingress_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// ackProducer acknowledges every message at once, so a benchmark measures
// ferry's own work, not the broker's.
type ackProducer struct{}

func (ackProducer) Produce(_ context.Context, m *topics.Message) (topics.Position, error) {
	return topics.Position{Topic: m.Topic, Partition: 1, Offset: 42, Timestamp: m.Time}, nil
}

// BenchmarkPublish drives the publish path through app.Handler() with a
// reused fasthttp.RequestCtx: request id, trace context, media type, schema
// validation (for the order route), key template, record encoding and the
// 202 body, plus the access log line (to io.Discard; as bin/ferry writes
// it with JSON logs, or through slog as with text logs). "broker" produces to
// an in-process kfake and waits for its acknowledgement.
//
// Run: go test -run '^$' -bench Publish -benchmem ./ingress
func BenchmarkPublish(b *testing.B) {
	set, table := testSetAndTable(b)
	order := readFile(b, "../testdata/payloads/order.json")
	c := topicstest.Cluster(b, 3, "orders", "anything")
	kafka := topics.NewProducer(topicstest.Client(b, c, kgo.ProducerLinger(0)), 5*time.Second)
	for _, bc := range []struct {
		name, path string
		producer   ingress.Producer
		slog       bool // access lines through slog (text logs), not ingress/accesslog (JSON logs)
	}{
		{"route=anything/producer=ack", "/v1/anything", ackProducer{}, false},
		{"route=anything/producer=ack/access=slog", "/v1/anything", ackProducer{}, true},
		{"route=order-schema/producer=ack", "/v1/orders", ackProducer{}, false},
		{"route=order-schema/producer=broker", "/v1/orders", kafka, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := []ingress.Option{ingress.WithLogger(testLogger())}
			if !bc.slog {
				opts = append(opts, ingress.WithAccessLines(io.Discard))
			}
			srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: bc.producer, Validator: set}, opts...)
			if err != nil {
				b.Fatal(err)
			}
			h := srv.App().Handler()
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI(bc.path)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBody(order)
			b.SetBytes(int64(len(order)))
			b.ReportAllocs()
			for b.Loop() {
				h(&ctx)
				if code := ctx.Response.StatusCode(); code != 202 {
					b.Fatalf("status %d: %s", code, ctx.Response.Body())
				}
				ctx.Response.Reset()
			}
		})
	}
}
