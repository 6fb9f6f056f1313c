package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// BenchmarkDeliver measures deliveries/s to a local endpoint that answers
// 204 at once: b.N records already in the topic (produced outside the
// timer) are consumed, signed, POSTed and committed.
//
//	go test -run '^$' -bench Deliver -benchtime 20000x ./consumers/webhook/
func BenchmarkDeliver(b *testing.B) {
	for _, bc := range []struct {
		keys, inFlight int
	}{{1, 16}, {1000, 16}, {1000, 64}} {
		b.Run(fmt.Sprintf("keys=%d/max_in_flight=%d", bc.keys, bc.inFlight), func(b *testing.B) {
			c := topicstest.Cluster(b, 3, topic)
			var got atomic.Int64
			all := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if got.Add(1) == int64(b.N) {
					close(all)
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			b.Cleanup(srv.Close)
			cl := topicstest.Client(b, c, kgo.ProducerLinger(5*time.Millisecond))
			value := make([]byte, 1024)
			for i := range b.N {
				cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%bc.keys), Value: value}, nil)
			}
			if err := cl.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.ResetTimer()
			began := time.Now()
			start(b, c, Config{Name: "bench", Topic: topic, URL: srv.URL, MaxInFlight: bc.inFlight})
			<-all
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "deliveries/s")
		})
	}
}
