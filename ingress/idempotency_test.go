package ingress_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// countingProducer acknowledges messages without a broker, counting them.
// With a release channel, each call signals entered and waits for release;
// the first failFirst calls fail as if the broker were down.
type countingProducer struct {
	calls     atomic.Int32
	failFirst int32
	entered   chan struct{}
	release   chan struct{}
}

func (p *countingProducer) Produce(_ context.Context, m *topics.Message) (topics.Position, error) {
	n := p.calls.Add(1)
	if p.release != nil {
		p.entered <- struct{}{}
		<-p.release
	}
	if n <= p.failFirst {
		return topics.Position{}, fmt.Errorf("produce: %w", topics.ErrUnavailable)
	}
	return topics.Position{Topic: m.Topic, Offset: int64(n), Timestamp: m.Time}, nil
}

// TestIdempotency: a repeat gets the first response (same event id,
// nothing produced); another body under the same key is a 422; keys are
// per principal; error answers below 500 are stored too.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	forEachRedis(t, func(t *testing.T, newClient func() redis.UniversalClient, prefix string) {
		g := startPolicyGateway(t, policyOpts{rdb: newClient(), prefix: prefix})
		alice := bearer(rsaToken(t, "alice", "orders:write"))
		bob := bearer(rsaToken(t, "bob", "orders:write"))
		with := func(hdr []string, key string) []string {
			return append(append([]string(nil), hdr...), "Idempotency-Key", key)
		}

		resp, first := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, with(alice, `"k-1"`)...)
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first POST = %d %s (replayed %q), want a fresh 202", resp.StatusCode, first, resp.Header.Get("Idempotent-Replayed"))
		}
		resp, again := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, with(alice, `"k-1"`)...)
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "true" || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("repeat = %d %s (replayed %q), want the stored 202", resp.StatusCode, again, resp.Header.Get("Idempotent-Replayed"))
		}
		if diff := cmp.Diff(decodeAccepted(t, first), decodeAccepted(t, again)); diff != "" {
			t.Errorf("repeat answered another body (-first +repeat):\n%s", diff)
		}
		resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-2"}`, with(alice, `"k-1"`)...)
		if p := problemOf(t, b); resp.StatusCode != http.StatusUnprocessableEntity || p.Type != problem.IdempotencyMismatch.URI {
			t.Errorf("same key, other body = %d %s, want a 422 idempotency-mismatch", resp.StatusCode, b)
		}
		resp, b = g.post(t, "/v1/orders", `{"customer_id":"c-2"}`, with(bob, `"k-1"`)...)
		if resp.StatusCode != http.StatusAccepted || decodeAccepted(t, b).ID == decodeAccepted(t, first).ID {
			t.Errorf("bob with alice's key = %d %s, want his own 202", resp.StatusCode, b)
		}
		resp, b = g.post(t, "/v1/orders", `{"customer_id":"c-3"}`, with(alice, `bare-key`)...)
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("an unquoted key = %d %s, want 202", resp.StatusCode, b)
		}
		for _, bad := range []string{`"` + strings.Repeat("k", 256) + `"`, `"a\"b"`, `"é"`} {
			resp, b = g.post(t, "/v1/orders", `{"customer_id":"c-4"}`, with(alice, bad)...)
			if p := problemOf(t, b); resp.StatusCode != http.StatusBadRequest || p.Type != problem.InvalidIdempotencyKey.URI {
				t.Errorf("Idempotency-Key %.20q = %d %s, want 400 invalid-idempotency-key", bad, resp.StatusCode, b)
			}
		}
		// A 4xx is the answer to that request: stored and replayed too.
		for i := range 2 {
			resp, b = g.post(t, "/v1/orders", `{"customer_id":`, with(alice, `"k-bad"`)...)
			if resp.StatusCode != http.StatusBadRequest || (i == 1) != (resp.Header.Get("Idempotent-Replayed") == "true") {
				t.Errorf("malformed body, try %d = %d %s (replayed %q), want 400, replayed the second time", i+1, resp.StatusCode, b, resp.Header.Get("Idempotent-Replayed"))
			}
		}
		if n := topicstest.Count(t, g.cluster, "orders"); n != 3 {
			t.Errorf("orders holds %d records, want 3 (alice k-1, bob k-1, alice bare-key)", n)
		}
		if n := g.counter(t, "ferry_idempotent_replays_total", "route=orders"); n != 2 {
			t.Errorf("ferry_idempotent_replays_total = %v, want 2", n)
		}
	})
}

// TestIdempotencyInFlight holds the first request inside the producer: a
// duplicate meanwhile is a 409, another body a 422; once the first
// answers, a duplicate gets its response. One record is produced.
func TestIdempotencyInFlight(t *testing.T) {
	t.Parallel()
	forEachRedis(t, func(t *testing.T, newClient func() redis.UniversalClient, prefix string) {
		p := &countingProducer{entered: make(chan struct{}, 1), release: make(chan struct{})}
		g := startPolicyGateway(t, policyOpts{rdb: newClient(), prefix: prefix, producer: p})
		hdr := append(bearer(rsaToken(t, "alice", "orders:write")), "Idempotency-Key", `"op-1"`)
		type answer struct {
			status int
			body   []byte
		}
		firstDone := make(chan answer, 1)
		go func() {
			resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, hdr...)
			firstDone <- answer{resp.StatusCode, b}
		}()
		<-p.entered // the first request holds the key

		resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, hdr...)
		if pr := problemOf(t, b); resp.StatusCode != http.StatusConflict || pr.Type != problem.IdempotencyConflict.URI || resp.Header.Get("Retry-After") == "" {
			t.Errorf("duplicate in flight = %d %s, want a 409 idempotency-conflict with Retry-After", resp.StatusCode, b)
		}
		resp, b = g.post(t, "/v1/orders", `{"customer_id":"c-9"}`, hdr...)
		if pr := problemOf(t, b); resp.StatusCode != http.StatusUnprocessableEntity || pr.Type != problem.IdempotencyMismatch.URI {
			t.Errorf("other body in flight = %d %s, want a 422 idempotency-mismatch", resp.StatusCode, b)
		}
		close(p.release)
		first := <-firstDone
		if first.status != http.StatusAccepted {
			t.Fatalf("first = %d %s, want 202", first.status, first.body)
		}
		resp, b = g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, hdr...)
		if resp.StatusCode != http.StatusAccepted || decodeAccepted(t, b).ID != decodeAccepted(t, first.body).ID {
			t.Errorf("duplicate after = %d %s, want the first 202 %s", resp.StatusCode, b, first.body)
		}
		if n := p.calls.Load(); n != 1 {
			t.Errorf("produced %d messages, want 1", n)
		}
	})
}

// TestIdempotencyConcurrentDuplicates fires many identical requests at
// once at two instances sharing Redis: exactly one record is produced,
// and every answer is its 202 or a 409.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	forEachRedis(t, func(t *testing.T, newClient func() redis.UniversalClient, prefix string) {
		c := topicstest.Cluster(t, 3, policyTopics...)
		gs := []*policyGateway{
			startPolicyGateway(t, policyOpts{rdb: newClient(), prefix: prefix, cluster: c}),
			startPolicyGateway(t, policyOpts{rdb: newClient(), prefix: prefix, cluster: c}),
		}
		hdr := append(bearer(rsaToken(t, "alice", "orders:write")), "Idempotency-Key", `"burst-1"`)
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids := make(map[string]int)
		statuses := make(map[int]int)
		for i := range n {
			wg.Go(func() {
				resp, b := gs[i%2].post(t, "/v1/orders", `{"customer_id":"c-1"}`, hdr...)
				mu.Lock()
				defer mu.Unlock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusAccepted {
					ids[decodeAccepted(t, b).ID]++
				}
			})
		}
		wg.Wait()
		if statuses[http.StatusAccepted]+statuses[http.StatusConflict] != n || len(ids) != 1 {
			t.Errorf("statuses %v, event ids %v; want only 202 (one event id) and 409", statuses, ids)
		}
		if got := topicstest.Count(t, c, "orders"); got != 1 {
			t.Errorf("orders holds %d records, want 1", got)
		}
	})
}

// TestIdempotencyServerErrorReleases: a 5xx is not stored, so a retry
// with the same key runs anew.
func TestIdempotencyServerErrorReleases(t *testing.T) {
	t.Parallel()
	p := &countingProducer{failFirst: 1}
	g := startPolicyGateway(t, policyOpts{producer: p})
	hdr := append(bearer(rsaToken(t, "alice", "orders:write")), "Idempotency-Key", `"retry-me"`)
	if resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, hdr...); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("first = %d %s, want 503", resp.StatusCode, b)
	}
	resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, hdr...)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("retry = %d %s (replayed %q), want a fresh 202", resp.StatusCode, b, resp.Header.Get("Idempotent-Replayed"))
	}
	if n := p.calls.Load(); n != 2 {
		t.Errorf("Produce called %d times, want 2", n)
	}
}

// TestIdempotencyRedisDown: with Redis gone a request with an
// Idempotency-Key is a 503 by default (closed), or is served without
// idempotency when open (counted); one without a key is served anyway.
func TestIdempotencyRedisDown(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"", policy.FailOpen, policy.FailClosed} {
		t.Run("on_redis_error="+mode, func(t *testing.T) {
			t.Parallel()
			mr := miniredis.RunT(t)
			cfg := testAuthConfig(t)
			cfg.Policy.Idempotency.OnRedisError = mode
			p := &countingProducer{}
			g := startPolicyGateway(t, policyOpts{rdb: redisClient(t, mr.Addr()), auth: cfg, producer: p})
			mr.Close()
			alice := bearer(rsaToken(t, "alice", "orders:write"))
			if resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, alice...); resp.StatusCode != http.StatusAccepted {
				t.Errorf("POST without a key, Redis down = %d %s, want 202", resp.StatusCode, b)
			}
			resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, append(alice, "Idempotency-Key", `"k"`)...)
			if mode == policy.FailOpen {
				if n := g.counter(t, "ferry_idempotency_fail_open_total", "route=orders"); resp.StatusCode != http.StatusAccepted || n != 1 {
					t.Errorf("POST with a key = %d %s, fail-opens %v; want 202 and 1", resp.StatusCode, b, n)
				}
				return
			}
			if pr := problemOf(t, b); resp.StatusCode != http.StatusServiceUnavailable || pr.Type != problem.RedisUnavailable.URI {
				t.Errorf("POST with a key = %d %s, want a 503 redis-unavailable", resp.StatusCode, b)
			}
			if n := p.calls.Load(); n != 1 {
				t.Errorf("produced %d, want 1 (the request without a key)", n)
			}
		})
	}
}

// stallingIdempotency is an idempotency store whose Redis stalls: Begin
// fails, and the first failReleases releases fail too; it counts the
// releases that went through.
type stallingIdempotency struct {
	mu           sync.Mutex
	failReleases int
	released     int
}

func (s *stallingIdempotency) Begin(context.Context, string, policy.IdempotencyClaim) (*policy.IdempotencyRecord, error) {
	return nil, fmt.Errorf("begin: %w", policy.ErrRedisUnavailable)
}

func (s *stallingIdempotency) Complete(context.Context, string, policy.IdempotencyClaim, policy.StoredResponse, time.Duration) error {
	return nil
}

func (s *stallingIdempotency) Release(context.Context, string, policy.IdempotencyClaim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failReleases > 0 {
		s.failReleases--
		return fmt.Errorf("release: %w", policy.ErrRedisUnavailable)
	}
	s.released++
	return nil
}

// TestShutdownSettlesIdempotencyKeys: a request whose Idempotency-Key
// could not be claimed (503) leaves a Begin that may still lock the key
// once Redis answers; a shutdown right after it, before Redis does, still
// releases the key (twice, a second apart) within the grace period.
// Before, the releases still pending were dropped at shutdown, and the
// client's retry on another instance was answered 409 for the lock_ttl.
func TestShutdownSettlesIdempotencyKeys(t *testing.T) {
	t.Parallel()
	store := &stallingIdempotency{failReleases: 3}
	g := startGateway(t, func(_ *ingress.Config, d *ingress.Deps) { d.Idempotency = store })
	req, _ := http.NewRequest("POST", g.url+"/v1/anything", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", `"k-1"`)
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("POST with the key unclaimable = %d, want 503", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.released != 2 {
		t.Errorf("%d releases went through by the end of Shutdown, want 2", store.released)
	}
}

// TestIdempotencyUnknownProduceOutcome: when the broker acknowledges a
// record only after produce_timeout, the client got a 503 kafka-timeout
// ("it may or may not be stored") while the record was in fact written.
// A retry with the same Idempotency-Key must not write it again: it gets
// 409 while the outcome is unknown, then the record's own 202, replayed,
// and the topic holds the record once.
func TestIdempotencyUnknownProduceOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path, topic string
		hdr               []string
	}{
		{"publish route", "/v1/open", "open", nil},
		// A request/response route: the retry gets the record's 202 (its
		// reply is not awaited any more), never a second record.
		{"request/response route", "/v1/quotes", "quotes", nil},
		// Asynchronous: the 202 names the result where the reply is kept.
		{"request/response route, respond-async", "/v1/quotes", "quotes", []string{"Prefer", "respond-async"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			unknownProduceOutcome(t, tc.path, tc.topic, tc.hdr...)
		})
	}
}

func unknownProduceOutcome(t *testing.T, path, topic string, hdr ...string) {
	c := topicstest.Cluster(t, 1, append(policyTopics, "quotes", "quotes.replies")...)
	// The first produce request is answered only after the producer's
	// timeout has passed; the broker then stores its record.
	acked := make(chan struct{})
	var once sync.Once
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.DropControl()
		once.Do(func() {
			c.SleepControl(func() { time.Sleep(time.Second) })
			close(acked)
		})
		return nil, nil, false
	})
	routes := append(slices.Clone(policyRoutes), topics.RouteConfig{Name: "quotes", Path: "/v1/quotes", Topic: "quotes", Auth: topics.AuthNone,
		Reply: &topics.ReplyConfig{Topic: "quotes.replies", Timeout: 5 * time.Second, OnTimeout: "fail"}})
	g := startPolicyGateway(t, policyOpts{cluster: c, routes: routes,
		producer: topics.NewProducer(topicstest.Client(t, c, kgo.ProducerLinger(0)), 300*time.Millisecond)})
	key := append([]string{"Idempotency-Key", `"late-ack"`}, hdr...)

	resp, b := g.post(t, path, `{"a":1}`, key...)
	if p := problemOf(t, b); resp.StatusCode != http.StatusServiceUnavailable || p.Type != problem.KafkaTimeout.URI {
		t.Fatalf("first POST = %d %s, want 503 kafka-timeout", resp.StatusCode, b)
	}
	resp, b = g.post(t, path, `{"a":1}`, key...)
	if p := problemOf(t, b); resp.StatusCode != http.StatusConflict || p.Type != problem.IdempotencyConflict.URI {
		t.Errorf("a retry while the outcome is unknown = %d %s, want 409 idempotency-conflict", resp.StatusCode, b)
	}
	<-acked
	var replayed []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, replayed = g.post(t, path, `{"a":1}`, key...)
		if resp.StatusCode != http.StatusConflict || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a retry once the record was acknowledged = %d %s (replayed %q), want its 202, replayed", resp.StatusCode, replayed, resp.Header.Get("Idempotent-Replayed"))
	}
	if loc := resp.Header.Get("Location"); (len(hdr) > 0) != strings.HasPrefix(loc, "/v1/results/") {
		t.Errorf("the replayed 202's Location = %q; want a result's exactly when the request was asynchronous", loc)
	}
	if n := topicstest.Count(t, c, topic); n != 1 {
		t.Errorf("topic %s holds %d records, want the one the first request wrote", topic, n)
	}
}
