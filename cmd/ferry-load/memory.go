package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// raiseFileLimit lifts this process's open-file limit, which the ferry it
// starts inherits, for the scenarios that hold thousands of connections:
// to want when the hard limit is lower and the process may raise it
// (root), else to the hard limit. It returns the limit in force.
func raiseFileLimit(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Max < want {
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
			return want
		}
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// keptConn is a client connection held open by a memory scenario.
type keptConn struct {
	c  net.Conn
	br *bufio.Reader
}

// openIdle opens n keep-alive connections to addr, each having made one
// GET path request, and keeps them open.
func openIdle(ctx context.Context, addr, path string, n int) ([]keptConn, error) {
	conns := make([]keptConn, 0, n)
	var d net.Dialer
	for range n {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("dial %d: %w", len(conns), err)
		}
		kc := keptConn{c: c, br: bufio.NewReaderSize(c, 1024)}
		conns = append(conns, kc)
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr); err != nil {
			closeAll(conns)
			return nil, err
		}
		resp, err := http.ReadResponse(kc.br, nil)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return conns, nil
}

func closeAll(conns []keptConn) {
	for _, kc := range conns {
		kc.c.Close()
	}
}

// settledRSS samples a process's RSS a few times, 200 ms apart, and
// returns the largest: memory in use while the load is held.
func settledRSS(s *server) int64 {
	var m int64
	for range 5 {
		time.Sleep(200 * time.Millisecond)
		m = max(m, s.usage().RSSBytes)
	}
	return m
}

// metric reads one unlabelled gauge or counter from ferry's /metrics.
func metric(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s not on /metrics", name)
}

// waitMetric polls a metric until ok says yes or timeout passes, and
// returns the last value.
func waitMetric(base, name string, timeout time.Duration, ok func(float64) bool) (float64, error) {
	deadline := time.Now().Add(timeout)
	for {
		v, err := metric(base, name)
		if (err == nil && ok(v)) || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const kb = 1 << 10

// pendingScenario holds n synchronous requests that nobody answers, each
// on its own keep-alive connection, and measures ferry's RSS per pending
// request beyond its connection: first n idle connections (each made one
// /healthz request), then one POST /v1/slow on each of those same
// connections. It then waits for the requests to time out (202, the
// route's on_timeout) and checks that ferry_correlator_pending is 0.
func (e *benchEnv) pendingScenario(ctx context.Context) ([]row, []string, error) {
	n := 10000
	if e.quick {
		n = 2000
	}
	limit := raiseFileLimit(uint64(n) + 1024)
	if err := e.restartFerry(ctx); err != nil {
		return nil, nil, err
	}
	u, _ := url.Parse(e.ferry.url)
	base := settledRSS(e.ferry)
	conns, err := openIdle(ctx, u.Host, "/healthz", n)
	if err != nil {
		return nil, nil, fmt.Errorf("%d connections (file limit %d): %w", n, limit, err)
	}
	defer closeAll(conns)
	idle := settledRSS(e.ferry)

	body := `{"customer_id":"c-1","amount":42}`
	// The requests wait reply.timeout (15 s); a quick run asks for 5 s
	// with Prefer: wait, which still leaves the sample below well inside
	// the wait.
	prefer := ""
	if e.quick {
		prefer = "Prefer: wait=5\r\n"
	}
	started := time.Now()
	for _, kc := range conns {
		if _, err := fmt.Fprintf(kc.c, "POST /v1/slow HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", u.Host, prefer, len(body), body); err != nil {
			return nil, nil, err
		}
	}
	sent := time.Now()
	peakPending, perr := waitMetric(e.ferry.url, "ferry_correlator_pending", 3*time.Second, func(v float64) bool { return v >= float64(n) })
	pending := settledRSS(e.ferry)
	sampled := time.Since(sent)
	fmt.Fprintf(e.stderr, "  %d requests sent in %s; RSS sampled %s later; ferry_correlator_pending %v (err %v)\n",
		n, sent.Sub(started).Round(time.Millisecond), sampled.Round(time.Millisecond), peakPending, perr)

	// Every request times out at the route's reply.timeout (15s) and gets
	// 202 + Location.
	statuses := make(map[string]int)
	var first time.Duration // earliest answer after the last request went out
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, kc := range conns {
		wg.Go(func() {
			_ = kc.c.SetReadDeadline(time.Now().Add(60 * time.Second))
			out := "read error"
			if resp, err := http.ReadResponse(kc.br, nil); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				out = "status " + strconv.Itoa(resp.StatusCode)
			} else if errors.Is(err, io.EOF) {
				out = "closed"
			}
			at := time.Since(sent)
			mu.Lock()
			statuses[out]++
			if first == 0 || at < first {
				first = at
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	after, aerr := waitMetric(e.ferry.url, "ferry_correlator_pending", 5*time.Second, func(v float64) bool { return v == 0 })
	// The RSS sample counts only if no request had been answered yet.
	held := first > sampled

	connKB := float64(idle-base) / float64(n) / kb
	perKB := float64(pending-idle) / float64(n) / kb
	pendingNote := fmt.Sprintf("ferry_correlator_pending %v at peak, %v after the timeouts", peakPending, after)
	if peakPending < float64(n) {
		pendingNote = fmt.Sprintf("ferry_correlator_pending read %v while %d were pending, so its return to 0 proves nothing; all %d were answered at the timeout", peakPending, n, statuses["status 202"])
	}
	if perr != nil || aerr != nil {
		pendingNote = fmt.Sprintf("ferry_correlator_pending: %v / %v", perr, aerr)
	}
	if !held {
		pendingNote += fmt.Sprintf("; INVALID: first answer %s after sending, before the RSS sample", first.Round(time.Millisecond))
	}
	v := judge(spread{perKB}, 2, true)
	if !held || aerr != nil || after != 0 || perr != nil || peakPending < float64(n) {
		v = notMet
	}
	rows := []row{{fmt.Sprintf("%d pending sync requests (nobody replies)", n), "—", "≤ 2 KB per pending request beyond the connection; pending returns to 0",
		fmt.Sprintf("%.2f KB per request (connection alone %.1f KB); %s", perKB, connKB, pendingNote), v}}
	details := []string{
		fmt.Sprintf("%d pending requests (fresh ferry): RSS %.1f MB before, %.1f MB with %d idle connections, %.1f MB with a pending request on each (sampled %s after sending); answers %v, the first %s after sending",
			n, mb(base), mb(idle), n, mb(pending), sampled.Round(time.Millisecond), statuses, first.Round(time.Millisecond)),
	}
	return rows, details, nil
}

// idleScenario holds n idle SSE subscribers on ferry's stream and
// measures ferry's RSS per subscriber, connection included.
func (e *benchEnv) idleScenario(ctx context.Context) ([]row, []string, error) {
	want := 40000 // Mercure's published figure: 40,000 at 30 KB each
	if e.quick {
		want = 2000
	}
	// ferry holds one descriptor per subscriber, and so does this
	// process: both live within the open-file limit, which only a
	// privileged process may raise past its hard limit.
	limit := raiseFileLimit(uint64(want) + 1024)
	n := min(want, int(limit)-1024)
	if err := e.restartFerry(ctx); err != nil {
		return nil, nil, err
	}
	u, _ := url.Parse(e.ferry.url)
	base := settledRSS(e.ferry)
	started := time.Now()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		// Over loopback one source address has about 28,000 ephemeral
		// ports (net.ipv4.ip_local_port_range): take a new 127.0.0.x
		// every 20,000 subscribers.
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/20000))}}
		c, _, err := dialSSEWith(ctx, d, u.Host, "/v1/streams/bench-events")
		if err != nil {
			return nil, nil, fmt.Errorf("subscriber %d (file limit %d): %w", len(conns), limit, err)
		}
		conns = append(conns, c)
	}
	subs, serr := waitMetric(e.ferry.url, `ferry_sse_subscribers{stream="bench-events"}`, 2*time.Second, func(v float64) bool { return v >= float64(n) })
	held := settledRSS(e.ferry)
	per := float64(held-base) / float64(n) / kb
	note := fmt.Sprintf("%v subscribers on /metrics", subs)
	if serr != nil {
		note = serr.Error()
	}
	goal := "≥ 40,000 on this machine, ≤ 30 KB each"
	if e.quick {
		goal = "≤ 30 KB each (quick run: 2,000; the full run holds 40,000)"
	}
	if n < want {
		note += fmt.Sprintf("; only %d: the open-file hard limit is %d and this machine does not let a process raise it", n, limit)
	}
	rows := []row{{fmt.Sprintf("SSE idle subscribers (%d)", n), "—", goal,
		fmt.Sprintf("%d held, %.1f KB each, connection included (%s)", len(conns), per, note), judge(spread{per}, 30, true)}}
	if len(conns) < want {
		rows[0].verdict = notMet
	}
	details := []string{fmt.Sprintf("%d idle SSE subscribers (fresh ferry): RSS %.1f MB before, %.1f MB with them; connected in %s; open-file limit %d",
		n, mb(base), mb(held), time.Since(started).Round(time.Millisecond), limit)}
	return rows, details, nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
