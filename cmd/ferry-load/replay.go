package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// replayTopic holds the records both replays read.
const replayTopic = "bench.replay"

// replayScenario writes m records to a topic, then reads all of them
// through GET /v1/replay/{topic}?from=earliest&to=latest (NDJSON, admin
// token) and with a raw franz-go consumer over the same range, and
// compares records/s. Without a replay API in this ferry the row says so.
func (e *benchEnv) replayScenario(ctx context.Context) ([]row, []string, error) {
	m := 200000
	if e.quick {
		m = 20000
	}
	// A fresh ferry, as for the memory scenarios: the embedded broker
	// lives in ferry's process, and the records of the earlier scenarios
	// (a GB after a full run) would make the replay measure the garbage
	// collector's work on the broker's heap, which a raw consumer in its
	// own process does not share. Both readers still read the same broker.
	if err := e.restartFerry(ctx); err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	if err := ensureTopic(ctx, cl, replayTopic, 3); err != nil {
		return nil, nil, err
	}
	started := time.Now()
	var failed atomic.Int64
	for range m {
		cl.Produce(ctx, &kgo.Record{Topic: replayTopic, Value: stampedEvent(nil, time.Now())}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(e.stderr, "  produced %d records of %d B in %s (%d failed)\n", m, eventSize, time.Since(started).Round(time.Millisecond), failed.Load())

	scenario := fmt.Sprintf("replay, %d records of 256 B", m)
	const baseline, goal = "raw franz-go consumer over the same range", "≥ 0.50x records/s"
	var raw, ferry, ratio spread
	var ferryErr error
	// One replay takes about a tenth of a second, so a round is a short
	// window on a shared machine: the rounds are interleaved, and the
	// order turns each round.
	for round := range e.rounds {
		fmt.Fprintf(e.stderr, "replay, round %d\n", round+1)
		var f, r float64
		for k := range 2 {
			if (k+round)%2 == 0 {
				n, d, err := rawReplay(ctx, e.brokers, m)
				if err != nil {
					return nil, nil, err
				}
				r = float64(n) / d.Seconds()
				fmt.Fprintf(e.stderr, "  %-16s %d records in %s: %.0f/s\n", "raw consumer", n, d.Round(time.Millisecond), r)
				continue
			}
			n, d, err := e.ferryReplay(ctx, m)
			if err != nil {
				ferryErr = err
				fmt.Fprintf(e.stderr, "  %-16s not measured: %v\n", "ferry", err)
				break
			}
			f = float64(n) / d.Seconds()
			fmt.Fprintf(e.stderr, "  %-16s %d records in %s: %.0f/s\n", "ferry", n, d.Round(time.Millisecond), f)
		}
		if ferryErr != nil {
			break
		}
		raw, ferry, ratio = append(raw, r), append(ferry, f), append(ratio, f/r)
	}
	if ferryErr != nil {
		return []row{{scenario, baseline, goal, fmt.Sprintf("not measured: %v", ferryErr), notMet}},
			[]string{fmt.Sprintf("replay: ferry: %v", ferryErr)}, nil
	}
	return []row{{scenario, baseline, goal, fmt.Sprintf("%s; %s vs %s records", ratio.format("%.2f", "x"), ferry.brief("%.0f", "/s"), raw.brief("%.0f", "/s")), judge(ratio, 0.50, false)}},
		[]string{fmt.Sprintf("replay of %d records, %d interleaved rounds: ferry %s, raw consumer %s records", m, e.rounds, ferry.brief("%.0f", "/s"), raw.brief("%.0f", "/s"))}, nil
}

// rawReplay reads the replay topic from the start with a fresh consumer
// until it has m records.
func rawReplay(ctx context.Context, brokers string, m int) (int, time.Duration, error) {
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(replayTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	n := 0
	for n < m {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, time.Since(start), fmt.Errorf("raw replay: %d of %d records: %w", n, m, ctx.Err())
		}
		n += fs.NumRecords()
	}
	return n, time.Since(start), nil
}

// ferryReplay reads the whole topic through ferry's replay API and counts
// the NDJSON lines.
func (e *benchEnv) ferryReplay(ctx context.Context, m int) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ferry.url+"/v1/replay/"+replayTopic+"?from=earliest&to=latest", nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Accept", "application/x-ndjson")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return 0, 0, fmt.Errorf("/v1/replay not served (GET answered %d)", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, 0, fmt.Errorf("GET /v1/replay: %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	n := 0
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return n, time.Since(start), fmt.Errorf("replay body after %d lines: %w", n, err)
		}
	}
	d := time.Since(start)
	if n != m {
		return n, d, fmt.Errorf("replay returned %d lines, want %d", n, m)
	}
	return n, d, nil
}
