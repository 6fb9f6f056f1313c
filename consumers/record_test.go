package consumers

import (
	"fmt"
	"math/rand/v2"
	"sync"
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

// TestAppendTimestampRuns formats runs of close timestamps, as a replay
// does (the date cache hits, then misses at midnight), from several
// goroutines at once, each with its own days, so that they evict each
// other's cached date.
func TestAppendTimestampRuns(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 9))
			tm := time.Date(1970+g*500, 12, 31, 22, 0, 0, 0, time.UTC)
			for range 20000 {
				tm = tm.Add(time.Duration(rnd.Int64N(int64(20 * time.Minute)))).Truncate(time.Millisecond)
				want := tm.AppendFormat(nil, timeLayout)
				if got := appendTimestamp(nil, tm); string(got) != string(want) {
					errs <- fmt.Sprintf("appendTimestamp(%v) = %s, want %s", tm, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
