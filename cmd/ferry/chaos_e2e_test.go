package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/consumers/respond"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// chaosStatuses are the answers ferry documents for the chaos routes:
// 202 and 200 (stored, answered), 409 (the same Idempotency-Key in
// progress), 503 (Kafka, Redis or shutting down: retry), 504 never (the
// sync route accepts on timeout).
var chaosStatuses = map[int]bool{200: true, 202: true, 409: true, 503: true}

// TestChaos is a bounded soak (CHAOS_S seconds, default 60, the CI run; `make chaos`
// runs 300): two bin/ferry instances on one broker and one real Redis,
// with a responder, under steady mixed load (asynchronous publishes with
// an Idempotency-Key, retried once on the other instance when the
// connection breaks; synchronous requests; clients that give up
// mid-wait), while faults are injected at random from a seed it prints
// (CHAOS_SEED replays the schedule): SIGKILL or SIGTERM of an instance
// and a restart, SIGSTOP/SIGCONT of Redis, Kafka produce errors and
// latency (kfake), the responder stopped and started. At the end it
// checks that every 202 is in Kafka exactly once per Idempotency-Key,
// that no key was produced twice, that every 200 carried its own reply,
// that every answer was a documented status, that SSE subscribers that
// resume (after a kill, a shutdown, or leaving by themselves) saw no gap
// and no duplicate, and that the instances' goroutines and waiters came
// back to their baseline.
func TestChaos(t *testing.T) {
	dur := 60 * time.Second
	if s := os.Getenv("CHAOS_S"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("CHAOS_S=%q: want a number of seconds", s)
		}
		dur = time.Duration(n) * time.Second
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: want a number", s)
		}
		seed = n
	}
	t.Logf("chaos: %v, seed %d (CHAOS_SEED=%d replays this schedule of faults)", dur, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	const ordersTopic, quotesTopic, repliesTopic = "chaos.orders", "chaos.quotes", "chaos.replies"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, ordersTopic, quotesTopic, repliesTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	broker := c.ListenAddrs()[0]
	redisAddr, redisProc := startRedisServer(t)
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: "${FERRY_LISTEN}"
server: { access_log: false, shutdown_delay: 0s, grace_period: 5s }
kafka: { brokers: [%q], create_topics: false, produce_timeout: 3s }
redis: { url: "redis://%s" }
correlator: { layout: shared }
routes:
  - { name: orders, path: /v1/orders, topic: %s, auth: none }
  - { name: quote, path: /v1/quotes, topic: %s, auth: none, reply: { topic: %s, timeout: 2s, max_wait: 4s } }
streams:
  - { name: feed, topic: %s, auth: none }
`, broker, redisAddr, ordersTopic, quotesTopic, repliesTopic, ordersTopic)), 0o644); err != nil {
		t.Fatal(err)
	}

	// gauge reads one gauge of an instance's /metrics, -1 when it cannot.
	gauge := func(addr, name string) int {
		r, err := doErr("GET", "http://"+addr+"/metrics", "")
		if err != nil {
			return -1
		}
		for _, line := range strings.Split(r.body, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err == nil {
					return int(f)
				}
			}
		}
		return -1
	}
	// The instances, restarted on the same address after a kill; each
	// notes its goroutines once it is up, its baseline.
	addrs := [2]string{freePort(t), freePort(t)}
	var procMu sync.Mutex
	var procs [2]*process
	var baselines [2]int
	start := func(i int) {
		procs[i] = startFerryConfig(t, cfg, addrs[i], broker, "FERRY_LISTEN="+addrs[i])
		baselines[i] = gauge(addrs[i], "go_goroutines")
	}
	for i := range procs {
		start(i)
	}

	// The responder: echoes each request's body.
	var respMu sync.Mutex
	var stopResponder func()
	startResponder := func() {
		r, err := respond.New(respond.Config{Topics: []string{quotesTopic}, Group: "chaos-echo"},
			[]kgo.Opt{kgo.SeedBrokers(broker), kgo.ProducerLinger(0)}, echoHandler(echoOptions{}), respond.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = r.Run(ctx) }()
		stopResponder = func() { cancel(); <-done; _ = r.Close() }
	}
	startResponder()
	defer func() { respMu.Lock(); stopResponder(); respMu.Unlock() }()

	// The load.
	type outcome struct {
		status int    // 0: the connection broke (twice, for retried ones)
		err    string // the last transport error
	}
	var (
		mu        sync.Mutex
		async     = make(map[string]outcome) // Idempotency-Key → answer
		statuses  = make(map[int]int)
		badReply  []string
		connErrs  atomic.Int64
		gaveUp    atomic.Int64
		undocumen []string
	)
	note := func(status int) {
		mu.Lock()
		defer mu.Unlock()
		statuses[status]++
		if status != 0 && !chaosStatuses[status] {
			undocumen = append(undocumen, strconv.Itoa(status))
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	post := func(ctx context.Context, addr, path, body string, hdr ...string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, "")
		buf := make([]byte, 4096)
		for {
			n, rerr := resp.Body.Read(buf)
			b.Write(buf[:n])
			if rerr != nil {
				break
			}
		}
		return resp.StatusCode, b.String(), nil
	}
	// SSE subscribers that resume, on either instance, whenever their
	// stream breaks or they leave.
	followers := []*sseFollower{newSSEFollower(addrs[:], "/v1/streams/feed?envelope=true"), newSSEFollower([]string{addrs[1], addrs[0]}, "/v1/streams/feed?envelope=true")}
	followCtx, stopFollowing := context.WithCancel(context.Background())
	defer stopFollowing()
	var following sync.WaitGroup
	for _, f := range followers {
		following.Go(func() { f.run(followCtx) })
	}
	stop := make(chan struct{})
	var load sync.WaitGroup
	for w := range 4 { // asynchronous publishes
		load.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				body := fmt.Sprintf(`{"k":%q}`, key)
				first := (w + i) % 2
				st, _, err := post(context.Background(), addrs[first], "/v1/orders", body, "Idempotency-Key", key)
				if err != nil {
					// The answer is unknown: the client retries with the same
					// key on the other instance, as a client of a gateway does.
					connErrs.Add(1)
					st, _, err = post(context.Background(), addrs[1-first], "/v1/orders", body, "Idempotency-Key", key)
				}
				o := outcome{status: st}
				if err != nil {
					o = outcome{err: err.Error()}
					connErrs.Add(1)
				}
				note(st)
				mu.Lock()
				async[key] = o
				mu.Unlock()
			}
		})
	}
	for w := range 2 { // synchronous requests; some clients give up mid-wait
		load.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("q%d-%d", w, i)
				ctx, cancel := context.WithCancel(context.Background())
				if i%7 == 3 {
					ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
				}
				st, body, err := post(ctx, addrs[i%2], "/v1/quotes", fmt.Sprintf(`{"q":%q}`, key))
				cancel()
				switch {
				case err != nil && i%7 == 3:
					gaveUp.Add(1)
					continue
				case err != nil:
					connErrs.Add(1)
					continue
				}
				note(st)
				if st == 200 && body != fmt.Sprintf(`{"q":%q}`, key) {
					mu.Lock()
					badReply = append(badReply, key+": "+body)
					mu.Unlock()
				}
			}
		})
	}

	// The faults.
	faults := make(map[string]int)
	var produceFaults atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		switch n := produceFaults.Load(); {
		case n > 0 && produceFaults.CompareAndSwap(n, n-1):
			if n%2 == 0 {
				return nil, errors.New("chaos: produce fault"), true // the connection is closed
			}
			time.Sleep(300 * time.Millisecond) // latency, then handled normally
		}
		return nil, nil, false
	})
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(500+rng.IntN(1000)) * time.Millisecond) // the schedule's pace
		i := rng.IntN(2)
		switch kind := []string{"sigkill", "sigterm", "redis-stop", "produce-errors", "responder-restart"}[rng.IntN(5)]; kind {
		case "sigkill", "sigterm":
			procMu.Lock()
			p := procs[i]
			sig := syscall.SIGKILL
			if kind == "sigterm" {
				sig = syscall.SIGTERM
			}
			_ = p.cmd.Process.Signal(sig)
			select {
			case <-p.exited:
			case <-time.After(20 * time.Second):
				t.Errorf("instance %d did not exit after %s", i, kind)
			}
			start(i)
			procMu.Unlock()
			faults[kind]++
		case "redis-stop":
			_ = redisProc.Process.Signal(syscall.SIGSTOP)
			time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
			_ = redisProc.Process.Signal(syscall.SIGCONT)
			faults[kind]++
		case "produce-errors":
			produceFaults.Store(int64(2 + rng.IntN(6)))
			faults[kind]++
		case "responder-restart":
			respMu.Lock()
			stopResponder()
			time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
			startResponder()
			respMu.Unlock()
			faults[kind]++
		}
	}
	close(stop)
	load.Wait()
	produceFaults.Store(0)

	// The invariants.
	inKafka := make(map[string]int)
	cl := topicstest.Client(t, c, kgo.ConsumeTopics(ordersTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ends := topicstest.Count(t, c, ordersTopic)
	var read int64
	partitionEnds := make(map[int32]int64)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for read < ends && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			read++
			partitionEnds[r.Partition] = max(partitionEnds[r.Partition], r.Offset+1)
			var v struct{ K string }
			if json.Unmarshal(r.Value, &v) == nil {
				inKafka[v.K]++
			}
		})
	}
	var lost, dup []string
	accepted := 0
	for key, o := range async {
		if o.status == 202 {
			accepted++
			if inKafka[key] == 0 {
				lost = append(lost, key)
			}
		}
	}
	for key, n := range inKafka {
		if n > 1 {
			dup = append(dup, fmt.Sprintf("%s×%d", key, n))
		}
	}
	sort.Strings(lost)
	sort.Strings(dup)
	// The subscribers catch up with the end of the topic, then leave.
	var lagging error
	catchUp := time.Now().Add(30 * time.Second)
	for {
		lagging = nil
		for i, f := range followers {
			if err := f.caughtUp(partitionEnds); err != nil {
				lagging = fmt.Errorf("subscriber %d: %w", i, err)
			}
		}
		if lagging == nil || time.Now().After(catchUp) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polls the subscribers
	}
	stopFollowing()
	following.Wait()
	var sseProblems []string
	sseEvents, sseResumes := 0, 0
	for i, f := range followers {
		f.mu.Lock()
		sseEvents += f.events
		sseResumes += f.resumes
		for _, p := range f.problems {
			sseProblems = append(sseProblems, fmt.Sprintf("subscriber %d: %s", i, p))
		}
		f.mu.Unlock()
	}
	// Once the load stopped, every instance is back to its baseline of
	// goroutines (within a margin for Kafka and Redis connections) and
	// holds no waiter.
	client.CloseIdleConnections()
	leak := ""
	deadline = time.Now().Add(15 * time.Second)
	for {
		leak = ""
		for i, a := range addrs {
			if g, p := gauge(a, "go_goroutines"), gauge(a, "ferry_correlator_pending"); g > baselines[i]+25 || p != 0 {
				leak += fmt.Sprintf("instance %d: %d goroutines (%d at start), %d waiters; ", i, g, baselines[i], p)
			}
		}
		if leak == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polls /metrics
	}

	var table strings.Builder
	fmt.Fprintf(&table, "\n%-22s %s\n", "fault", "injected")
	for _, k := range []string{"sigkill", "sigterm", "redis-stop", "produce-errors", "responder-restart"} {
		fmt.Fprintf(&table, "%-22s %d\n", k, faults[k])
	}
	fmt.Fprintf(&table, "%-22s %d (sync requests given up mid-wait)\n", "client-disconnect", gaveUp.Load())
	held := func(ok bool) string {
		if ok {
			return "held"
		}
		return "VIOLATED"
	}
	fmt.Fprintf(&table, "\n%-40s %s\n", "invariant", "result")
	fmt.Fprintf(&table, "%-40s %s (%d accepted, %d lost)\n", "every 202 is in Kafka", held(len(lost) == 0), accepted, len(lost))
	fmt.Fprintf(&table, "%-40s %s (%d records, %d keys twice)\n", "once per Idempotency-Key", held(len(dup) == 0), read, len(dup))
	fmt.Fprintf(&table, "%-40s %s (%d wrong)\n", "every 200 carries its own reply", held(len(badReply) == 0), len(badReply))
	fmt.Fprintf(&table, "%-40s %s (%d events, %d resumes, %d gaps or duplicates)\n", "SSE resumes: no gap, no duplicate", held(len(sseProblems) == 0 && lagging == nil), sseEvents, sseResumes, len(sseProblems))
	fmt.Fprintf(&table, "%-40s %s (%v; %d broken connections)\n", "every answer is documented", held(len(undocumen) == 0), statuses, connErrs.Load())
	fmt.Fprintf(&table, "%-40s %s %s\n", "goroutines and waiters back to baseline", held(leak == ""), leak)
	t.Log(table.String())

	if len(lost) > 0 {
		t.Errorf("seed %d: %d records answered 202 are not in Kafka: %v", seed, len(lost), lost[:min(5, len(lost))])
	}
	if len(dup) > 0 {
		t.Errorf("seed %d: %d Idempotency-Keys produced more than once: %v", seed, len(dup), dup[:min(5, len(dup))])
	}
	if len(badReply) > 0 {
		t.Errorf("seed %d: replies to the wrong request: %v", seed, badReply[:min(5, len(badReply))])
	}
	if len(sseProblems) > 0 {
		t.Errorf("seed %d: SSE subscribers that resumed saw: %v", seed, sseProblems[:min(5, len(sseProblems))])
	}
	if lagging != nil {
		t.Errorf("seed %d: an SSE subscriber did not catch up with the topic: %v", seed, lagging)
	}
	if sseEvents == 0 {
		t.Errorf("seed %d: the SSE subscribers got no record: the soak tested nothing of them", seed)
	}
	if len(undocumen) > 0 {
		t.Errorf("seed %d: undocumented statuses: %v", seed, undocumen[:min(5, len(undocumen))])
	}
	if leak != "" {
		t.Errorf("seed %d: %s", seed, leak)
	}
	if statuses[202] == 0 || statuses[200] == 0 {
		t.Errorf("seed %d: no load got through (%v): the soak tested nothing", seed, statuses)
	}
	procMu.Lock()
	for _, p := range procs {
		p.stop(t)
	}
	procMu.Unlock()
}
