package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// closedConns is the closed-loop scenario's number of connections, as in
// `wrk -c64`.
const closedConns = 64

// closedSlice is the part of a target's window that runs at a time: a
// round goes over the targets slice by slice, so that a disturbance of
// the shared machine lasting a second or two falls on all of them, not
// on the one target whose whole window it met.
const closedSlice = time.Second

// closedScenario measures publish throughput closed loop (wrk's model):
// 64 connections, each sending the next request as soon as the previous
// one answered, for a fixed window, against the minimal Fiber + franz-go
// handler producing to the same broker. A round gives each target its
// window in slices of a second, the targets taking turns, and the order
// turns each slice and each round; each ratio is taken within a round,
// against that round's baseline. The routes are the cost scenario's:
// plain, then full (JWT + scope + key template + schema), then full with
// the Redis rate limit.
func (e *benchEnv) closedScenario(ctx context.Context) ([]row, []string, error) {
	body, err := os.ReadFile("testdata/payloads/order.json")
	if err != nil {
		return nil, nil, err
	}
	window := 4 * time.Second
	if e.quick {
		window = 2 * time.Second
	}
	const baseline = 0
	targets := []struct {
		name, path, what, goal string
		srv                    *server
		auth                   bool
		goalX                  float64
	}{
		baseline: {name: "Fiber+franz-go", srv: e.kafka, path: "/v1/orders"},
		{name: "ferry plain", srv: e.ferry, path: "/v1/plain/orders", what: "plain route (no auth, no schema, no key)", goalX: 0.90},
		{name: "ferry full", srv: e.ferry, path: "/v1/full/orders", auth: true, what: "full route: JWT + scope + key template + JSON Schema", goalX: 0.80},
		{name: "ferry full + RL", srv: e.ferry, path: "/v1/orders", auth: true, what: "full route + Redis rate limit (auth.rate_limits.local_lease 50ms)", goalX: 0.70},
	}
	ops := make([]Op, len(targets))
	for i, t := range targets {
		var headers [][2]string
		if t.auth {
			headers = e.authHeaders()
		}
		ht, err := newHTTPTarget("POST", t.srv.url+t.path, body, 202, closedConns, 10*time.Second, headers...)
		if err != nil {
			return nil, nil, err
		}
		ops[i] = ht.op
		// Warm up: connections, token and schema caches.
		if r := runClosedLoop(ctx, closedConns, window/4, ht.op); r.OK == 0 {
			return nil, nil, fmt.Errorf("closed loop %s: no request succeeded: %s", t.name, r)
		}
	}
	rates := make([]spread, len(targets))
	ratio := make([]spread, len(targets))
	failed := make([]int64, len(targets))
	var details []string
	for round := range e.rounds {
		fmt.Fprintf(e.stderr, "publish closed loop, %d connections, %s each, round %d\n", closedConns, window, round+1)
		res := make([]Result, len(targets))
		for slice := range int(window / closedSlice) {
			for k := range targets {
				i := (k + round + slice) % len(targets)
				res[i].add(runClosedLoop(ctx, closedConns, closedSlice, ops[i]))
			}
		}
		for i, r := range res {
			fmt.Fprintf(e.stderr, "  %-16s %s\n", targets[i].name, r)
		}
		for i, r := range res {
			rates[i] = append(rates[i], r.Achieved)
			failed[i] += r.Errors()
			if res[baseline].Achieved > 0 {
				ratio[i] = append(ratio[i], r.Achieved/res[baseline].Achieved)
			}
			label := fmt.Sprintf("  round %d: %-16s", round+1, targets[i].name)
			if i > 0 {
				label = fmt.Sprintf("           %-16s", targets[i].name)
			}
			details = append(details, label+" "+r.String())
		}
	}
	var rows []row
	for i, t := range targets {
		if i == baseline {
			continue
		}
		m := fmt.Sprintf("%s; %s vs %s", ratio[i].format("%.2f", "x"), rates[i].brief("%.0f", "/s"), rates[baseline].brief("%.0f", "/s"))
		v := judge(ratio[i], t.goalX, false)
		if failed[i] > 0 {
			m += fmt.Sprintf("; %d requests failed", failed[i])
			v = notMet
		}
		rows = append(rows, row{fmt.Sprintf("publish closed loop, %d connections, 1 KB JSON: %s", closedConns, t.what),
			"minimal Fiber handler calling franz-go on the same broker", fmt.Sprintf("≥ %.2fx its requests/s", t.goalX), m, v})
	}
	header := fmt.Sprintf("publish closed loop, %d connections, %s per target and round in slices of %s, the targets taking turns, %d rounds:", closedConns, window, closedSlice, e.rounds)
	return rows, append([]string{header}, details...), nil
}
