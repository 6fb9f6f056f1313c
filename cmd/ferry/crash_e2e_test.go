package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashKeepsReplies runs two bin/ferry instances on one broker and one
// Redis, sends 200 asynchronous requests (202 + Location) to instance A,
// SIGKILLs A before any responder answered, then starts a responder: every
// reply must become retrievable from instance B. In the partition layout
// the replies go to A's leased partition, which B must adopt once A's lease
// expires; in the shared layout every instance reads every partition.
func TestCrashKeepsReplies(t *testing.T) {
	for _, layout := range []string{"partition", "shared"} {
		t.Run(layout, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := filepath.Join(t.TempDir(), "ferry.yaml")
			if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: "${FERRY_LISTEN}"
server: { access_log: false }
kafka: { brokers: [%q] }
redis: { url: %q }
correlator: { key_prefix: %q, layout: %s, lease_ttl: 1s }
routes:
  - { name: quote, path: /v1/quotes, topic: %s, auth: none, reply: { topic: %s } }
`, e.addrs[0], e.redisURL, e.prefix, layout, quotesTopic, repliesTopic)), 0o644); err != nil {
				t.Fatal(err)
			}
			start := func() *process {
				addr := freePort(t)
				return startFerryConfig(t, cfg, addr, "", "FERRY_LISTEN="+addr)
			}
			a, b := start(), start()

			const n = 200
			locations := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					r := do(t, "POST", "http://"+a.http+"/v1/quotes", fmt.Sprintf(`{"n":%d}`, i), "Prefer", "respond-async")
					if r.status != 202 || r.header.Get("Location") == "" {
						t.Errorf("request %d: %s, want 202 with a Location", i, r)
					}
					locations[i] = r.header.Get("Location")
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-a.exited

			resp := exec.Command(ferryBinary(t), "respond", "--echo", "-c", cfg, "--brokers", e.addrs[0])
			resp.Env = append(os.Environ(), "FERRY_LISTEN=127.0.0.1:0")
			if err := resp.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Process.Signal(os.Interrupt); _ = resp.Wait() }()

			// Within a lease TTL and a renewal interval B adopts A's
			// partition; the responder needs a moment too.
			deadline := time.Now().Add(30 * time.Second)
			lost := n
			for time.Now().Before(deadline) {
				lost = 0
				for i, loc := range locations {
					r := do(t, "GET", "http://"+b.http+loc, "")
					var body struct{ N int }
					if r.status != 200 || json.Unmarshal([]byte(r.body), &body) != nil || body.N != i {
						lost++
					}
				}
				if lost == 0 {
					break
				}
				time.Sleep(500 * time.Millisecond) // replies arrive on their own time: polled, not awaited
			}
			if lost > 0 {
				t.Errorf("%d of %d replies to requests the killed instance accepted are not retrievable from the other", lost, n)
			}
			b.stop(t)
		})
	}
}
