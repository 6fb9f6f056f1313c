package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ferryBinary builds bin/ferry once per test run, the way `make build` does.
func ferryBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ferry")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is a running bin/ferry.
type process struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	http   string
	kafka  string
	exited chan error
}

// startFerry runs bin/ferry serve with the quickstart config on free ports.
func startFerry(t *testing.T, dataDir string) *process {
	t.Helper()
	return startFerryOn(t, dataDir, freePort(t), freePort(t))
}

// startFerryOn is startFerry on given HTTP and Kafka addresses.
func startFerryOn(t *testing.T, dataDir, httpAddr, kafkaAddr string) *process {
	t.Helper()
	return startFerryConfig(t, "../../testdata/ferry.yaml", httpAddr, kafkaAddr,
		"FERRY_LISTEN="+httpAddr, "FERRY_KAFKA_LISTEN="+kafkaAddr, "FERRY_DATA_DIR="+dataDir)
}

// startFerryConfig runs bin/ferry serve -c config, with env added to the
// environment, and waits until /readyz at httpAddr answers 200.
func startFerryConfig(t *testing.T, config, httpAddr, kafkaAddr string, env ...string) *process {
	t.Helper()
	return startFerryProbe(t, config, httpAddr, kafkaAddr, func() error {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz = %d", resp.StatusCode)
		}
		return nil
	}, env...)
}

// startFerryProbe runs bin/ferry serve -c config, with env added to the
// environment, and waits until ready returns nil (or the process exits).
func startFerryProbe(t *testing.T, config, httpAddr, kafkaAddr string, ready func() error, env ...string) *process {
	t.Helper()
	p := &process{logs: &syncBuffer{}, http: httpAddr, kafka: kafkaAddr, exited: make(chan error, 1)}
	p.cmd = exec.Command(ferryBinary(t), "serve", "-c", config)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("ferry logs:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := ready()
		if err == nil {
			return p
		}
		select {
		case err := <-p.exited:
			t.Fatalf("ferry exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry not ready after 20s (last error %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("ferry exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ferry did not stop within 20s of SIGTERM")
	}
	if !strings.Contains(p.logs.String(), `"msg":"ferry stopped"`) {
		t.Errorf("logs lack the final 'ferry stopped' line")
	}
}

// devToken mints a token the way the README does: ferry token --scope
// orders:write, with the dev key of testdata/keys.
func devToken(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(ferryBinary(t), "token", "--key", "../../testdata/keys/dev-jwt.key", "--scope", "orders:write").Output()
	if err != nil {
		t.Fatalf("ferry token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// post sends body with the quickstart's credentials: a dev token from
// ferry token, or the headers given as name, value pairs instead.
func (p *process) post(t *testing.T, path string, body []byte, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+p.http+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if len(hdr) == 0 {
		hdr = []string{"Authorization", "Bearer " + devToken(t)}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("POST %s answered %d with %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// consume reads n records of topic from the embedded broker over TCP.
func consume(t *testing.T, broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	if len(out) != n {
		t.Fatalf("read %d records from %s, want %d", len(out), topic, n)
	}
	return out
}

// TestBinaryEndToEnd builds bin/ferry, runs it with the quickstart config
// on free ports, publishes over HTTP, reads the records back with franz-go
// and kcat over TCP, stops it with SIGTERM, and restarts it on the same
// data directory to see the records survive.
func TestBinaryEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	p := startFerry(t, dataDir)
	for _, want := range []string{`"msg":"ferry ready"`, `"gateway":"http://` + p.http + `"`, `"kafka":{"addr":"` + p.kafka + `","embedded":true,"data_dir":"` + dataDir + `"}`,
		`"redis":{"addr":"127.0.0.1:`, `"create-order: POST /v1/orders -> orders.commands (auth required)"`} {
		if !strings.Contains(p.logs.String(), want) {
			t.Errorf("start-up logs lack %s", want)
		}
	}

	order, err := os.ReadFile("../../testdata/payloads/order.json")
	if err != nil {
		t.Fatal(err)
	}
	code, acc := p.post(t, "/v1/orders", order)
	if code != http.StatusAccepted || acc["topic"] != "orders.commands" {
		t.Fatalf("POST /v1/orders = %d %v, want 202 on orders.commands", code, acc)
	}
	if code, prob := p.post(t, "/v1/orders", []byte(`{"customer_id":""}`)); code != http.StatusUnprocessableEntity || prob["type"] != "urn:ferry:problem:validation-failed" {
		t.Errorf("POST invalid order = %d %v, want a 422 validation problem", code, prob)
	}

	recs := consume(t, p.kafka, "orders.commands", 1)
	if string(recs[0].Key) != "c-42" || !bytes.Equal(recs[0].Value, order) {
		t.Errorf("record key %q value %q, want c-42 and the body", recs[0].Key, recs[0].Value)
	}
	hs := make(map[string]string)
	for _, h := range recs[0].Headers {
		hs[h.Key] = string(h.Value)
	}
	ceID := hs["ce_id"]
	if ceID != acc["id"] {
		t.Errorf("ce_id = %q, 202 id = %v", ceID, acc["id"])
	}
	if hs["ce_authtype"] != "app_user" || hs["ce_authid"] != "dev-user" {
		t.Errorf("ce_authtype %q ce_authid %q, want app_user and the token's subject dev-user", hs["ce_authtype"], hs["ce_authid"])
	}

	// The quickstart route requires credentials: none is a 401 that
	// produces nothing; the documented dev API key is accepted.
	if code, prob := p.post(t, "/v1/orders", order, "X-Request-ID", "no-credentials"); code != http.StatusUnauthorized || prob["type"] != "urn:ferry:problem:unauthenticated" {
		t.Errorf("POST without credentials = %d %v, want a 401 unauthenticated problem", code, prob)
	}
	if code, acc2 := p.post(t, "/v1/orders", order, "X-API-Key", "ferry-dev-only-api-key"); code != http.StatusAccepted || acc2["offset"] == acc["offset"] && acc2["partition"] == acc["partition"] {
		t.Errorf("POST with the dev API key = %d %v, want a new 202", code, acc2)
	}
	keyed := consume(t, p.kafka, "orders.commands", 2)
	for _, h := range keyed[1].Headers {
		if h.Key == "ce_authid" && string(h.Value) != "dev-orders-bot" {
			t.Errorf("API key record ce_authid = %q, want dev-orders-bot", h.Value)
		}
	}

	t.Run("kcat", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat is not installed (.ci/run installs it)")
		}
		out, err := exec.Command(kcat, "-b", p.kafka, "-C", "-t", "orders.commands", "-o", "beginning", "-e", "-q",
			"-f", "%k|%h|%s\n").CombinedOutput()
		if err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
		line := strings.TrimSpace(string(out))
		if !strings.HasPrefix(line, "c-42|") || !strings.Contains(line, "ce_id="+ceID) || !strings.Contains(line, "ce_specversion=1.0") {
			t.Errorf("kcat read %q, want key c-42 and the CloudEvents headers", line)
		}
	})

	p.stop(t)

	// The embedded broker kept the record on disk.
	p = startFerry(t, dataDir)
	consume(t, p.kafka, "orders.commands", 2)
	code, again := p.post(t, "/v1/orders", order)
	if code != http.StatusAccepted || again["partition"] != acc["partition"] || again["offset"].(float64) != acc["offset"].(float64)+2 {
		t.Errorf("after restart POST = %d %v, want the next offset after %v", code, again, acc)
	}
	p.stop(t)
}
