package ingress_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestBrokerFaultIs503 makes the broker refuse every produce: the client
// gets a 503 problem with Retry-After, and the topic stays empty.
func TestBrokerFaultIs503(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1, "orders", "customers", "anything")
	topicstest.FailProduce(c, kerr.NotEnoughReplicas)
	g := startGatewayOn(t, c, func(_ *ingress.Config, d *ingress.Deps) {
		d.Producer = topics.NewProducer(topicstest.Client(t, c), 500*time.Millisecond)
	})
	resp, b := g.do(t, "POST", "/v1/anything", "application/json", []byte(`{"a":1}`))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("POST with a failing broker = %d %s, want 503", resp.StatusCode, b)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	var p problem.Details
	if err := json.Unmarshal(b, &p); err != nil || (p.Type != problem.KafkaTimeout.URI && p.Type != problem.KafkaUnavailable.URI) {
		t.Errorf("problem = %s (%v), want a kafka timeout or unavailable type", b, err)
	}
	if strings.Contains(string(b), "NOT_ENOUGH_REPLICAS") {
		t.Errorf("problem leaks the internal cause: %s", b)
	}
	if n := topicstest.Count(t, c, "anything"); n != 0 {
		t.Errorf("topic holds %d records, want 0", n)
	}
}

func TestBrokerUnreachableIs503(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 1, "orders", "customers", "anything")
	cl := topicstest.Client(t, c)
	g := startGatewayOn(t, c, func(_ *ingress.Config, d *ingress.Deps) {
		d.Producer = topics.NewProducer(cl, 500*time.Millisecond)
	})
	c.Close()
	resp, b := g.do(t, "POST", "/v1/anything", "application/json", []byte(`{"a":1}`))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("POST with the broker gone = %d %s (Retry-After %q), want 503 with Retry-After", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
}

// gatedProducer holds every Produce until the gate opens, counting the
// requests that wait.
type gatedProducer struct {
	next    ingress.Producer
	gate    chan struct{}
	waiting atomic.Int64
}

func (p *gatedProducer) Produce(ctx context.Context, m *topics.Message) (topics.Position, error) {
	p.waiting.Add(1)
	<-p.gate
	return p.next.Produce(ctx, m)
}

// TestShutdownAnswersInFlight starts requests, begins shutdown while they
// wait on the broker, and checks that every one gets its answer, that new
// connections are refused, and that every 202'd record is in the topic.
func TestShutdownAnswersInFlight(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 3, "orders", "customers", "anything")
	gp := &gatedProducer{gate: make(chan struct{})}
	g := startGatewayOn(t, c, func(_ *ingress.Config, d *ingress.Deps) {
		gp.next = d.Producer
		d.Producer = gp
	})
	const n = 20
	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := g.client.Post(g.url+"/v1/anything", "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var buf strings.Builder
			_, err = io.Copy(&buf, resp.Body)
			results <- result{status: resp.StatusCode, body: []byte(buf.String()), err: err}
		})
	}
	topicstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		if w := gp.waiting.Load(); w < n {
			return fmt.Errorf("%d of %d requests in flight", w, n)
		}
		return nil
	})

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- g.srv.Shutdown(ctx)
	}()
	addr := strings.TrimPrefix(g.url, "http://")
	topicstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return errors.New("new connections are still accepted")
		}
		return nil
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while requests were in flight", err)
	default:
	}
	close(gp.gate)
	wg.Wait()
	close(results)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ids := make(map[string]bool)
	for r := range results {
		if r.err != nil || r.status != http.StatusAccepted {
			t.Errorf("in-flight request: status %d %s err %v, want 202", r.status, r.body, r.err)
			continue
		}
		ids[decodeAccepted(t, r.body).ID] = true
	}
	recs := topicstest.Read(t, c, "anything", len(ids), 5*time.Second)
	for _, r := range recs {
		delete(ids, headerMap(r)["ce_id"])
	}
	if len(ids) != 0 {
		t.Errorf("%d records answered 202 are not in the topic: %v", len(ids), ids)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	g := startGateway(t, func(_ *ingress.Config, d *ingress.Deps) {
		d.Checks = []ingress.Check{{Name: "kafka", Check: func(context.Context) error {
			if fail.Load() {
				return errors.New("missing topics: orders")
			}
			return nil
		}}, {Name: "webhook.billing", Advisory: true, Check: func(context.Context) error {
			if fail.Load() {
				return errors.New("endpoint down")
			}
			return nil
		}}}
	})
	type ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	get := func(path string) (int, ready) {
		resp, b := g.do(t, "GET", path, "", nil)
		var r ready
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("GET %s body %s: %v", path, b, err)
		}
		return resp.StatusCode, r
	}
	if code, r := get("/healthz"); code != 200 || r.Status != "ok" {
		t.Errorf("/healthz = %d %+v, want 200 ok", code, r)
	}
	if code, r := get("/readyz"); code != 200 || r.Status != "ready" || r.Checks["kafka"] != "ok" || r.Checks["webhook.billing"] != "ok" {
		t.Errorf("/readyz = %d %+v, want 200 ready", code, r)
	}
	fail.Store(true)
	if code, r := get("/readyz"); code != 503 || r.Checks["kafka"] != "missing topics: orders" || r.Checks["webhook.billing"] != "endpoint down" {
		t.Errorf("/readyz with a failing check = %d %+v, want 503 naming the topic", code, r)
	}
	g.srv.SetReady(true)
	// An advisory check shows its error and leaves the instance ready.
	advisoryOnly := startGateway(t, func(_ *ingress.Config, d *ingress.Deps) {
		d.Checks = []ingress.Check{{Name: "webhook.billing", Advisory: true, Check: func(context.Context) error { return errors.New("endpoint down") }}}
	})
	resp, b := advisoryOnly.do(t, "GET", "/readyz", "", nil)
	var r ready
	if err := json.Unmarshal(b, &r); err != nil || resp.StatusCode != 200 || r.Status != "ready" || r.Checks["webhook.billing"] != "endpoint down" {
		t.Errorf("/readyz with a failing advisory check = %d %s, want 200 ready showing the error", resp.StatusCode, b)
	}
	fail.Store(false)
	g.srv.SetReady(false)
	if code, r := get("/readyz"); code != 503 || r.Status != "not_ready" {
		t.Errorf("/readyz while not ready = %d %+v, want 503", code, r)
	}
}

// TestShutdownBeforeServe: a Shutdown that comes before Serve has started
// (a SIGTERM right at start-up; a test that ends at once) still stops it:
// Serve returns nil at once instead of serving for good. Before, fasthttp
// had no listener to close yet, and Serve never returned.
func TestShutdownBeforeServe(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: &gatedProducer{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve after Shutdown still serves")
	}
}
