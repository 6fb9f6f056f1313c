package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// hookSecret is the webhook secret of the tests (the Standard Webhooks
// test vector's).
const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookEndpoint is a webhook receiver: it checks each signature with the
// secret and counts the 2xx answers per webhook-id.
type hookEndpoint struct {
	srv       *httptest.Server
	mu        sync.Mutex
	delivered map[string]int
	requests  int
	last      *http.Request
	lastBody  []byte
	// hold, when set, makes every request for a record whose "seq" is a
	// multiple of holdEvery wait until hold is closed or the sender goes
	// away: one key stalls, so a kill finds a delivery in flight however
	// fast the machine is, while the other keys are delivered and their
	// partitions committed.
	hold      chan struct{}
	holdEvery int
}

func newHookEndpoint(t *testing.T, delay time.Duration) *hookEndpoint {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(hookSecret, "whsec_"))
	e := &hookEndpoint{delivered: make(map[string]int)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte(want)) {
			t.Errorf("request %s: signature %q, want %q", id, r.Header.Get("webhook-signature"), want)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		time.Sleep(delay) // a receiver that takes its time
		var rec struct{ Seq int }
		if e.hold != nil && json.Unmarshal(body, &rec) == nil && rec.Seq%e.holdEvery == 0 {
			select {
			case <-e.hold:
			case <-r.Context().Done():
				return // the sender is gone: nothing was delivered
			}
		}
		e.mu.Lock()
		e.delivered[id]++
		e.requests++
		e.last, e.lastBody = r, body
		e.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *hookEndpoint) counts() (distinct, requests int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.delivered), e.requests
}

// writeHookConfig writes a ferry.yaml that delivers topic to url with the
// webhook "billing", against the broker at broker.
func writeHookConfig(t *testing.T, httpAddr, broker, topic, url string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hooks", "billing.secret"), []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
listen: %q
kafka: { brokers: [%q], create_topics: false }
webhooks:
  - { name: billing, topic: %s, url: %q, secret_file: hooks/billing.secret, max_in_flight: 4,
      retry: { max_attempts: 8, backoff: 50ms, max_backoff: 1s }, session_timeout: 1s }
`, httpAddr, broker, topic, url)
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestWebhookSurvivesSIGKILL: the real ferry binary delivers a topic to a
// local endpoint; SIGKILL in mid-delivery loses nothing: after a restart
// every record produced has been delivered at least once (those in flight
// or delivered but not yet committed are delivered again). /readyz shows
// the webhook's breaker and /metrics its deliveries.
func TestWebhookSurvivesSIGKILL(t *testing.T) {
	const topic, n = "orders.events", 300
	// A short session timeout, so that the killed member's partitions
	// move on within a second, not Kafka's default 45s.
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	broker := c.ListenAddrs()[0]
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "c-%d", i%30), Value: fmt.Appendf(nil, `{"seq":%d}`, i)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ep := newHookEndpoint(t, time.Millisecond)
	ep.hold, ep.holdEvery = make(chan struct{}), 30 // the key c-0
	httpAddr := freePort(t)
	config := writeHookConfig(t, httpAddr, broker, topic, ep.srv.URL+"/hooks/orders")

	p := startFerryConfig(t, config, httpAddr, broker)
	// Kill once some deliveries are committed and others are not: the
	// restart resumes from the commit and delivers the rest again.
	admin := topics.NewAdmin(cl)
	topicstest.Eventually(t, 20*time.Second, 5*time.Millisecond, func() error {
		lag, err := admin.GroupLag(context.Background(), "ferry-webhook-billing", topic)
		if err != nil {
			return err
		}
		if lag > n/2 {
			d, _ := ep.counts()
			return fmt.Errorf("the group committed %d of %d records (%d delivered)", n-lag, n, d)
		}
		return nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	before, _ := ep.counts()
	if before == n {
		t.Fatalf("every record was delivered before the kill; the test killed nothing in mid-delivery")
	}

	close(ep.hold)
	p = startFerryConfig(t, config, httpAddr, broker)
	topicstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if d, _ := ep.counts(); d < n {
			return fmt.Errorf("%d of %d records delivered after the restart", d, n)
		}
		return nil
	})
	distinct, requests := ep.counts()
	t.Logf("SIGKILL after %d of %d records were delivered; %d requests in all, %d records delivered twice", before, n, requests, requests-distinct)
	if requests-distinct >= before {
		t.Errorf("%d records delivered again of %d delivered before the kill: the restart did not resume from the group's commit", requests-distinct, before)
	}

	ready := do(t, "GET", "http://"+httpAddr+"/readyz", "")
	if ready.status != 200 || !strings.Contains(ready.body, `"webhook.billing":"ok"`) {
		t.Errorf("/readyz = %s, want 200 with the webhook's check", ready)
	}
	metrics := do(t, "GET", "http://"+httpAddr+"/metrics", "")
	for _, want := range []string{`ferry_webhook_deliveries_total{outcome="delivered",webhook="billing"}`, `ferry_webhook_breaker_state{webhook="billing"} 0`, `ferry_webhook_lag_records{webhook="billing"}`} {
		if !strings.Contains(metrics.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	p.stop(t)

	t.Run("docs-verify-examples", func(t *testing.T) {
		ep.mu.Lock()
		h, body := ep.last.Header, ep.lastBody
		ep.mu.Unlock()
		checkVerifyExamples(t, filepath.Dir(config), h, body)
	})
}

// checkVerifyExamples runs the signature checks of docs/webhooks.md, as
// printed, on a request ferry sent (h, body), with the secret file in
// dir/hooks: both say valid, and both refuse the body with a byte added.
func checkVerifyExamples(t *testing.T, dir string, h http.Header, body []byte) {
	doc, err := os.ReadFile("../../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	block := func(lang, containing string) string {
		for _, b := range strings.Split(string(doc), "```"+lang+"\n")[1:] {
			code, _, _ := strings.Cut(b, "```")
			if strings.Contains(code, containing) {
				return code
			}
		}
		t.Fatalf("docs/webhooks.md has no %s block with %q", lang, containing)
		return ""
	}
	py, sh := block("python", "def verify"), block("sh", "openssl dgst")
	for _, tool := range []string{"python3", "openssl", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	headers := map[string]string{}
	for k := range h {
		headers[strings.ToLower(k)] = h.Get(k)
	}
	hj, _ := json.Marshal(headers)
	for _, tc := range []struct {
		name      string
		body      []byte
		py, shell string
	}{
		{"as sent", body, "True", "valid"},
		{"tampered", append(append([]byte(nil), body...), ' '), "False", "invalid signature"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "headers.json"), hj, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "body.bin"), tc.body, 0o600); err != nil {
			t.Fatal(err)
		}
		driver := py + `
import json
print(verify(open("hooks/billing.secret").read(), json.load(open("headers.json")), open("body.bin", "rb").read()))
`
		cmd := exec.Command("python3", "-c", driver)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != tc.py {
			t.Errorf("%s: the Python example printed %q (%v), want %s", tc.name, out, err, tc.py)
		}
		cmd = exec.Command("bash", "-c", sh)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "WEBHOOK_ID="+headers["webhook-id"], "WEBHOOK_TIMESTAMP="+headers["webhook-timestamp"], "WEBHOOK_SIGNATURE="+headers["webhook-signature"])
		if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != tc.shell {
			t.Errorf("%s: the shell example printed %q (%v), want %s", tc.name, out, err, tc.shell)
		}
	}
}
