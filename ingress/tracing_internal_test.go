package ingress

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/topics"
)

// replyingProducer answers every produced request at once through ws, with
// a reply record that carries traceparent tp.
type replyingProducer struct {
	ws *correlator.Waiters
	tp string
}

func (p replyingProducer) Produce(_ context.Context, m *topics.Message) (topics.Position, error) {
	p.ws.Deliver([]byte(m.ID), correlator.Reply{Status: 200, Final: true, Body: []byte(`{}`), TraceParent: p.tp})
	return topics.Position{Topic: m.Topic}, nil
}

// TestTraceLinksReply: the server span of a synchronous request links to
// the trace of the reply record that answered it.
func TestTraceLinksReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tp   string
		link bool
	}{
		{name: "reply with traceparent", tp: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", link: true},
		{name: "reply without traceparent", tp: "", link: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spans := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
			table, err := topics.NewTable([]topics.RouteConfig{{Name: "quote", Path: "/v1/quotes", Topic: "q", Auth: topics.AuthNone,
				Reply: &topics.ReplyConfig{Topic: "q.replies", Timeout: 5 * time.Second, OnTimeout: "fail"}}})
			if err != nil {
				t.Fatal(err)
			}
			c := newFakeCorrelator()
			f := false
			s, err := New(Config{AccessLog: &f}, table, Deps{Producer: replyingProducer{ws: c.ws, tp: tt.tp}, Correlator: c, Results: &fakeResults{}},
				WithLogger(slog.New(slog.DiscardHandler)), WithTracing(tp, propagation.TraceContext{}))
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/v1/quotes", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("POST /v1/quotes = %d, want 200", resp.StatusCode)
			}
			got := spans.GetSpans()
			if len(got) != 1 {
				t.Fatalf("%d spans, want the server span", len(got))
			}
			links := got[0].Links
			if !tt.link {
				if len(links) != 0 {
					t.Errorf("server span links = %v, want none", links)
				}
				return
			}
			if len(links) != 1 {
				t.Fatalf("server span has %d links, want 1 to the reply", len(links))
			}
			if l := links[0].SpanContext; "00-"+l.TraceID().String()+"-"+l.SpanID().String()+"-01" != tt.tp {
				t.Errorf("link to %s/%s, want the reply's %s", l.TraceID(), l.SpanID(), tt.tp)
			}
		})
	}
}
