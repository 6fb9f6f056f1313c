package ingress_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// streamGateway is a real ferry HTTP server with a stream hub over kfake.
type streamGateway struct {
	addr   string
	url    string
	client *http.Client // its own connections (newHTTPClient)
	hub    *consumers.Hub
	srv    *ingress.Server
	prod   *kgo.Client
	ln     *dropListener
	close  func() // shuts the gateway down once; also run at cleanup
}

type streamSetup struct {
	hub        consumers.HubConfig
	server     ingress.Config
	streams    []topics.StreamConfig
	principals map[string]*identity.Principal
	partitions int32
	metrics    bool // serve /metrics
}

func startStreamGateway(tb testing.TB, st streamSetup) *streamGateway {
	tb.Helper()
	if st.partitions == 0 {
		st.partitions = 3
	}
	var names []string
	for _, s := range st.streams {
		names = append(names, s.Topic)
	}
	c := topicstest.Cluster(tb, st.partitions, names...)
	prod := topicstest.Client(tb, c, kgo.ProducerLinger(0))
	hub := consumers.NewHub(st.hub, st.streams, topicstest.Client(tb, c), topicstest.Client(tb, c), consumers.WithLogger(testLogger()))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- hub.Run(ctx) }()

	table, err := topics.NewTable(nil)
	if err != nil {
		tb.Fatal(err)
	}
	opts := []ingress.Option{ingress.WithLogger(testLogger())}
	if st.principals != nil {
		opts = append(opts, ingress.WithTestPrincipals(st.principals))
	}
	if st.metrics {
		m, err := metrics.NewRecorder(prometheus.NewRegistry())
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, ingress.WithMetrics(m))
	}
	srv, err := ingress.New(st.server, table, ingress.Deps{Producer: topics.NewProducer(prod, 2*time.Second), Streams: hub}, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ln := &dropListener{Listener: inner}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	srv.SetReady(true)
	g := &streamGateway{addr: inner.Addr().String(), url: "http://" + inner.Addr().String(), client: newHTTPClient(tb), hub: hub, srv: srv, prod: prod, ln: ln}
	var once sync.Once
	g.close = func() {
		once.Do(func() {
			hub.Close()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			if err := srv.Shutdown(sctx); err != nil {
				tb.Errorf("Shutdown: %v", err)
			}
			if err := <-served; err != nil {
				tb.Errorf("Serve: %v", err)
			}
			cancel()
			if err := <-ran; err != nil {
				tb.Errorf("hub.Run: %v", err)
			}
		})
	}
	tb.Cleanup(g.close)
	topicstest.Eventually(tb, 5*time.Second, 5*time.Millisecond, func() error { return hub.Check(ctx) })
	return g
}

// scrape gets /metrics (streamSetup.metrics) and parses it.
func (g *streamGateway) scrape(tb testing.TB) map[string]*dto.MetricFamily {
	tb.Helper()
	return (&gateway{url: g.url, client: g.client}).scrape(tb)
}

// produce writes records to topic and waits for the broker's ack. Each
// record is "value" or "value|key|hdr=v|hdr=v".
func (g *streamGateway) produce(tb testing.TB, topic string, specs ...string) {
	tb.Helper()
	rs := make([]*kgo.Record, len(specs))
	for i, spec := range specs {
		parts := strings.Split(spec, "|")
		r := &kgo.Record{Topic: topic, Value: []byte(parts[0]),
			Headers: []kgo.RecordHeader{{Key: topics.HeaderType, Value: []byte("com.example.test")}}}
		if len(parts) > 1 && parts[1] != "" {
			r.Key = []byte(parts[1])
		}
		for _, h := range parts[min(2, len(parts)):] {
			k, v, _ := strings.Cut(h, "=")
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		rs[i] = r
	}
	if err := g.prod.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

func datas(evs []sseEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Data
	}
	return out
}

func nextN(tb testing.TB, s *sseConn, n int) []sseEvent {
	tb.Helper()
	out := make([]sseEvent, 0, n)
	for range n {
		out = append(out, s.MustNext(tb, 5*time.Second))
	}
	return out
}

// expectQuiet checks that no event arrives within d.
func expectQuiet(tb testing.TB, s *sseConn, d time.Duration) {
	tb.Helper()
	if ev, err := s.Next(d); err == nil {
		tb.Errorf("unexpected event %+v", ev)
	}
}

var orderEvents = topics.StreamConfig{Name: "order-events", Topic: "orders.events", Auth: topics.AuthNone,
	Filters: []string{"key", "header.x-region"}}

func TestStreamDeliversEventsProducedAfterSubscribing(t *testing.T) {
	t.Parallel()
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{orderEvents}})
	g.produce(t, "orders.events", "before")
	// The record above may or may not reach the hub before the subscribe;
	// only what follows is promised, so use a fresh marker.
	s := mustOpenSSE(t, g.addr, "/v1/streams/order-events")
	if s.Retry != 0 {
		t.Errorf("retry seen before reading")
	}
	g.produce(t, "orders.events", `{"n":1}|c-1`, "two\nlines|c-2", `{"n":3}|c-1`)
	var got []sseEvent
	for len(got) < 3 {
		ev := s.MustNext(t, 5*time.Second)
		if ev.Data == "before" {
			continue
		}
		got = append(got, ev)
	}
	if diff := cmp.Diff([]string{"two\nlines", `{"n":1}`, `{"n":3}`}, sortedData(got)); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	for _, ev := range got {
		if ev.Event != "com.example.test" {
			t.Errorf("event = %q, want the ce_type com.example.test", ev.Event)
		}
		if _, err := consumers.ParseCursor(ev.ID); err != nil {
			t.Errorf("id %q: %v", ev.ID, err)
		}
	}
	if s.Retry != ingress.DefaultRetry {
		t.Errorf("retry = %v, want %v", s.Retry, ingress.DefaultRetry)
	}
}

// sortedData returns the events' data sorted: partitions interleave freely.
func sortedData(evs []sseEvent) []string {
	out := datas(evs)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestStreamFiltersAndEnvelope(t *testing.T) {
	t.Parallel()
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{orderEvents}})
	byKey := mustOpenSSE(t, g.addr, "/v1/streams/order-events?key=c-1")
	byBoth := mustOpenSSE(t, g.addr, "/v1/streams/order-events?key=c-1&header.x-region=eu&envelope=true")
	g.produce(t, "orders.events",
		"a|c-1|x-region=eu", "b|c-2|x-region=eu", "c|c-1|x-region=us", "d|c-1", `{"e": [1, 2]}|c-1|x-region=eu`)
	if diff := cmp.Diff([]string{"a", "c", "d", `{"e": [1, 2]}`}, sortedData(nextN(t, byKey, 4))); diff != "" {
		t.Errorf("key=c-1 (-want +got):\n%s", diff)
	}
	var envs []map[string]any
	for _, ev := range nextN(t, byBoth, 2) {
		var m map[string]any
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatalf("envelope %q: %v", ev.Data, err)
		}
		delete(m, "timestamp")
		delete(m, "partition")
		delete(m, "offset")
		envs = append(envs, m)
	}
	want := []map[string]any{
		{"key": "c-1", "headers": map[string]any{"ce_type": "com.example.test", "x-region": "eu"}, "value": "a"},
		{"key": "c-1", "headers": map[string]any{"ce_type": "com.example.test", "x-region": "eu"}, "value": map[string]any{"e": []any{1.0, 2.0}}},
	}
	if diff := cmp.Diff(want, envs, cmpUnordered()); diff != "" {
		t.Errorf("envelopes (-want +got):\n%s", diff)
	}
	expectQuiet(t, byBoth, 100*time.Millisecond)
}

func cmpUnordered() cmp.Option {
	return cmp.Transformer("sort", func(in []map[string]any) []string {
		out := make([]string, len(in))
		for i, m := range in {
			b, _ := json.Marshal(m)
			out[i] = string(b)
		}
		for i := 1; i < len(out); i++ {
			for j := i; j > 0 && out[j] < out[j-1]; j-- {
				out[j], out[j-1] = out[j-1], out[j]
			}
		}
		return out
	})
}

// TestStreamRefusals: every malformed request is a problem answered before
// the stream starts.
func TestStreamRefusals(t *testing.T) {
	t.Parallel()
	secured := topics.StreamConfig{Name: "secured", Topic: "orders.events", Scopes: []string{"orders:read"}}
	g := startStreamGateway(t, streamSetup{
		streams:    []topics.StreamConfig{orderEvents, secured},
		principals: map[string]*identity.Principal{"reader": {ID: "r", Kind: identity.PrincipalJWT, Scopes: []string{"orders:read"}}, "nobody": {ID: "n", Kind: identity.PrincipalJWT}},
	})
	tests := []struct {
		name, path string
		hdr        []string
		status     int
		typ        problem.Type
	}{
		{"unknown stream", "/v1/streams/nope", nil, 404, problem.StreamNotFound},
		{"not acceptable", "/v1/streams/order-events", []string{"Accept", "application/json"}, 406, problem.NotAcceptable},
		{"bad from", "/v1/streams/order-events?from=yesterday", nil, 400, problem.BadPosition},
		{"bad duration", "/v1/streams/order-events?from=-0s", nil, 400, problem.BadPosition},
		{"bad last event id", "/v1/streams/order-events", []string{"Last-Event-ID", "zz!"}, 400, problem.BadPosition},
		{"bad last_event_id param", "/v1/streams/order-events?last_event_id=01", nil, 400, problem.BadPosition},
		{"too many partitions", "/v1/streams/order-events", []string{"Last-Event-ID", "1.2.3.4"}, 400, problem.BadPosition},
		{"filter not allowed", "/v1/streams/order-events?header.x-tenant=a", nil, 400, problem.BadFilter},
		{"key not allowed", "/v1/streams/secured?key=a", []string{"Authorization", "Test reader"}, 400, problem.BadFilter},
		{"repeated filter", "/v1/streams/order-events?key=a&key=b", nil, 400, problem.BadRequest},
		{"unknown parameter", "/v1/streams/order-events?keys=a", nil, 400, problem.BadRequest},
		{"bad envelope", "/v1/streams/order-events?envelope=yes", nil, 400, problem.BadRequest},
		{"no credentials", "/v1/streams/secured", nil, 401, problem.Unauthenticated},
		{"missing scope", "/v1/streams/secured", []string{"Authorization", "Test nobody"}, 403, problem.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, resp, body := openSSE(t, g.addr, tt.path, tt.hdr...)
			if s != nil {
				t.Fatalf("GET %s streams, want %d", tt.path, tt.status)
			}
			var p problem.Details
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if resp.StatusCode != tt.status || p.Type != tt.typ.URI || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("GET %s = %d %s, want %d %s", tt.path, resp.StatusCode, body, tt.status, tt.typ.URI)
			}
		})
	}
	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		mustOpenSSE(t, g.addr, "/v1/streams/secured", "Authorization", "Test reader", "Accept", "text/event-stream, */*;q=0.1")
		mustOpenSSE(t, g.addr, "/v1/streams/order-events?from=-5m&header.X-Region=eu", "Accept", "*/*")
		mustOpenSSE(t, g.addr, "/v1/streams/order-events?from="+url.QueryEscape(time.Now().Format(time.RFC3339)))
	})
}

// TestStreamClaimMatchIsolatesTenants: subscribers only ever see records
// whose tenant header equals their token's tenant claim, whatever they ask.
func TestStreamClaimMatchIsolatesTenants(t *testing.T) {
	t.Parallel()
	tenants := topics.StreamConfig{Name: "tenant-events", Topic: "tenant.events", Scopes: []string{"events:read"},
		Filters: []string{"header.tenant", "key"}, Match: &topics.MatchConfig{Header: "tenant", Claim: "tenant"}}
	pr := func(tenant string) *identity.Principal {
		p := &identity.Principal{ID: "u-" + tenant, Kind: identity.PrincipalJWT, Scopes: []string{"events:read"}}
		if tenant != "" {
			p.Claims = map[string]string{"tenant": tenant}
		}
		return p
	}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{tenants},
		principals: map[string]*identity.Principal{"a": pr("a"), "b": pr("b"), "none": pr("")}})

	_, resp, body := openSSE(t, g.addr, "/v1/streams/tenant-events", "Authorization", "Test none")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("no tenant claim = %d %s, want 403", resp.StatusCode, body)
	}
	a := mustOpenSSE(t, g.addr, "/v1/streams/tenant-events?from=earliest", "Authorization", "Test a")
	b := mustOpenSSE(t, g.addr, "/v1/streams/tenant-events?from=earliest", "Authorization", "Test b")
	aAsksForB := mustOpenSSE(t, g.addr, "/v1/streams/tenant-events?from=earliest&header.tenant=b", "Authorization", "Test a")
	var specs []string
	for i := range 30 {
		tenant := []string{"a", "b", "c"}[i%3]
		specs = append(specs, fmt.Sprintf("%s-%d|k|tenant=%s", tenant, i, tenant))
	}
	specs = append(specs, "sneaky|k|tenant=a|tenant=b", "untagged|k")
	g.produce(t, "tenant.events", specs...)
	expectOwnTenant(t, func(tenant string) string { return tenant + "-" }, map[string]*sseConn{"a": a, "b": b})
	expectQuiet(t, aAsksForB, 100*time.Millisecond)
}

// expectOwnTenant checks that each tenant's stream receives 10 events,
// each starting with prefix(tenant), and then nothing.
func expectOwnTenant(t *testing.T, prefix func(tenant string) string, byTenant map[string]*sseConn) {
	t.Helper()
	for tenant, s := range byTenant {
		for _, ev := range nextN(t, s, 10) {
			if !strings.HasPrefix(ev.Data, prefix(tenant)) {
				t.Errorf("tenant %s received %q", tenant, ev.Data)
			}
		}
		expectQuiet(t, s, 100*time.Millisecond)
	}
}

// TestStreamValueMatchIsolatesTenants: with match.pointer, each
// subscriber gets only the records whose JSON value holds its tenant
// claim there; its own where filter narrows that further and cannot widen
// it, and values that are not JSON reach nobody.
func TestStreamValueMatchIsolatesTenants(t *testing.T) {
	t.Parallel()
	tenants := topics.StreamConfig{Name: "tenant-events", Topic: "tenant.events", Scopes: []string{"events:read"},
		Filters: []string{"where"}, Match: &topics.MatchConfig{Pointer: "/meta/tenant", Claim: "tenant"}}
	pr := func(tenant string) *identity.Principal {
		return &identity.Principal{ID: "u-" + tenant, Kind: identity.PrincipalJWT, Scopes: []string{"events:read"}, Claims: map[string]string{"tenant": tenant}}
	}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{tenants},
		principals: map[string]*identity.Principal{"a": pr("a"), "b": pr("b")}})
	a := mustOpenSSE(t, g.addr, "/v1/streams/tenant-events?from=earliest", "Authorization", "Test a")
	b := mustOpenSSE(t, g.addr, "/v1/streams/tenant-events?from=earliest", "Authorization", "Test b")
	aAsksForB := mustOpenSSE(t, g.addr, "/v1/streams/tenant-events?from=earliest&where="+url.QueryEscape(`/meta/tenant="b"`), "Authorization", "Test a")
	var specs []string
	for i := range 30 {
		tenant := []string{"a", "b", "c"}[i%3]
		specs = append(specs, fmt.Sprintf(`{"meta":{"tenant":%q},"i":%d}|k`, tenant, i))
	}
	specs = append(specs, `{"meta":{"tenant":["a"]}}|k`, `{"tenant":"a"}|k`, `a|k`)
	g.produce(t, "tenant.events", specs...)
	expectOwnTenant(t, func(tenant string) string { return `{"meta":{"tenant":"` + tenant + `"}` }, map[string]*sseConn{"a": a, "b": b})
	expectQuiet(t, aAsksForB, 100*time.Millisecond)
}

func TestStreamEndsWhenTheTokenExpires(t *testing.T) {
	t.Parallel()
	soon := &identity.Principal{ID: "u", Kind: identity.PrincipalJWT, Expires: time.Now().Add(1500 * time.Millisecond)}
	past := &identity.Principal{ID: "u", Kind: identity.PrincipalJWT, Expires: time.Now().Add(-time.Second)}
	st := topics.StreamConfig{Name: "s", Topic: "t"}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st}, principals: map[string]*identity.Principal{"soon": soon, "past": past}})
	if _, resp, _ := openSSE(t, g.addr, "/v1/streams/s", "Authorization", "Test past"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token = %d, want 401", resp.StatusCode)
	}
	s := mustOpenSSE(t, g.addr, "/v1/streams/s", "Authorization", "Test soon")
	g.produce(t, "t", "one")
	if ev := s.MustNext(t, 5*time.Second); ev.Data != "one" {
		t.Errorf("first event %+v", ev)
	}
	ev := s.MustNext(t, 5*time.Second)
	if ev.Event != "error" || !strings.Contains(ev.Data, `"reason":"token_expired"`) {
		t.Errorf("event after exp = %+v, want error token_expired", ev)
	}
	if late := time.Since(soon.Expires); late > time.Second {
		t.Errorf("stream ended %v after exp", late)
	}
	if _, err := s.Next(time.Second); err != errStreamEnded {
		t.Errorf("after token_expired: %v, want the stream to end", err)
	}
}

// TestStreamResumeUnderForcedDisconnects produces records continuously
// while the client's connection is cut again and again, by either side;
// reconnecting with Last-Event-ID yields every record exactly once across
// partitions.
func TestStreamResumeUnderForcedDisconnects(t *testing.T) {
	t.Parallel()
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st}, hub: consumers.HubConfig{Buffer: 64, History: 128}})
	const total = 3000
	s := mustOpenSSE(t, g.addr, "/v1/streams/s") // subscribed before the first record
	produced := make(chan error, 1)
	go func() {
		for i := 0; i < total; i += 10 {
			rs := make([]*kgo.Record, 10)
			for j := range rs {
				rs[j] = &kgo.Record{Topic: "t", Key: []byte(fmt.Sprint(i + j)), Value: []byte(fmt.Sprint(i + j))}
			}
			if err := g.prod.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
				produced <- err
				return
			}
		}
		produced <- nil
	}()

	seen := make(map[string]int, total)
	drops := 0
	for len(seen) < total {
		n := 50 + drops*37%200
		for range n {
			ev, err := s.Next(5 * time.Second)
			if err != nil {
				break
			}
			if ev.Event == "error" { // slow_consumer: resume like any drop
				break
			}
			seen[ev.Data]++
			if seen[ev.Data] > 1 {
				t.Fatalf("record %s delivered twice (after %d drops)", ev.Data, drops)
			}
			if len(seen) == total {
				break
			}
		}
		if len(seen) == total {
			break
		}
		// Cut the connection: from the client side, or from the server's.
		last := s.LastID
		if drops%2 == 0 {
			s.Close()
		} else {
			g.ln.dropAll()
		}
		drops++
		if drops > 200 {
			t.Fatalf("%d records after %d drops", len(seen), drops)
		}
		s = mustOpenSSE(t, g.addr, "/v1/streams/s", "Last-Event-ID", last)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if drops < 5 {
		t.Errorf("only %d drops: the test did not test much", drops)
	}
	expectQuiet(t, s, 100*time.Millisecond)
	t.Logf("%d records exactly once across %d forced disconnects", len(seen), drops)
}

// TestSlowSubscriberIsClosedFastOneContinues: a client that stops reading
// is closed with event: error slow_consumer once it falls a buffer behind,
// while another keeps receiving; the slow one then resumes without loss.
func TestSlowSubscriberIsClosedFastOneContinues(t *testing.T) {
	t.Parallel()
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st}, hub: consumers.HubConfig{Buffer: 32, History: 64}, partitions: 1, metrics: true})
	slow := mustOpenSSE(t, g.addr, "/v1/streams/s")
	fast := mustOpenSSE(t, g.addr, "/v1/streams/s")
	big := strings.Repeat("x", 32<<10)
	const n = 600 // ~19 MiB: more than the socket buffers between them hold
	// The fast one reads as the records come, and the producer waits for
	// it, so only the slow one ever lags.
	for i := 0; i < n; i += 20 {
		var specs []string
		for j := i; j < i+20; j++ {
			specs = append(specs, fmt.Sprintf("%08d%s", j, big))
		}
		g.produce(t, "t", specs...)
		for j := i; j < i+20; j++ {
			ev := fast.MustNext(t, 10*time.Second)
			if want := fmt.Sprintf("%08d", j); ev.Event == "error" || ev.Data[:8] != want {
				t.Fatalf("fast subscriber event %d: %s %.20s, want %s", j, ev.Event, ev.Data, want)
			}
		}
	}
	// Now the slow one reads: what was buffered, then the error.
	var slowGot []string
	var end sseEvent
	for {
		ev, err := slow.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("slow subscriber after %d events: %v", len(slowGot), err)
		}
		if ev.Event == "error" {
			end = ev
			break
		}
		slowGot = append(slowGot, ev.Data[:8])
	}
	if !strings.Contains(end.Data, `"reason":"slow_consumer"`) {
		t.Errorf("final event = %+v, want error slow_consumer", end)
	}
	if len(slowGot) >= n {
		t.Fatalf("slow subscriber got all %d events; it was never slow", len(slowGot))
	}
	if diff := cmp.Diff(map[string]float64{"stream=s": 1}, series(g.scrape(t), "ferry_sse_slow_consumers_closed_total")); diff != "" {
		t.Errorf("ferry_sse_slow_consumers_closed_total (-want +got):\n%s", diff)
	}
	again := mustOpenSSE(t, g.addr, "/v1/streams/s", "Last-Event-ID", slow.LastID)
	for len(slowGot) < n {
		slowGot = append(slowGot, again.MustNext(t, 10*time.Second).Data[:8])
	}
	for i, v := range slowGot {
		if want := fmt.Sprintf("%08d", i); v != want {
			t.Fatalf("slow subscriber event %d = %s, want %s", i, v, want)
		}
	}
}

// TestThousandSubscribers: 1,000 concurrent subscribers of one topic each
// receive every event.
func TestThousandSubscribers(t *testing.T) {
	t.Parallel()
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st}})
	const subs, events = 1000, 20
	conns := make([]*sseConn, subs)
	for i := range conns {
		conns[i] = mustOpenSSE(t, g.addr, "/v1/streams/s")
	}
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := g.hub.Subscribers(); n != subs {
			return fmt.Errorf("%d subscribers", n)
		}
		return nil
	})
	var specs []string
	for i := range events {
		specs = append(specs, fmt.Sprint(i))
	}
	g.produce(t, "t", specs...)
	var wg sync.WaitGroup
	errs := make(chan error, subs)
	for _, c := range conns {
		wg.Go(func() {
			seen := make(map[string]bool, events)
			for len(seen) < events {
				ev, err := c.Next(20 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("after %d events: %w", len(seen), err)
					return
				}
				seen[ev.Data] = true
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDisconnectedClientsAreFreed: clients that go away are noticed within
// a heartbeat (fasthttp cancels nothing on disconnect), their subscriptions
// close and the goroutines return to the baseline.
func TestDisconnectedClientsAreFreed(t *testing.T) {
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	const heartbeat = 200 * time.Millisecond
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st}, server: ingress.Config{SSE: ingress.SSEConfig{Heartbeat: heartbeat}}})
	// Warm up: the hub's consumer starts its fetch goroutines and broker
	// connections with the first record, which are not the streams'.
	// Under make test's parallel -race load that first fetch has taken
	// over 5 s (CI, 2026-12-04); what this test measures starts after it.
	warm := mustOpenSSE(t, g.addr, "/v1/streams/s")
	g.produce(t, "t", "warm")
	warm.MustNext(t, 20*time.Second)
	warm.Close()
	topicstest.Eventually(t, heartbeat+2*time.Second, 10*time.Millisecond, func() error {
		if n := g.hub.Subscribers(); n != 0 {
			return fmt.Errorf("%d subscribers", n)
		}
		return nil
	})
	before := busyGoroutines()
	conns := make([]*sseConn, 50)
	for i := range conns {
		conns[i] = mustOpenSSE(t, g.addr, "/v1/streams/s")
	}
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := g.hub.Subscribers(); n != len(conns) {
			return fmt.Errorf("%d subscribers", n)
		}
		return nil
	})
	for _, c := range conns {
		c.Close()
	}
	start := time.Now()
	topicstest.Eventually(t, heartbeat+2*time.Second, 10*time.Millisecond, func() error {
		if n := g.hub.Subscribers(); n != 0 {
			return fmt.Errorf("%d subscribers left", n)
		}
		if n := busyGoroutines(); n > before {
			buf := make([]byte, 1<<20)
			return fmt.Errorf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		return nil
	})
	t.Logf("50 disconnected clients freed in %v (heartbeat %v)", time.Since(start).Round(time.Millisecond), heartbeat)
}

// TestStreamMetrics: ferry_sse_subscribers follows subscriptions up and
// back down when clients disconnect, and ferry_sse_events_sent_total
// counts every event written, per stream.
func TestStreamMetrics(t *testing.T) {
	t.Parallel()
	const heartbeat = 100 * time.Millisecond
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	other := topics.StreamConfig{Name: "quiet", Topic: "q", Auth: topics.AuthNone}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st, other}, metrics: true,
		server: ingress.Config{SSE: ingress.SSEConfig{Heartbeat: heartbeat}}})
	want := func(family string, w map[string]float64) func() error {
		return func() error {
			if diff := cmp.Diff(w, series(g.scrape(t), family)); diff != "" {
				return fmt.Errorf("%s (-want +got):\n%s", family, diff)
			}
			return nil
		}
	}

	a := mustOpenSSE(t, g.addr, "/v1/streams/s")
	b := mustOpenSSE(t, g.addr, "/v1/streams/s")
	q := mustOpenSSE(t, g.addr, "/v1/streams/quiet")
	// A refused subscription is never counted.
	if _, resp, _ := openSSE(t, g.addr, "/v1/streams/nope"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /v1/streams/nope = %d, want 404", resp.StatusCode)
	}
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, want("ferry_sse_subscribers", map[string]float64{"stream=s": 2, "stream=quiet": 1}))

	g.produce(t, "t", "1", "2", "3")
	for _, c := range []*sseConn{a, b} {
		nextN(t, c, 3)
	}
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, want("ferry_sse_events_sent_total", map[string]float64{"stream=s": 6}))

	// Disconnects are noticed within a heartbeat.
	a.Close()
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, want("ferry_sse_subscribers", map[string]float64{"stream=s": 1, "stream=quiet": 1}))
	b.Close()
	q.Close()
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, want("ferry_sse_subscribers", map[string]float64{"stream=s": 0, "stream=quiet": 0}))
}

// TestShutdownEndsStreams: closing the hub ends every stream with a final
// event, so the server's shutdown does not wait for them.
func TestShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st}})
	conns := make([]*sseConn, 20)
	for i := range conns {
		conns[i] = mustOpenSSE(t, g.addr, "/v1/streams/s")
	}
	start := time.Now()
	g.close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v with open streams", d)
	}
	for _, c := range conns {
		ev, err := c.Next(time.Second)
		if err != nil || ev.Event != "error" || !strings.Contains(ev.Data, `"reason":"shutdown"`) {
			t.Errorf("last event = %+v, %v; want error shutdown", ev, err)
		}
		pings := c.Pings
		if _, err := c.Next(time.Second); err != errStreamEnded || c.Pings != pings+1 || c.Retry != time.Second {
			t.Errorf("after the shutdown event: %v, %d new comments, retry %s; want a final comment, retry: 1000 and the end", err, c.Pings-pings, c.Retry)
		}
	}
}

func TestStreamCORS(t *testing.T) {
	t.Parallel()
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st},
		server: ingress.Config{CORS: ingress.CORSConfig{AllowOrigins: []string{"https://app.example.com"}, AllowCredentials: true}}})
	req, _ := http.NewRequest(http.MethodOptions, g.url+"/v1/streams/s", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "last-event-id")
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "last-event-id") {
		t.Errorf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
	s := mustOpenSSE(t, g.addr, "/v1/streams/s", "Origin", "https://app.example.com")
	if got := s.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("stream Access-Control-Allow-Origin = %q", got)
	}
	other := mustOpenSSE(t, g.addr, "/v1/streams/s", "Origin", "https://evil.example.com")
	if got := other.resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin got Access-Control-Allow-Origin %q", got)
	}
}

// busyGoroutines counts goroutines, leaving out fasthttp's idle pooled
// workers: they wait for the next connection and are reaped after
// fasthttp's MaxIdleWorkerDuration, so they are not held by any stream.
func busyGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		lines := strings.SplitN(g, "\n", 3)
		if len(lines) >= 2 && strings.HasPrefix(lines[1], "github.com/valyala/fasthttp.(*workerPool).workerFunc(") {
			continue
		}
		n++
	}
	return n
}

// TestStreamHangupFreesSubscriptionAtOnce: a client that leaves a quiet
// stream frees its subscription within about a second (ingress/hangup),
// not at the next heartbeat (a minute here), and the hang-up is counted.
func TestStreamHangupFreesSubscriptionAtOnce(t *testing.T) {
	t.Parallel()
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st}, metrics: true,
		server: ingress.Config{SSE: ingress.SSEConfig{Heartbeat: time.Minute}}})
	want := func(family string, w map[string]float64) func() error {
		return func() error {
			if diff := cmp.Diff(w, series(g.scrape(t), family)); diff != "" {
				return fmt.Errorf("%s (-want +got):\n%s", family, diff)
			}
			return nil
		}
	}
	c := mustOpenSSE(t, g.addr, "/v1/streams/s")
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, want("ferry_waiting_clients", map[string]float64{"": 1}))
	c.Close()
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, want("ferry_sse_subscribers", map[string]float64{"stream=s": 0}))
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, want("ferry_waiting_clients", map[string]float64{"": 0}))
	if diff := cmp.Diff(map[string]float64{"handler=stream": 1}, series(g.scrape(t), "ferry_client_hangups_total")); diff != "" {
		t.Errorf("ferry_client_hangups_total (-want +got):\n%s", diff)
	}
	if n := g.hub.Subscribers(); n != 0 {
		t.Errorf("hub subscribers = %d after the client left, want 0", n)
	}
}
