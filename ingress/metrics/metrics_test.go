package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-gw/ferry/topics"
)

// BenchmarkMetricsPerRequest is what metrics add to one request and one
// produce, without the HTTP stack around them.
//
// Run: go test -run '^$' -bench MetricsPerRequest -benchmem ./ingress/metrics
func BenchmarkMetricsPerRequest(b *testing.B) {
	m, err := NewRecorder(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.InFlight(1)
			m.InFlight(-1)
			m.RequestDone("create-order", "POST", 202, time.Millisecond, "")
		}
	})
	b.Run("http+exemplar", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.InFlight(1)
			m.InFlight(-1)
			m.RequestDone("create-order", "POST", 202, time.Millisecond, "4bf92f3577b34da6a3ce929d0e0e4736")
		}
	})
	b.Run("http/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.RequestDone("create-order", "POST", 202, time.Millisecond, "")
				m.ObserveProduce(topics.ProduceResult{Topic: "orders", Duration: time.Millisecond, Outcome: topics.OutcomeOK})
			}
		})
	})
	b.Run("produce", func(b *testing.B) {
		b.ReportAllocs()
		r := topics.ProduceResult{Topic: "orders", Duration: time.Millisecond, Outcome: topics.OutcomeOK}
		for b.Loop() {
			m.ObserveProduce(r)
		}
	})
}
