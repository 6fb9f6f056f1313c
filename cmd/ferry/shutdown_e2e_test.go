package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestSIGTERMAnswersWaiters sends SIGTERM to bin/ferry while sync requests
// wait for replies that will not come in the grace period (1 s; their wait
// is 20 s): every caller is answered before the process exits, never with
// a reset or a 503 that invites a retry of a record already in Kafka:
// on_timeout: accept routes answer 202 + Location, on_timeout: fail routes
// 504 reply-timeout with the request id. The process exits 0.
func TestSIGTERMAnswersWaiters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: "${FERRY_LISTEN}"
server: { access_log: false, grace_period: 1s }
kafka: { brokers: [%q] }
redis: { url: %q }
correlator: { key_prefix: %q }
routes:
  - { name: accept, path: /v1/accept, topic: %s, auth: none, reply: { topic: %s, timeout: 20s } }
  - { name: fail, path: /v1/fail, topic: %s, auth: none, reply: { topic: %s, timeout: 20s, on_timeout: fail } }
`, e.addrs[0], e.redisURL, e.prefix, quotesTopic, repliesTopic, strictTopic, repliesTopic)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	p := startFerryConfig(t, cfg, addr, "", "FERRY_LISTEN="+addr)
	var wg sync.WaitGroup
	answers := make(chan response, 20)
	for i := range 20 {
		path := "/v1/accept"
		if i%2 == 1 {
			path = "/v1/fail"
		}
		wg.Go(func() {
			r, err := doErr("POST", "http://"+addr+path, `{}`)
			if err != nil {
				t.Errorf("POST %s: %v (no answer)", path, err)
				return
			}
			answers <- r
		})
	}
	// All 20 are waiting once the metric says so.
	topicstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		r, err := doErr("GET", "http://"+addr+"/metrics", "")
		if err != nil {
			return err
		}
		if want := "ferry_correlator_pending 20"; !strings.Contains(r.body, want) {
			return fmt.Errorf("%s not yet", want)
		}
		return nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(answers)
	for r := range answers {
		switch {
		case r.status == 202 && r.header.Get("Location") != "":
		case r.status == 504 && problemType(t, r) == "urn:ferry:problem:reply-timeout" && strings.Contains(r.body, `"request_id"`):
		default:
			t.Errorf("answer at shutdown = %s, want 202 + Location (accept) or 504 reply-timeout (fail)", r)
		}
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("ferry exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("ferry did not exit within 10s of SIGTERM")
	}
}

// TestCheckWarnsMaxWaitOverGrace: ferry check warns about a route whose
// longest wait outlasts the grace period (its callers get their early
// answer at shutdown), and not about one that fits.
func TestCheckWarnsMaxWaitOverGrace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(`server: { grace_period: 10s }
routes:
  - { name: long, path: /v1/long, topic: a, auth: none, reply: { topic: a.replies } }
  - { name: short, path: /v1/short, topic: b, auth: none, reply: { topic: b.replies, max_wait: 10s } }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.warnings) != 1 || !strings.HasPrefix(cfg.warnings[0], "routes[0].reply.max_wait: 30s is longer than server.grace_period (10s)") {
		t.Errorf("warnings = %q, want one about routes[0].reply.max_wait", cfg.warnings)
	}
}

// TestSIGTERMKeepAliveNoResets: clients that send requests back to back
// on keep-alive connections see SIGTERM (shutdown_delay: 0) as answers
// with Connection: close and then refused connections, never as a reset
// or a connection closed under a request they sent: that is a POST whose
// fate they cannot know. fasthttp closed each connection after its
// current response without saying so, and the client's next request on
// it failed.
func TestSIGTERMKeepAliveNoResets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: "${FERRY_LISTEN}"
server: { access_log: false, shutdown_delay: 0s, grace_period: 5s }
kafka: { brokers: [%q] }
redis: { url: %q }
correlator: { key_prefix: %q }
routes:
  - { name: plain, path: /v1/plain, topic: %s, auth: none }
`, e.addrs[0], e.redisURL, e.prefix, quotesTopic)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	p := startFerryConfig(t, cfg, addr, "", "FERRY_LISTEN="+addr)
	const clients = 8
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		mu       sync.Mutex
		accepted int
		bad      []string
	)
	started := make(chan struct{}, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for n := 0; ; n++ {
				if n == 20 {
					started <- struct{}{}
				}
				resp, err := client.Post("http://"+addr+"/v1/plain", "application/json", strings.NewReader(`{"a":1}`))
				var oe *net.OpError
				switch {
				case errors.As(err, &oe) && oe.Op == "dial":
					return // refused: nothing was sent, the client may go elsewhere
				case err != nil:
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == 202 {
					accepted++
				} else {
					bad = append(bad, resp.Status)
				}
				mu.Unlock()
			}
		})
	}
	for range clients {
		<-started
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("%d accepted; %d failed: %v", accepted, len(bad), bad)
	if len(bad) > 0 {
		t.Errorf("%d requests on keep-alive connections failed at SIGTERM (first: %s), want 0: each got an answer or a refused connection", len(bad), bad[0])
	}
	if err := <-p.exited; err != nil {
		t.Errorf("ferry exited with %v after SIGTERM, want 0", err)
	}
}
