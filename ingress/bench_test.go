package ingress_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/correlator"
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

// answeringCorrelator replies to every request as soon as it registers.
type answeringCorrelator struct{ ws *correlator.Waiters }

func (ac answeringCorrelator) Register(ctx context.Context, id, replyTopic, owner string) (*correlator.Waiter, error) {
	w, err := ac.ws.Register(ctx, id, owner, topics.ReplyTo{Topic: replyTopic, Partition: topics.NoPartition})
	if err == nil {
		ac.ws.Deliver([]byte(id), correlator.Reply{Status: 200, ContentType: "application/json", Body: []byte(`{"ok":true}`), Final: true})
	}
	return w, err
}

func (ac answeringCorrelator) Detach(_ context.Context, w *correlator.Waiter, _ string) (correlator.Reply, bool, error) {
	w.Cancel()
	return correlator.Reply{}, false, nil
}

// BenchmarkPublish drives the publish path through app.Handler() with a
// reused fasthttp.RequestCtx: request id, trace context, media type, schema
// validation (for the order route), key template, record encoding and the
// 202 body (for a request-reply route, the reply, which
// answeringCorrelator gives at once), plus the access log line (to io.Discard; as bin/ferry writes
// it with JSON logs, or through slog as with text logs). "broker" produces to
// an in-process kfake and waits for its acknowledgement.
//
// Run: go test -run '^$' -bench Publish -benchmem ./ingress
func BenchmarkPublish(b *testing.B) {
	set, table := testSetAndTable(b)
	order := readFile(b, "../testdata/payloads/order.json")
	c := topicstest.Cluster(b, 3, "orders", "anything", "slow")
	kafka := topics.NewProducer(topicstest.Client(b, c, kgo.ProducerLinger(0)), 5*time.Second)
	syncTable := replyTable(b)
	for _, bc := range []struct {
		name, path string
		producer   ingress.Producer
		slog       bool // access lines through slog (text logs), not ingress/accesslog (JSON logs)
	}{
		{"route=anything/producer=ack", "/v1/anything", ackProducer{}, false},
		{"route=anything/producer=ack/access=slog", "/v1/anything", ackProducer{}, true},
		{"route=order-schema/producer=ack", "/v1/orders", ackProducer{}, false},
		{"route=order-schema/producer=broker", "/v1/orders", kafka, false},
		{"route=reply/producer=ack", "/v1/slow", ackProducer{}, false},
		{"route=reply/producer=broker", "/v1/slow", kafka, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := []ingress.Option{ingress.WithLogger(testLogger())}
			if !bc.slog {
				opts = append(opts, ingress.WithAccessLines(io.Discard))
			}
			tab, deps := table, ingress.Deps{Producer: bc.producer, Validator: set}
			if bc.path == "/v1/slow" {
				tab, deps.Correlator = syncTable, answeringCorrelator{correlator.NewWaiters(0, 0)}
				_, deps.Results = ingress.FakeReplyDeps(nil)
			}
			srv, err := ingress.New(ingress.Config{}, tab, deps, opts...)
			if err != nil {
				b.Fatal(err)
			}
			h := srv.App().Handler()
			var ctx fasthttp.RequestCtx
			postJSON(&ctx, bc.path, order)
			b.SetBytes(int64(len(order)))
			b.ReportAllocs()
			for b.Loop() {
				h(&ctx)
				if code := ctx.Response.StatusCode(); code != 202 && code != 200 {
					b.Fatalf("status %d: %s", code, ctx.Response.Body())
				}
				ctx.Response.Reset()
			}
		})
	}
}

// postJSON makes ctx a POST of the JSON body to path, for a handler
// called directly.
func postJSON(ctx *fasthttp.RequestCtx, path string, body []byte) {
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI(path)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetBody(body)
}

// replyTable is the routes of a request-reply route, /v1/slow, whose
// replies answeringCorrelator gives at once.
func replyTable(tb testing.TB) *topics.Table {
	tb.Helper()
	t, err := topics.NewTable([]topics.RouteConfig{{Name: "slow", Path: "/v1/slow", Topic: "slow", Auth: topics.AuthNone,
		Reply: &topics.ReplyConfig{Topic: "slow.replies", Timeout: time.Minute, OnTimeout: "accept"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}
