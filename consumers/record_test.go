package consumers

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendTimestamp checks the fast formatter against time.AppendFormat
// over the years Kafka timestamps can hold, and around leap days.
func TestAppendTimestamp(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(7, 7))
	times := []time.Time{
		time.UnixMilli(0), time.UnixMilli(-1), time.UnixMilli(-86400001),
		time.Date(2000, 2, 29, 23, 59, 59, 999e6, time.UTC), time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1600, 1, 1, 0, 0, 0, 1e6, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 16, 4, 5, 123456789, time.FixedZone("x", 3600)),
	}
	for range 100000 {
		times = append(times, time.UnixMilli(rnd.Int64N(400*365*86400*1000)-100*365*86400*1000))
	}
	for _, tm := range times {
		tm = tm.Truncate(time.Millisecond)
		want := tm.UTC().AppendFormat(nil, timeLayout)
		if got := appendTimestamp(nil, tm); string(got) != string(want) {
			t.Fatalf("appendTimestamp(%v) = %s, want %s", tm, got, want)
		}
	}
}
