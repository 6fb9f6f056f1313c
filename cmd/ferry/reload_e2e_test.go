package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// writeEd25519 writes a fresh Ed25519 key pair as PEM files in dir and
// returns their paths.
func writeEd25519(t *testing.T, dir, name string) (priv, pub string) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	skDER, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	pkDER, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: skDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// TestHotReloadDropsNothing runs the real binary under steady load and
// reloads its config 20 times with SIGHUP, alternating a config that adds
// a route and tightens the schema with the first one: no request fails,
// the new route answers once /readyz shows the new config's hash, the
// tightened schema applies, a rotated JWT key replaces the old one, and a
// broken config is rejected (logged, counted) while the last good one
// keeps serving.
func TestHotReloadDropsNothing(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	key1, pub1 := writeEd25519(t, dir, "k1")
	key2, pub2 := writeEd25519(t, dir, "k2")
	const apiKey = "reload-test-key"
	sum := sha256.Sum256([]byte(apiKey))
	httpAddr := freePort(t)
	schema := func(required ...string) string {
		return fmt.Sprintf(`{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.com/s.json","type":"object","required":[%s]}`,
			`"`+strings.Join(required, `","`)+`"`)
	}
	// write writes the config (and its schema) and returns the hash
	// /readyz will show once it serves.
	write := func(withB bool, pub string) string {
		t.Helper()
		routes := `
  - { name: a, method: POST, path: /v1/a, topic: reload.a, schema: "https://example.com/s.json", scopes: [w] }`
		req := []string{"a"}
		if withB {
			routes += `
  - { name: b, method: POST, path: /v1/b, topic: reload.b, scopes: [w] }`
			req = append(req, "b")
		}
		if err := os.WriteFile(filepath.Join(dir, "schemas", "s.json"), []byte(schema(req...)), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf(`listen: %q
kafka: { brokers: [%q], create_topics: true, partitions: 1 }
auth:
  jwt: { issuer: ferry-dev, audience: ferry, keys: [{ file: %s, alg: EdDSA, kid: dev }] }
  api_keys: [{ id: load, sha256: %q, scopes: [w] }]
schemas: { dir: schemas }
routes:%s
`, httpAddr, c.ListenAddrs()[0], pub, hex.EncodeToString(sum[:]), routes)
		return writeConfig(t, filepath.Join(dir, "ferry.yaml"), cfg)
	}
	first := write(false, pub1)
	p := startFerryConfig(t, filepath.Join(dir, "ferry.yaml"), httpAddr, c.ListenAddrs()[0])
	base := "http://" + httpAddr

	readyHash := func() string {
		r, err := doErr("GET", base+"/readyz", "")
		if err != nil {
			return ""
		}
		var rd struct{ Config struct{ Hash string } }
		_ = json.Unmarshal([]byte(r.body), &rd)
		return rd.Config.Hash
	}
	if h := readyHash(); h != first {
		t.Fatalf("/readyz config hash %q, want %q", h, first)
	}
	reload := func(want string) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		topicstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
			if h := readyHash(); h != want {
				return fmt.Errorf("/readyz shows config %s, want %s", h, want)
			}
			return nil
		})
	}

	// Steady load: 4 clients, each a request after the other, a body
	// that both schemas accept.
	var sent, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := doErr("POST", base+"/v1/a", `{"a":1,"b":2}`, "Content-Type", "application/json", "X-API-Key", apiKey)
				sent.Add(1)
				if err != nil || r.status != http.StatusAccepted {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprint(r.status, " ", r.body, " ", err))
					mu.Unlock()
				}
			}
		})
	}
	started := time.Now()
	for i := range 20 {
		withB := i%2 == 0
		want := write(withB, pub1)
		reload(want)
		b := do(t, "POST", base+"/v1/b", `{}`, "Content-Type", "application/json", "X-API-Key", apiKey)
		a := do(t, "POST", base+"/v1/a", `{"a":1}`, "Content-Type", "application/json", "X-API-Key", apiKey)
		if withB && (b.status != 202 || a.status != 422) {
			t.Errorf("reload %d (route b, schema needs b): POST /v1/b = %d, POST /v1/a without b = %d; want 202 and 422", i, b.status, a.status)
		}
		if !withB && (b.status != 404 || a.status != 202) {
			t.Errorf("reload %d (no route b, schema needs a): POST /v1/b = %d, POST /v1/a without b = %d; want 404 and 202", i, b.status, a.status)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("20 reloads in %v under load: %d requests, %d failed", time.Since(started).Round(time.Millisecond), sent.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the reloads, want 0; first: %v", failed.Load(), sent.Load(), failures[:min(3, len(failures))])
	}

	// A rotated JWT key: tokens of the new key pass, the old key's fail.
	token := func(key string) string {
		out, err := exec.Command(ferryBinary(t), "token", "--key", key, "--scope", "w").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	t1, t2 := token(key1), token(key2)
	if r := do(t, "POST", base+"/v1/a", `{"a":1}`, "Content-Type", "application/json", "Authorization", "Bearer "+t1); r.status != 202 {
		t.Fatalf("token of key 1 before the rotation: %s", r)
	}
	rotated := write(false, pub2)
	reload(rotated)
	if r := do(t, "POST", base+"/v1/a", `{"a":1}`, "Content-Type", "application/json", "Authorization", "Bearer "+t1); r.status != 401 {
		t.Errorf("token of the retired key: %s, want 401", r)
	}
	if r := do(t, "POST", base+"/v1/a", `{"a":1}`, "Content-Type", "application/json", "Authorization", "Bearer "+t2); r.status != 202 {
		t.Errorf("token of the new key: %s, want 202", r)
	}

	// A broken config is rejected; the running one keeps serving.
	if err := os.WriteFile(filepath.Join(dir, "ferry.yaml"), []byte("listen: "+httpAddr+"\nroutes:\n  - { name: x, method: POST, path: /v1/x, topic: t, scopez: [w] }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	topicstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		m := do(t, "GET", base+"/metrics", "")
		if !strings.Contains(m.body, `ferry_config_reloads_total{result="rejected"} 1`) {
			return fmt.Errorf("no rejected reload counted yet")
		}
		return nil
	})
	if h := readyHash(); h != rotated {
		t.Errorf("after a rejected reload /readyz shows %s, want the running config %s", h, rotated)
	}
	if r := do(t, "POST", base+"/v1/a", `{"a":1}`, "Content-Type", "application/json", "Authorization", "Bearer "+t2); r.status != 202 {
		t.Errorf("after a rejected reload: %s, want 202", r)
	}
	if logs := p.logs.String(); !strings.Contains(logs, "config rejected") || !strings.Contains(logs, "scopez") {
		t.Errorf("the rejection is not logged with its field:\n%s", logs)
	}
	if m := do(t, "GET", base+"/metrics", ""); !strings.Contains(m.body, `ferry_config_reloads_total{result="applied"} 21`) {
		t.Errorf("/metrics lacks 21 applied reloads")
	}
	p.stop(t)
}

// TestHotReloadReplay: a reload applies the replay section: narrowing
// replay.topics refuses a topic at once (403), and new replay.scopes
// apply, while /readyz shows the new hash; a changed max_concurrent is
// named as needing a restart. (Before, the replay section kept its
// running values while /readyz showed the new file's hash.)
func TestHotReloadReplay(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.events", "audit.events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dir := t.TempDir()
	const apiKey = "replay-reload-key"
	sum := sha256.Sum256([]byte(apiKey))
	httpAddr := freePort(t)
	write := func(replay string) string {
		t.Helper()
		cfg := fmt.Sprintf(`listen: %q
kafka: { brokers: [%q], create_topics: false }
auth:
  api_keys: [{ id: ops, sha256: %q, scopes: [admin, audit] }]
replay: %s
routes:
  - { name: a, path: /v1/a, topic: orders.events, auth: none }
`, httpAddr, c.ListenAddrs()[0], hex.EncodeToString(sum[:]), replay)
		return writeConfig(t, filepath.Join(dir, "ferry.yaml"), cfg)
	}
	write(`{ topics: ["orders.*", "audit.*"] }`)
	p := startFerryConfig(t, filepath.Join(dir, "ferry.yaml"), httpAddr, c.ListenAddrs()[0])
	base := "http://" + httpAddr
	replay := func(topic string) int {
		t.Helper()
		r := do(t, "GET", base+"/v1/replay/"+topic+"?format=json", "", "X-API-Key", apiKey)
		return r.status
	}
	if st := replay("orders.events"); st != 200 {
		t.Fatalf("replay of orders.events = %d, want 200", st)
	}
	reload := func(want string) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		topicstest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
			r := do(t, "GET", base+"/readyz", "")
			if !strings.Contains(r.body, want) {
				return fmt.Errorf("/readyz = %s, want hash %s", r.body, want)
			}
			return nil
		})
	}
	reload(write(`{ topics: ["audit.*"], max_concurrent: 2 }`))
	if st := replay("orders.events"); st != 403 {
		t.Errorf("replay of orders.events after replay.topics dropped it = %d, want 403", st)
	}
	if st := replay("audit.events"); st != 200 {
		t.Errorf("replay of audit.events = %d, want 200", st)
	}
	reload(write(`{ topics: ["audit.*"], max_concurrent: 2, scopes: [auditor] }`))
	if st := replay("audit.events"); st != 403 {
		t.Errorf("replay with replay.scopes [auditor] by a key without it = %d, want 403", st)
	}
	p.stop(t)
	if !strings.Contains(p.logs.String(), `"needs_restart":["replay.max_concurrent"]`) {
		t.Errorf("the max_concurrent change was not named as needing a restart:\n%s", p.logs.String())
	}
}

// writeConfig writes cfg to path and returns its SHA-256, the hash
// /readyz shows once ferry serves it.
func writeConfig(t *testing.T, path, cfg string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(cfg))
	return hex.EncodeToString(h[:])
}

// sseLines opens an SSE stream and sends its lines on the returned
// channel, which is closed when the stream ends.
func sseLines(t *testing.T, url string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return lines
}

// awaitLine reads lines until one contains want, and fails after timeout
// or when the stream ends first.
func awaitLine(t *testing.T, lines <-chan string, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended before a line with %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no line with %q within %v", want, timeout)
		}
	}
}

// TestHotReloadStreams reloads streams live (issue 19): a stream that
// stays keeps its subscribers, a removed one ends them with a final
// event, a new one is served, and /openapi.json describes the new set.
func TestHotReloadStreams(t *testing.T) {
	rs := newStreamsReload(t, `
  - { name: o, path: /v1/o, topic: orders.events, auth: none }
  - { name: a, path: /v1/a, topic: audit.events, auth: none }
  - { name: q, path: /v1/q, topic: quotes.events, auth: none }`, "orders.events", "audit.events", "quotes.events")
	rs.write(`streams: [{ name: orders, topic: orders.events, auth: none }, { name: audit, topic: audit.events, auth: none }]`)
	p := rs.start()
	base := "http://" + rs.httpAddr
	orders := sseLines(t, base+"/v1/streams/orders")
	audit := sseLines(t, base+"/v1/streams/audit")
	awaitLine(t, orders, "retry:", 5*time.Second)
	awaitLine(t, audit, "retry:", 5*time.Second)

	rs.reload(p, `streams: [{ name: orders, topic: orders.events, auth: none }, { name: quotes, topic: quotes.events, auth: none }]`)
	// The removed stream's subscriber gets a final event, then the end.
	awaitLine(t, audit, `"reason":"stream_removed"`, 5*time.Second)
	for range audit {
	}
	if r := do(t, "GET", base+"/v1/streams/audit", ""); r.status != 404 {
		t.Errorf("GET a removed stream = %d, want 404", r.status)
	}
	// The stream that stays goes on on the same connection; the new one
	// is served.
	quotes := sseLines(t, base+"/v1/streams/quotes")
	awaitLine(t, quotes, "retry:", 10*time.Second)
	for _, path := range []string{"/v1/o", "/v1/q"} {
		if r := do(t, "POST", base+path, `{"n":"after-reload"}`, "Content-Type", "application/json"); r.status != 202 {
			t.Fatalf("POST %s = %d %s", path, r.status, r.body)
		}
	}
	awaitLine(t, orders, "after-reload", 10*time.Second)
	awaitLine(t, quotes, "after-reload", 10*time.Second)
	var doc struct {
		Paths map[string]struct {
			Get struct {
				Parameters []struct {
					Name   string
					Schema struct{ Enum []string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(do(t, "GET", base+"/openapi.json", "").body), &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Paths["/v1/streams/{name}"].Get.Parameters[0]; got.Name != "name" || strings.Join(got.Schema.Enum, ",") != "orders,quotes" {
		t.Errorf("/openapi.json after the reload: stream names %+v, want orders and quotes", got)
	}
	p.stop(t)
	if strings.Contains(p.logs.String(), `"needs_restart"`) {
		t.Errorf("a change of streams was named as needing a restart:\n%s", p.logs.String())
	}
}

// TestHotReloadFirstStreams: a process that started without streams
// serves the streams a reload adds, without a restart, and documents
// them in /openapi.json only then.
func TestHotReloadFirstStreams(t *testing.T) {
	rs := newStreamsReload(t, `
  - { name: o, path: /v1/o, topic: orders.events, auth: none }`, "orders.events")
	rs.write("")
	p := rs.start()
	base := "http://" + rs.httpAddr
	if r := do(t, "GET", base+"/v1/streams/orders", ""); r.status != 404 || !strings.Contains(r.body, "no streams are configured") {
		t.Errorf("GET a stream before any is configured = %s, want 404 saying no streams are configured", r)
	}
	if body := do(t, "GET", base+"/openapi.json", "").body; strings.Contains(body, "/v1/streams/") {
		t.Errorf("/openapi.json documents streams before any is configured")
	}

	rs.reload(p, "streams: [{ name: orders, topic: orders.events, auth: none }]")
	orders := sseLines(t, base+"/v1/streams/orders")
	awaitLine(t, orders, "retry:", 10*time.Second)
	if r := do(t, "POST", base+"/v1/o", `{"n":"after-reload"}`, "Content-Type", "application/json"); r.status != 202 {
		t.Fatalf("POST /v1/o = %d %s", r.status, r.body)
	}
	awaitLine(t, orders, "after-reload", 10*time.Second)
	if body := do(t, "GET", base+"/openapi.json", "").body; !strings.Contains(body, "/v1/streams/{name}") {
		t.Errorf("/openapi.json after the reload does not document the stream")
	}
	p.stop(t)
	if strings.Contains(p.logs.String(), `"needs_restart"`) {
		t.Errorf("the first streams were named as needing a restart:\n%s", p.logs.String())
	}
}

// streamsReload is a config file for the stream reload tests: a kfake
// broker with the given topics, fixed routes, and a streams section that
// write replaces.
type streamsReload struct {
	t                  *testing.T
	path, routes       string
	httpAddr, brokerAt string
}

func newStreamsReload(t *testing.T, routes string, topicNames ...string) *streamsReload {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topicNames...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &streamsReload{t: t, path: filepath.Join(t.TempDir(), "ferry.yaml"), routes: routes,
		httpAddr: freePort(t), brokerAt: c.ListenAddrs()[0]}
}

// write writes the config with streams (a YAML streams section, or
// nothing) and returns its hash, which /readyz shows once it serves.
func (rs *streamsReload) write(streams string) string {
	rs.t.Helper()
	cfg := fmt.Sprintf("listen: %q\nkafka: { brokers: [%q], create_topics: false }\nroutes:%s\n%s\n", rs.httpAddr, rs.brokerAt, rs.routes, streams)
	return writeConfig(rs.t, rs.path, cfg)
}

// start starts ferry on the config written last.
func (rs *streamsReload) start() *process {
	rs.t.Helper()
	return startFerryConfig(rs.t, rs.path, rs.httpAddr, rs.brokerAt)
}

// reload writes the config with streams, signals p to reload it, and
// waits until /readyz is 200 with its hash: served, and the new streams'
// topics consumed (their check).
func (rs *streamsReload) reload(p *process, streams string) {
	rs.t.Helper()
	hash := rs.write(streams)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		rs.t.Fatal(err)
	}
	topicstest.Eventually(rs.t, 15*time.Second, 5*time.Millisecond, func() error {
		if r := do(rs.t, "GET", "http://"+rs.httpAddr+"/readyz", ""); r.status != 200 || !strings.Contains(r.body, hash) {
			return fmt.Errorf("/readyz = %d %s, want 200 with hash %s", r.status, r.body, hash)
		}
		return nil
	})
}
