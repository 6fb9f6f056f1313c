package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// startRedisServer runs a real redis-server of the test's own on a free
// port, so that the test may SIGSTOP it without touching the machine's
// shared Redis.
func startRedisServer(t *testing.T) (addr string, proc *exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed to hang a real Redis (apt-get install redis-server): %v", err)
	}
	addr = freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	proc = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = proc.Process.Signal(syscall.SIGCONT)
		_ = proc.Process.Kill()
		_ = proc.Wait()
	})
	topicstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	return addr, proc
}

// serveOnRedisServer serves routes (YAML list items on orders.events) with
// a Redis of the test's own, which it may SIGSTOP, until the test ends.
func serveOnRedisServer(t *testing.T, routes string) (addr string, redisProc *exec.Cmd) {
	t.Helper()
	o := serveWithOwnRedis(t, "routes:"+routes+"\n", "orders.events")
	return o.addr, o.redis
}

// ownRedis is a ferry served in-process on a kfake cluster of its own and
// a redis-server of its own.
type ownRedis struct {
	addr, redisAddr string
	cluster         *kfake.Cluster
	redis           *exec.Cmd
}

// serveWithOwnRedis serves config (the YAML after the redis section) on a
// kfake cluster seeded with topics (one partition each) and a
// redis-server of the test's own, until the test ends.
func serveWithOwnRedis(t *testing.T, config string, topics ...string) ownRedis {
	t.Helper()
	raddr, redisProc := startRedisServer(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr, stop := serveFor(t, c, fmt.Sprintf("redis: { url: \"redis://%s\" }\n%s", raddr, config))
	t.Cleanup(stop)
	return ownRedis{addr: addr, redisAddr: raddr, cluster: c, redis: redisProc}
}

// TestRedisHangIsBounded SIGSTOPs a real Redis under a running ferry:
// /readyz, a rate-limited route (on_redis_error: open) and a request with
// an Idempotency-Key (on_redis_error: closed) must each answer within a
// second, as their failure modes say, instead of stalling for the TCP
// timeouts. Before redis.*_timeout they took 5-10 s.
func TestRedisHangIsBounded(t *testing.T) {
	t.Parallel()
	addr, redisProc := serveOnRedisServer(t, `
  - { name: limited, path: /v1/limited, topic: orders.events, auth: none, rate_limit: { rate: 1000 } }
  - { name: plain, path: /v1/plain, topic: orders.events, auth: none }`)
	call := func(method, path string, hdr ...string) (int, time.Duration) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(`{"a":1}`))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	if st, _ := call("POST", "/v1/limited"); st != 202 {
		t.Fatalf("before the hang: %d", st)
	}
	if err := redisProc.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = redisProc.Process.Signal(syscall.SIGCONT) }()
	for _, tt := range []struct {
		name, method, path string
		hdr                []string
		status             int
	}{
		{"readyz", "GET", "/readyz", nil, 503},
		{"rate limit fails open", "POST", "/v1/limited", nil, 202},
		{"idempotency fails closed", "POST", "/v1/plain", []string{"Idempotency-Key", `"k-1"`}, 503},
	} {
		st, took := call(tt.method, tt.path, tt.hdr...)
		if st != tt.status || took > time.Second {
			t.Errorf("%s with Redis stopped: %d in %s, want %d within 1s", tt.name, st, took.Round(time.Millisecond), tt.status)
		}
	}
}

// TestRedisStallNoSelfConflict: a Redis that stalls for 300 ms (SIGSTOP,
// then SIGCONT) under a request with a fresh Idempotency-Key must not make
// the request conflict with itself. go-redis retried the timed-out Begin
// script by default; once Redis resumed it ran both copies, the second
// found the first one's lock and the request was answered 409 "in
// progress" for a key nobody else had used (found by the chaos soak).
func TestRedisStallNoSelfConflict(t *testing.T) {
	t.Parallel()
	addr, redisProc := serveOnRedisServer(t, `
  - { name: plain, path: /v1/plain, topic: orders.events, auth: none }`)
	for i := range 3 {
		if err := redisProc.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		answer := make(chan response, 1)
		go func() {
			answer <- do(t, "POST", "http://"+addr+"/v1/plain", `{"a":1}`, "Content-Type", "application/json", "Idempotency-Key", fmt.Sprintf(`"fresh-%d"`, i))
		}()
		time.Sleep(300 * time.Millisecond) // the stall
		if err := redisProc.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if r := <-answer; r.status == 409 {
			t.Errorf("stall %d: a fresh Idempotency-Key was answered %s: the request conflicted with itself", i, r)
		}
	}
}

// TestRepliesKeptWhenRedisReturns: a reply that arrives while Redis is
// down is kept once Redis returns, for the request that was answered 202
// with its Location. The keeper gave up after three tries (about 1.3 s)
// and the reply was lost: GET /v1/results said pending until it expired.
func TestRepliesKeptWhenRedisReturns(t *testing.T) {
	t.Parallel()
	o := serveWithOwnRedis(t, `routes:
  - { name: slow, path: /v1/slow, topic: orders.events, auth: none, reply: { topic: orders.replies, timeout: 200ms, on_timeout: accept } }
`, "orders.events", "orders.replies")
	addr, c, redisProc := o.addr, o.cluster, o.redis
	r := do(t, "POST", "http://"+addr+"/v1/slow", `{"a":1}`, "Content-Type", "application/json")
	loc := r.header.Get("Location")
	if r.status != 202 || loc == "" {
		t.Fatalf("POST /v1/slow = %s, want 202 with Location after the timeout", r)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("orders.events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	fs := cl.PollRecords(ctx, 1)
	if len(fs.Records()) != 1 {
		t.Fatalf("the request record: %v", fs.Errors())
	}
	req := fs.Records()[0]

	if err := redisProc.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := rawReply(cl, req, `{"kept":true}`); err != nil {
		t.Fatal(err)
	}
	// Redis stays down longer than the keeper's former budget of three
	// tries: the length of the outage is the fault, not a wait for a
	// condition.
	time.Sleep(3 * time.Second)
	if err := redisProc.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	topicstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := do(t, "GET", "http://"+addr+loc, ""); got.status != 200 || got.body != `{"kept":true}` {
			return fmt.Errorf("GET %s = %s, want 200 with the reply", loc, got)
		}
		return nil
	})
}

// TestIdempotencyKeyNotLockedAfterRedisStall: a request whose
// Idempotency-Key could not be checked because Redis stalled is answered
// 503 (on_redis_error: closed), and its Begin, queued in Redis, still runs
// when Redis resumes and locks the key. A retry with the same key must run
// once Redis is back, not be answered 409 "in progress" until the lock
// expires (lock_ttl, 30 s here): the Settler releases the orphan lock.
func TestIdempotencyKeyNotLockedAfterRedisStall(t *testing.T) {
	t.Parallel()
	o := serveWithOwnRedis(t, `auth: { idempotency: { lock_ttl: 30s } }
routes:
  - { name: plain, path: /v1/plain, topic: orders.events, auth: none }
`, "orders.events")
	addr, raddr, redisProc := o.addr, o.redisAddr, o.redis
	rdb := redis.NewClient(&redis.Options{Addr: raddr})
	defer rdb.Close()
	// A request before the stall leaves ferry a pooled connection, on
	// which the stalled Begin is sent (a new one would stall in its
	// handshake, before the Begin).
	if r := do(t, "POST", "http://"+addr+"/v1/plain", `{"a":0}`, "Content-Type", "application/json", "Idempotency-Key", `"warm"`); r.status != 202 {
		t.Fatalf("POST before the stall = %s", r)
	}

	if err := redisProc.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r := do(t, "POST", "http://"+addr+"/v1/plain", `{"a":1}`, "Content-Type", "application/json", "Idempotency-Key", `"stalled"`)
	if err := redisProc.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if r.status != 503 {
		t.Fatalf("POST with Redis stopped = %s, want 503 (the key cannot be checked)", r)
	}
	// A command on a new connection is answered after Redis has run what
	// was queued before it: the stalled Begin has locked the key.
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	statuses := map[int]int{}
	topicstest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		last := do(t, "POST", "http://"+addr+"/v1/plain", `{"a":1}`, "Content-Type", "application/json", "Idempotency-Key", `"stalled"`)
		statuses[last.status]++
		if last.status != 202 {
			return fmt.Errorf("retry with the same key = %s", last)
		}
		return nil
	})
	t.Logf("retries until 202: %v", statuses)
}
