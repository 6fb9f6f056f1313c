package metrics_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-gw/ferry/ingress/metrics"
)

func ExampleRecorder() {
	reg := prometheus.NewRegistry()
	m, _ := metrics.NewRecorder(reg)
	m.RateLimit("create-order", metrics.RateLimitLimited)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "ferry_rate_limit_decisions_total" {
			fmt.Println(mf.GetName(), mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	// Output: ferry_rate_limit_decisions_total 1
}
