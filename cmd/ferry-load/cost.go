package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// costRate is the rate of the cost scenario: well below every variant's
// max rate, so each one is measured working, not queueing.
const costRate = 2000

// costScenario shows where ferry's publish time goes: the same 1 KB order
// published at a fixed rate through routes that add one feature at a time,
// next to the minimal Fiber + franz-go handler, with the server-side CPU
// each request costs. The processes' idle CPU over an equal window is
// subtracted. The broker runs inside ferry, so ferry's figures include
// the broker's work, and the baseline's figure adds ferry's process (its
// broker) to its own.
func (e *benchEnv) costScenario(ctx context.Context) ([]row, []string, error) {
	body, err := os.ReadFile("testdata/payloads/order.json")
	if err != nil {
		return nil, nil, err
	}
	window := 2 * e.step
	redis := redisPIDs(e.redis)
	idle := e.sampleCPU(ctx, window, redis, nil)

	type variant struct {
		name, adds string
		srv        *server
		path       string
		auth       bool
		cpu, redis float64 // measured: server CPU per request, Redis's part, µs
	}
	// In this order, each ferry route adding to the one before.
	const (
		baseline = iota
		plain
		jwt
		limited
		full
	)
	variants := []variant{
		baseline: {name: "Fiber+franz-go", adds: "baseline: produce the body, answer 202", srv: e.kafka, path: "/v1/orders"},
		plain:    {name: "ferry plain", adds: "CloudEvents record, request id, access log, metrics, traces", srv: e.ferry, path: "/v1/plain/orders"},
		jwt:      {name: "ferry + JWT", adds: "JWT verify (cached) and scope check", srv: e.ferry, path: "/v1/jwt/orders", auth: true},
		limited:  {name: "ferry + rate limit", adds: "GCRA decision in Redis", srv: e.ferry, path: "/v1/limited/orders", auth: true},
		full:     {name: "ferry full", adds: "key template and JSON Schema validation", srv: e.ferry, path: "/v1/orders", auth: true},
	}
	lines := []string{fmt.Sprintf("publish cost at %d/s for %s each (idle CPU subtracted: ferry %.3f s, baseline %.3f s, Redis %.3f s per window):",
		costRate, window, idle.ferry, idle.baseline, idle.redis)}
	table := []string{
		"## Where the publish time goes",
		"",
		fmt.Sprintf("The same 1 KB order at %d/s through routes adding one feature at a time (scenario `cost`), server CPU per request with idle CPU subtracted. ferry's process hosts the embedded broker, so its figures include the broker's work; the baseline's figure adds ferry's process (its broker) to its own.", costRate),
		"",
		"| route | adds | server CPU per request | of which Redis | p50 | p99 |",
		"|---|---|---|---|---|---|",
	}
	for i := range variants {
		v := &variants[i]
		var headers [][2]string
		if v.auth {
			headers = e.authHeaders()
		}
		ht, err := newHTTPTarget("POST", v.srv.url+v.path, body, 202, 512, 10*time.Second, headers...)
		if err != nil {
			return nil, nil, err
		}
		var res Result
		used := e.sampleCPU(ctx, window, redis, func() {
			res = runOpenLoop(ctx, Plan{Rate: costRate, Duration: window, Workers: 512}, ht.op)
		})
		n := float64(res.OK + res.Errors())
		if n == 0 {
			return nil, nil, fmt.Errorf("cost %s: no requests completed", v.name)
		}
		us := func(cpu, idle float64) float64 { return max(cpu-idle, 0) * 1e6 / n }
		v.redis = us(used.redis, idle.redis)
		v.cpu = us(used.ferry, idle.ferry) + v.redis
		if i == baseline {
			v.cpu += us(used.baseline, idle.baseline)
		}
		delta := ""
		if i > plain {
			delta = fmt.Sprintf(" (%+.0f µs)", v.cpu-variants[i-1].cpu)
		}
		redisCol := "—"
		if len(redis) > 0 {
			redisCol = fmt.Sprintf("%.0f µs", v.redis)
		}
		table = append(table, fmt.Sprintf("| %s | %s | %.0f µs%s | %s | %.2f ms | %.2f ms |", v.name, v.adds, v.cpu, delta, redisCol, res.P(50), res.P(99)))
		lines = append(lines, fmt.Sprintf("  %-18s %s | server CPU %.0f µs/req", v.name, res, v.cpu))
	}
	e.sections = append(e.sections, strings.Join(table, "\n"))
	base := variants[baseline].cpu
	// What each feature adds, against the budget a ratio goal leaves:
	// at 0.80x of the baseline's rate, a request may cost 1/0.8 of the
	// baseline's CPU, so base/0.8 - base for everything ferry adds.
	budget := base/0.8 - base
	limit := variants[limited].cpu - variants[jwt].cpu
	validation := variants[full].cpu - variants[limited].cpu
	over := func(name string, us float64) string {
		if us > budget {
			return fmt.Sprintf("%s (%.0f µs) alone costs more than that", name, us)
		}
		return fmt.Sprintf("%s (%.0f µs) fits in it", name, us)
	}
	e.bounds = append(e.bounds, fmt.Sprintf("publish vs Fiber + franz-go: CPU bounds both on this machine (the load tool, Redis and the broker share its cores). The baseline costs %.0f µs of server CPU per request at %d/s, ferry's plain route %.0f µs; ferry's per-request features add %.0f µs (rate limit %.0f µs, of which Redis %.0f µs; key template and JSON Schema validation %.0f µs). 0.80x of the baseline's max rate leaves about %.0f µs per request for everything the gateway adds: %s; %s. These are single CPU samples at a fixed rate, not rounds: read them as where the time goes, the closed-loop rows above as the verdict.",
		base, costRate, variants[plain].cpu, variants[full].cpu-variants[plain].cpu,
		limit, variants[limited].redis-variants[jwt].redis, validation, budget,
		over("the rate limit's Redis round trip", limit), over("key template and schema validation", validation)))
	return nil, lines, nil
}

// cpuUse is the CPU seconds the processes under test used over a window.
type cpuUse struct{ ferry, baseline, redis float64 }

// sampleCPU runs work (or, when nil, waits window) and returns the CPU
// ferry, the Fiber + franz-go baseline and Redis used meanwhile.
func (e *benchEnv) sampleCPU(ctx context.Context, window time.Duration, redis []int, work func()) cpuUse {
	redisCPU := func() float64 {
		var s float64
		for _, pid := range redis {
			u, _ := readProc(pid)
			s += u.CPUSeconds
		}
		return s
	}
	f0, b0, r0 := e.ferry.usage().CPUSeconds, e.kafka.usage().CPUSeconds, redisCPU()
	if work != nil {
		work()
	} else {
		select {
		case <-ctx.Done():
		case <-time.After(window):
		}
	}
	return cpuUse{e.ferry.usage().CPUSeconds - f0, e.kafka.usage().CPUSeconds - b0, redisCPU() - r0}
}

// redisPIDs finds the local redis-server processes when ferry uses the
// machine's Redis (not the embedded miniredis, whose work is ferry's).
func redisPIDs(which string) []int {
	if !strings.Contains(which, "127.0.0.1:6379") {
		return nil
	}
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	var pids []int
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err != nil || strings.TrimSpace(string(b)) != "redis-server" {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(c)), "%d", &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
