package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

var quiet = slog.New(slog.DiscardHandler)

// testKey is the HMAC key of secretFile's secret, decoded the way a
// receiver decodes it.
func testKey(t testing.TB) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verify checks a request as a Standard Webhooks receiver does, with its
// own HMAC: one of the v1 signatures over "id.timestamp.body" matches, and
// the timestamp is within five minutes.
func verify(key []byte, h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing webhook-* headers: %v", h)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("webhook-timestamp %q is not now", ts)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, _ := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if v == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid signature in %q", sigs)
}

// hit is one request the endpoint received.
type hit struct {
	id     string
	key    string
	seq    int
	n      int // this id's attempt number at the endpoint
	status int
	at     time.Time
	header http.Header
	body   []byte
}

// endpoint is a real local HTTP server that checks every signature and
// answers with respond(the request, its id's attempt number).
type endpoint struct {
	t       testing.TB
	srv     *httptest.Server
	key     []byte
	mu      sync.Mutex
	hits    []hit
	tries   map[string]int
	respond func(h hit) int
}

func newEndpoint(t testing.TB, respond func(h hit) int) *endpoint {
	t.Helper()
	e := &endpoint{t: t, key: testKey(t), tries: make(map[string]int), respond: respond}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verify(e.key, r.Header, body); err != nil {
			t.Errorf("endpoint: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var v struct {
			Key string `json:"key"`
			Seq int    `json:"seq"`
		}
		_ = json.Unmarshal(body, &v)
		h := hit{id: r.Header.Get("webhook-id"), key: v.Key, seq: v.Seq, at: time.Now(), header: r.Header.Clone(), body: body}
		e.mu.Lock()
		e.tries[h.id]++
		h.n = e.tries[h.id]
		e.mu.Unlock()
		h.status = http.StatusNoContent
		if e.respond != nil {
			h.status = e.respond(h)
		}
		e.mu.Lock()
		e.hits = append(e.hits, h)
		e.mu.Unlock()
		if h.status == http.StatusBadRequest {
			w.WriteHeader(h.status)
			_, _ = io.WriteString(w, "nope")
			return
		}
		w.WriteHeader(h.status)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// downEndpoint answers status while the returned flag is set (it starts
// set), then 200.
func downEndpoint(t testing.TB, status int) (*endpoint, *atomic.Bool) {
	t.Helper()
	var down atomic.Bool
	down.Store(true)
	return newEndpoint(t, func(hit) int {
		if down.Load() {
			return status
		}
		return http.StatusOK
	}), &down
}

// requests counts the requests received, answered or not.
func (e *endpoint) requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := 0
	for _, n := range e.tries {
		k += n
	}
	return k
}

// snapshot returns the hits so far.
func (e *endpoint) snapshot() []hit {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]hit(nil), e.hits...)
}

// delivered returns the ids answered 2xx, with how often.
func (e *endpoint) delivered() map[string]int {
	out := make(map[string]int)
	for _, h := range e.snapshot() {
		if h.status/100 == 2 {
			out[h.id]++
		}
	}
	return out
}

// base are the client options of the webhooks under test.
func base(c *kfake.Cluster) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(50 * time.Millisecond), kgo.FetchMaxWait(200 * time.Millisecond)}
}

// start runs a webhook for cfg (a secret file and defaults added) until
// the end of the test.
func start(t testing.TB, c *kfake.Cluster, cfg Config, opts ...Option) *Webhook {
	t.Helper()
	if cfg.SecretFile == "" {
		cfg.SecretFile = secretFile(t)
	}
	w, err := New(cfg, base(c), append([]Option{WithLogger(quiet), WithLagInterval(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

// produce writes records {"key":K,"seq":i} with key K to topic, in order
// per key, and returns their count.
func produce(t testing.TB, c *kfake.Cluster, topic string, keys []string, perKey int, hdrs ...kgo.RecordHeader) int {
	t.Helper()
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	var recs []*kgo.Record
	for i := range perKey {
		for _, k := range keys {
			v := fmt.Sprintf(`{"key":%q,"seq":%d}`, k, i)
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v), Headers: hdrs})
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// lag reads the group's committed lag on topic.
func lag(t testing.TB, c *kfake.Cluster, group, topic string) (int64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return topics.NewAdmin(topicstest.Client(t, c)).GroupLag(ctx, group, topic)
}

// awaitCommitted waits until group has committed every record of topic.
func awaitCommitted(t testing.TB, c *kfake.Cluster, group, topic string) {
	t.Helper()
	topicstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		l, err := lag(t, c, group, topic)
		if err != nil {
			return err
		}
		if l != 0 {
			return fmt.Errorf("group %s lags %d records on %s", group, l, topic)
		}
		return nil
	})
}

// counter is an Observer that counts.
type counter struct {
	mu       sync.Mutex
	attempts int
	retries  int
	failures map[string]int
	outcomes map[string]int
}

func newCounter() *counter {
	return &counter{failures: make(map[string]int), outcomes: make(map[string]int)}
}

func (c *counter) ObserveAttempt(a Attempt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts++
	if a.N > 1 {
		c.retries++
	}
	if a.Failure != "" {
		c.failures[a.Failure]++
	}
}

func (c *counter) ObserveOutcome(_, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes[outcome]++
}

func (c *counter) outcome(o string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outcomes[o]
}
