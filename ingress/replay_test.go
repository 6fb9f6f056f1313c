package ingress_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// Test principals: "Authorization: Bearer NAME" in requests.
var testPrincipals = map[string]*identity.Principal{
	"admin":  {ID: "ops", Kind: identity.PrincipalJWT, Scopes: []string{"orders:write", "admin"}},
	"writer": {ID: "app", Kind: identity.PrincipalJWT, Scopes: []string{"orders:write"}},
}

// replayGateway is a real ferry HTTP server with the replay API on a kfake
// cluster, with test principals standing in for authentication.
type replayGateway struct {
	*gateway
	producer *kgo.Client
	replayer *consumers.Replayer
}

var replayNow = time.Date(2026, 1, 2, 16, 0, 0, 0, time.UTC)

func startReplay(tb testing.TB, cfg consumers.ReplayConfig, opts ...ingress.Option) *replayGateway {
	tb.Helper()
	c := topicstest.Cluster(tb, 3, "orders.events", "orders.dlq", "secret", "anything")
	return startReplayOn(tb, c, cfg, opts...)
}

func startReplayOn(tb testing.TB, c *kfake.Cluster, cfg consumers.ReplayConfig, opts ...ingress.Option) *replayGateway {
	tb.Helper()
	if cfg.Topics == nil {
		cfg.Topics = []string{"orders.*"}
	}
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		tb.Fatal(err)
	}
	base := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(50 * time.Millisecond)}
	rep := consumers.NewReplayer(cfg, topics.NewAdmin(topicstest.Client(tb, c)), base,
		consumers.WithClock(func() time.Time { return replayNow }), consumers.WithLogger(testLogger()))
	deps := ingress.Deps{
		Producer:     topics.NewProducer(topicstest.Client(tb, c), 2*time.Second),
		Replayer:     rep,
		Topics:       rep,
		ReplayScopes: rep.Config().Scopes,
	}
	srv, err := ingress.New(ingress.Config{}, table, deps, append([]ingress.Option{ingress.WithLogger(testLogger()), ingress.WithTestPrincipals(testPrincipals)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := &replayGateway{
		gateway:  &gateway{url: "http://" + ln.Addr().String(), client: newHTTPClient(tb), srv: srv, cluster: c, served: make(chan error, 1)},
		producer: topicstest.Client(tb, c, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner())),
		replayer: rep,
	}
	go func() { g.served <- srv.Serve(ln) }()
	srv.SetReady(true)
	tb.Cleanup(func() {
		_ = rep.Close() // ends followed replays, as serve does before Shutdown
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := rep.Wait(ctx); err != nil {
			tb.Errorf("Replayer.Wait: %v", err)
		}
		if err := <-g.served; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return g
}

// produce writes n records to topic/partition: timestamps start, start+1s,
// ...; keys k0, k1, ...; JSON values {"n":i}; a parity header.
func (g *replayGateway) produce(tb testing.TB, topic string, partition int32, n int, start time.Time) {
	tb.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		parity := []byte("even")
		if i%2 == 1 {
			parity = []byte("odd")
		}
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Timestamp: start.Add(time.Duration(i) * time.Second),
			Key: []byte("k" + strconv.Itoa(i)), Value: []byte(`{"n":` + strconv.Itoa(i) + `}`),
			Headers: []kgo.RecordHeader{{Key: "parity", Value: parity}}}
	}
	g.produceRecords(tb, recs...)
}

func (g *replayGateway) produceRecords(tb testing.TB, recs ...*kgo.Record) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

// get sends a GET as the named test principal ("" for none).
func (g *replayGateway) get(tb testing.TB, who, path string, hdr ...string) (*http.Response, []byte) {
	tb.Helper()
	if who != "" {
		hdr = append(hdr, "Authorization", "Bearer "+who)
	}
	return g.do(tb, http.MethodGet, path, "", nil, hdr...)
}

// lines decodes an NDJSON body into records.
func lines(tb testing.TB, body []byte) []consumers.Record {
	tb.Helper()
	var out []consumers.Record
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r consumers.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func offsets(recs []consumers.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
	}
	return out
}

// problemOf decodes a problem+json answer.
func replayProblem(tb testing.TB, resp *http.Response, body []byte) problem.Details {
	tb.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, body)
	}
	var p problem.Details
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("problem %s: %v", body, err)
	}
	return p
}

func TestReplayAuthorization(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{})
	for _, path := range []string{"/v1/replay/orders.events", "/v1/topics", "/v1/topics/orders.events"} {
		resp, body := g.get(t, "", path)
		if p := replayProblem(t, resp, body); resp.StatusCode != 401 || p.Type != problem.Unauthenticated.URI ||
			resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without credentials = %d %s, want 401 unauthenticated with WWW-Authenticate", path, resp.StatusCode, body)
		}
		resp, body = g.get(t, "writer", path)
		if p := replayProblem(t, resp, body); resp.StatusCode != 403 || p.Type != problem.Forbidden.URI || !strings.Contains(p.Detail, "admin") {
			t.Errorf("GET %s without the admin scope = %d %s, want 403 forbidden naming admin", path, resp.StatusCode, body)
		}
		if resp, body := g.get(t, "admin", path); resp.StatusCode != 200 {
			t.Errorf("GET %s as admin = %d %s, want 200", path, resp.StatusCode, body)
		}
	}
	resp, body := g.do(t, http.MethodPost, "/v1/replay/orders.events/redrive", "application/json", []byte(`{"target_topic":"orders.dlq"}`), "Authorization", "Bearer writer")
	if resp.StatusCode != 403 {
		t.Errorf("redrive without the admin scope = %d %s, want 403", resp.StatusCode, body)
	}
}

func TestReplayTopicDenied(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{Topics: []string{"orders.*", "_*"}})
	tests := []struct {
		path   string
		status int
		typ    string
	}{
		{"/v1/replay/secret", 403, problem.TopicNotAllowed.URI},
		{"/v1/replay/__consumer_offsets", 403, problem.TopicNotAllowed.URI},
		{"/v1/topics/secret", 403, problem.TopicNotAllowed.URI},
		{"/v1/topics/__consumer_offsets", 403, problem.TopicNotAllowed.URI},
		{"/v1/replay/orders.missing", 404, problem.TopicNotFound.URI},
		{"/v1/topics/orders.missing", 404, problem.TopicNotFound.URI},
	}
	for _, tt := range tests {
		resp, body := g.get(t, "admin", tt.path)
		if p := replayProblem(t, resp, body); resp.StatusCode != tt.status || p.Type != tt.typ {
			t.Errorf("GET %s = %d %s, want %d %s", tt.path, resp.StatusCode, body, tt.status, tt.typ)
		}
	}
	resp, body := g.do(t, http.MethodPost, "/v1/replay/orders.events/redrive", "application/json",
		[]byte(`{"target_topic":"secret"}`), "Authorization", "Bearer admin")
	if p := replayProblem(t, resp, body); resp.StatusCode != 403 || p.Type != problem.TopicNotAllowed.URI {
		t.Errorf("redrive to a topic off the allowlist = %d %s, want 403", resp.StatusCode, body)
	}
}

func TestReplayQueries(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{MaxRecords: 1000})
	t0 := replayNow.Add(-time.Hour)
	g.produce(t, "orders.events", 0, 10, t0)
	g.produce(t, "orders.events", 1, 4, replayNow.Add(-10*time.Second))
	tests := []struct {
		name    string
		query   string
		want    []string
		inRange string
	}{
		{"everything", "", []string{"0/0", "0/1", "0/2", "0/3", "0/4", "0/5", "0/6", "0/7", "0/8", "0/9", "1/0", "1/1", "1/2", "1/3"}, "14"},
		{"by offset", "from=0:3&to=0:6", []string{"0/3", "0/4", "0/5"}, "3"},
		{"by timestamp", "partition=0&from=" + url.QueryEscape(t0.Add(2*time.Second).Format(time.RFC3339)) + "&to=" + url.QueryEscape(t0.Add(5*time.Second).Format(time.RFC3339)),
			[]string{"0/2", "0/3", "0/4"}, "3"},
		{"by timestamp with a zone, + unescaped", "partition=0&from=2026-01-02T16:00:07+01:00", []string{"0/7", "0/8", "0/9"}, "3"},
		{"by duration", "from=-8s", []string{"1/2", "1/3"}, "2"},
		{"by duration, both ends", "from=-20s&to=-7s", []string{"1/0", "1/1", "1/2"}, "3"},
		{"partitions", "partition=1", []string{"1/0", "1/1", "1/2", "1/3"}, "4"},
		{"key", "key=k3", []string{"0/3", "1/3"}, "14"},
		{"header", "partition=0&header.parity=odd", []string{"0/1", "0/3", "0/5", "0/7", "0/9"}, "10"},
		{"key and header", "key=k3&header.parity=odd", []string{"0/3", "1/3"}, "14"},
		{"limit", "partition=0&limit=2", []string{"0/0", "0/1"}, "10"},
		{"value", "where=" + url.QueryEscape("/n>=8"), []string{"0/8", "0/9"}, "14"},
		{"values and header", "header.parity=odd&where=" + url.QueryEscape("/n>1") + "&where=" + url.QueryEscape("/n != 3"),
			[]string{"0/5", "0/7", "0/9"}, "14"},
		{"empty", "from=latest", nil, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := g.get(t, "admin", "/v1/replay/orders.events?"+tt.query)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type = %q, want application/x-ndjson", ct)
			}
			if got := resp.Header.Get("Ferry-Records-In-Range"); got != tt.inRange {
				t.Errorf("Ferry-Records-In-Range = %q, want %q", got, tt.inRange)
			}
			wantLimit := "1000" // max_records
			if tt.name == "limit" {
				wantLimit = "2"
			}
			if got := resp.Header.Get("Ferry-Replay-Limit"); got != wantLimit {
				t.Errorf("Ferry-Replay-Limit = %q, want %q", got, wantLimit)
			}
			got := offsets(lines(t, body))
			sortPositions(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func sortPositions(ps []string) {
	less := func(a, b string) bool {
		var pa, oa, pb, ob int
		_, _ = fmt.Sscanf(a, "%d/%d", &pa, &oa)
		_, _ = fmt.Sscanf(b, "%d/%d", &pb, &ob)
		return pa < pb || (pa == pb && oa < ob)
	}
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && less(ps[j], ps[j-1]); j-- {
			ps[j-1], ps[j] = ps[j], ps[j-1]
		}
	}
}

func TestReplayBadRequests(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{MaxRecords: 100})
	tests := []struct {
		query  string
		accept string
		status int
		typ    string
	}{
		{"from=yesterday", "", 400, problem.BadPosition.URI},
		{"to=0:x", "", 400, problem.BadPosition.URI},
		{"from=0:9&to=0:3", "", 400, problem.InvalidRange.URI},
		{"from=latest&to=earliest", "", 400, problem.InvalidRange.URI},
		{"from=latest&to=-1m", "", 400, problem.InvalidRange.URI},
		{"from=0:99999", "", 400, problem.BadPosition.URI}, // past the end
		{"partition=7", "", 400, problem.BadPosition.URI},
		{"partition=a", "", 400, problem.BadPosition.URI},
		{"limit=0", "", 400, problem.BadRequest.URI},
		{"limit=101", "", 400, problem.LimitTooLarge.URI},
		{"format=xml", "", 400, problem.BadRequest.URI},
		{"follow=true", "", 400, problem.BadRequest.URI},
		{"follow=true&to=latest", "text/event-stream", 400, problem.BadRequest.URI},
		{"follow=maybe", "text/event-stream", 400, problem.BadRequest.URI},
		{"where=" + url.QueryEscape("/status=failed"), "", 400, problem.BadFilter.URI},
		{"where=status", "", 400, problem.BadFilter.URI},
	}
	for _, tt := range tests {
		resp, body := g.get(t, "admin", "/v1/replay/orders.events?"+tt.query, "Accept", tt.accept)
		if p := replayProblem(t, resp, body); resp.StatusCode != tt.status || p.Type != tt.typ {
			t.Errorf("GET ?%s = %d %s, want %d %s", tt.query, resp.StatusCode, body, tt.status, tt.typ)
		}
	}
	resp, body := g.get(t, "admin", "/v1/replay/orders.events?format=sse", "Last-Event-ID", "garbage")
	if resp.StatusCode != 400 {
		t.Errorf("bad Last-Event-ID = %d %s, want 400", resp.StatusCode, body)
	}
	resp, body = g.do(t, http.MethodDelete, "/v1/replay/orders.events", "", nil, "Authorization", "Bearer admin")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE /v1/replay = %d %s (Allow %q), want 405", resp.StatusCode, body, resp.Header.Get("Allow"))
	}
}

// TestReplayGolden pins the record format and the framing of each output
// format against testdata/replay/*.golden (go test -run Golden -update).
func TestReplayGolden(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{})
	ts := time.Date(2026, 1, 2, 15, 4, 5, 123e6, time.UTC)
	g.produceRecords(t,
		&kgo.Record{Topic: "orders.events", Partition: 0, Timestamp: ts, Key: []byte("c-42"), Value: []byte(`{"order_id": "o-1", "total": 12.5}`),
			Headers: []kgo.RecordHeader{{Key: "ce_type", Value: []byte("com.example.order.created")}, {Key: "content-type", Value: []byte("application/json")}}},
		&kgo.Record{Topic: "orders.events", Partition: 0, Timestamp: ts.Add(time.Second), Key: []byte{0xde, 0xad, 0xbe, 0xef}, Value: []byte("plain text, not JSON"),
			Headers: []kgo.RecordHeader{{Key: "bin", Value: []byte{0xff, 0x00}}}},
		&kgo.Record{Topic: "orders.events", Partition: 0, Timestamp: ts.Add(2 * time.Second), Value: []byte("{\n  \"pretty\": [1, 2]\n}")},
		&kgo.Record{Topic: "orders.events", Partition: 0, Timestamp: ts.Add(3 * time.Second), Key: []byte("c-42")}, // tombstone
	)
	for _, tt := range []struct {
		name, query, accept, contentType string
	}{
		{"ndjson", "partition=0", "", "application/x-ndjson"},
		{"json", "partition=0&format=json", "", "application/json"},
		{"json-empty", "partition=0&from=latest&format=json", "", "application/json"},
		{"sse", "partition=0&limit=2", "text/event-stream", "text/event-stream"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := g.get(t, "admin", "/v1/replay/orders.events?"+tt.query, "Accept", tt.accept)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.contentType {
				t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if tt.name == "json" || tt.name == "json-empty" {
				var arr []json.RawMessage
				if err := json.Unmarshal(body, &arr); err != nil {
					t.Errorf("format=json body is not a JSON array: %v", err)
				}
			}
			golden := "testdata/replay/" + tt.name + ".golden"
			if *update {
				if err := os.WriteFile(golden, body, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(string(readFile(t, golden)), string(body)); diff != "" {
				t.Errorf("GET ?%s (-%s +got):\n%s", tt.query, golden, diff)
			}
		})
	}
}

// replaySSEEvent is one parsed Server-Sent Event.
type replaySSEEvent struct{ id, event, data string }

// sseReader reads events from a text/event-stream body, counting comments
// (heartbeats).
type sseReader struct {
	sc       *bufio.Scanner
	comments int
}

// waitComment reads until the next comment.
func (r *sseReader) waitComment() error {
	n := r.comments
	for r.sc.Scan() {
		if strings.HasPrefix(r.sc.Text(), ":") {
			r.comments++
		}
		if r.comments > n {
			return nil
		}
	}
	return fmt.Errorf("stream ended: %v", r.sc.Err())
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	return &sseReader{sc: sc}
}

func (r *sseReader) next() (replaySSEEvent, error) {
	var ev replaySSEEvent
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if ev.event != "" || ev.data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			r.comments++
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
	if err := r.sc.Err(); err != nil {
		return ev, err
	}
	return ev, io.EOF
}

// openStream starts a streaming GET and returns the response; the stream
// closes when ctx ends.
func (g *replayGateway) openStream(tb testing.TB, ctx context.Context, path string, hdr ...string) *http.Response {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin")
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestReplayFollow(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{}, ingress.WithReplayHeartbeat(50*time.Millisecond))
	g.produce(t, "orders.events", 0, 2, replayNow)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resp := g.openStream(t, ctx, "/v1/replay/orders.events?follow=true&header.parity=even")
	if resp.StatusCode != 200 || resp.Header.Get("Ferry-Records-In-Range") != "" {
		t.Fatalf("status %d, in range %q", resp.StatusCode, resp.Header.Get("Ferry-Records-In-Range"))
	}
	sse := newSSEReader(resp.Body)
	ev, err := sse.next()
	if err != nil || ev.event != "record" || ev.id != "0:1,1:0,2:0" || !strings.Contains(ev.data, `"key":"k0"`) {
		t.Fatalf("first event %+v, %v; want record k0 with id 0:1,1:0,2:0", ev, err)
	}
	// Quiet topic: heartbeats flow; then new records arrive.
	for range 2 {
		if err := sse.waitComment(); err != nil {
			t.Fatal(err)
		}
	}
	g.produce(t, "orders.events", 2, 3, replayNow) // k0 even, k1 odd, k2 even
	var got []string
	for len(got) < 2 {
		ev, err := sse.next()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		var r consumers.Record
		if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d/%d %s", ev.id, r.Partition, r.Offset, r.Key))
	}
	if diff := cmp.Diff([]string{"0:2,1:0,2:1 2/0 k0", "0:2,1:0,2:3 2/2 k2"}, got); diff != "" {
		t.Errorf("followed events (-want +got):\n%s", diff)
	}
	resp.Body.Close()

	// An EventSource reconnecting with Last-Event-ID resumes after it.
	resp = g.openStream(t, ctx, "/v1/replay/orders.events?follow=true", "Last-Event-ID", "0:2,1:0,2:1")
	ev, err = newSSEReader(resp.Body).next()
	if err != nil || ev.id != "0:2,1:0,2:2" || !strings.Contains(ev.data, `"key":"k1"`) {
		t.Errorf("resumed event %+v, %v; want 2/1 k1", ev, err)
	}
	resp.Body.Close()

	// Shutdown ends followed replays with an end event.
	resp = g.openStream(t, ctx, "/v1/replay/orders.events?follow=true&from=latest")
	sse = newSSEReader(resp.Body)
	if err := sse.waitComment(); err != nil {
		t.Fatal(err)
	}
	g.replayer.Close()
	ev, err = sse.next()
	if err != nil || ev.event != "end" || !strings.Contains(ev.data, `"reason":"closed"`) {
		t.Errorf("event at shutdown %+v, %v; want end with reason closed", ev, err)
	}
}

func TestReplayBoundedSSE(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{})
	g.produce(t, "orders.events", 1, 3, replayNow)
	resp := g.openStream(t, t.Context(), "/v1/replay/orders.events?format=sse")
	sse := newSSEReader(resp.Body)
	var events []string
	for {
		ev, err := sse.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev.event+" "+ev.id)
		if ev.event == "end" && ev.data != `{"reason":"end","records":3,"scanned":3}` {
			t.Errorf("end event data %s", ev.data)
		}
	}
	want := []string{"record 0:0,1:1,2:0", "record 0:0,1:2,2:0", "record 0:0,1:3,2:0", "end 0:0,1:3,2:0"}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestReplayConcurrencyCap: past max_concurrent a replay gets 429; a
// client that leaves a followed replay frees its slot at the next heartbeat.
func TestReplayConcurrencyCap(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{MaxConcurrent: 1}, ingress.WithReplayHeartbeat(20*time.Millisecond))
	ctx, cancel := context.WithCancel(t.Context())
	resp := g.openStream(t, ctx, "/v1/replay/orders.events?follow=true")
	if err := newSSEReader(resp.Body).waitComment(); err != nil {
		t.Fatal(err)
	}
	r2, body := g.get(t, "admin", "/v1/replay/orders.events")
	if p := replayProblem(t, r2, body); r2.StatusCode != 429 || p.Type != problem.TooManyReplays.URI || r2.Header.Get("Retry-After") != "1" {
		t.Fatalf("second replay = %d %s (Retry-After %q), want 429 too-many-replays", r2.StatusCode, body, r2.Header.Get("Retry-After"))
	}
	cancel() // the client leaves
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if r, body := g.get(t, "admin", "/v1/replay/orders.events"); r.StatusCode != 200 {
			return fmt.Errorf("replay after the client left = %d %s", r.StatusCode, body)
		}
		return nil
	})
}

// TestReplayTerminatesWhileProducing: a bounded replay ends at the high
// watermarks taken when it started while a producer keeps writing.
func TestReplayTerminatesWhileProducing(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{})
	g.produce(t, "orders.events", 0, 200, replayNow)
	ctx, cancel := context.WithCancel(t.Context())
	var written atomic.Int64
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ctx.Err() == nil; i++ {
			r := &kgo.Record{Topic: "orders.events", Partition: int32(i % 3), Value: []byte(`{"late":true}`)}
			if g.producer.ProduceSync(ctx, r).FirstErr() == nil {
				written.Add(1)
			}
		}
	}()
	defer func() { cancel(); <-stopped }()
	topicstest.Eventually(t, 5*time.Second, time.Millisecond, func() error {
		if written.Load() < 20 {
			return errors.New("the producer has not started")
		}
		return nil
	})
	before := written.Load()
	resp, body := g.get(t, "admin", "/v1/replay/orders.events")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := lines(t, body)
	inRange, _ := strconv.Atoi(resp.Header.Get("Ferry-Records-In-Range"))
	if len(got) != inRange || inRange < 200+int(before) {
		t.Errorf("read %d records, Ferry-Records-In-Range %d; want equal, and at least the %d written before", len(got), inRange, 200+before)
	}
	if after := written.Load(); after == before {
		t.Logf("the producer wrote nothing during the replay")
	}
}

// TestReplayErrorMidStream: when Kafka stops delivering after the status
// line is out, the output ends with an in-band problem, never looking
// complete.
func TestReplayErrorMidStream(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{StallTimeout: 200 * time.Millisecond})
	g.produce(t, "orders.events", 0, 3, replayNow)
	c := g.cluster
	c.ControlKey(kmsg.Fetch.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		freq := req.(*kmsg.FetchRequest)
		resp := freq.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range freq.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.HighWatermark, sp.LastStableOffset = rp.Partition, 3, 3
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	for _, f := range []string{"ndjson", "json", "sse"} {
		resp, body := g.get(t, "admin", "/v1/replay/orders.events?partition=0&format="+f)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", f, resp.StatusCode)
		}
		if !strings.Contains(string(body), `{"error":{"type":"urn:ferry:problem:kafka-unavailable"`) {
			t.Errorf("%s: body %s lacks the in-band kafka-unavailable problem", f, body)
		}
		if f == "json" && !json.Valid(body) {
			t.Errorf("json: body with an error is not valid JSON: %s", body)
		}
	}
}

// TestReplayBoundedMemory streams a 100,000-record replay and checks that
// the live heap stays flat while it does: ferry holds about one fetch per
// replay, whatever the range.
func TestReplayBoundedMemory(t *testing.T) {
	const n, valueSize = 100_000, 512
	g := startReplay(t, consumers.ReplayConfig{})
	// Uncompressed batches: the broker's batches are as large as what
	// ferry reads out of them.
	producer := topicstest.Client(t, g.cluster, kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceN(t, producer, "orders.events", n, valueSize)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	startStream := time.Now()
	resp := g.openStream(t, t.Context(), "/v1/replay/orders.events?format=ndjson")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	var count, bytesRead int
	var peak uint64
	for sc.Scan() {
		count++
		bytesRead += len(sc.Bytes()) + 1
		if count%10_000 == 0 {
			peak = max(peak, heap())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("streamed %d records, want %d", count, n)
	}
	growth := int64(peak) - int64(base)
	t.Logf("streamed %d records (%.1f MB) in %v; live heap %.1f MB before, peak growth %.1f MB",
		count, float64(bytesRead)/1e6, time.Since(startStream).Round(time.Millisecond), float64(base)/1e6, float64(growth)/1e6)
	if limit := int64(32 << 20); growth > limit {
		t.Errorf("live heap grew by %.1f MB while streaming %.1f MB, want under %d MB", float64(growth)/1e6, float64(bytesRead)/1e6, limit>>20)
	}
}

// produceN writes n records of about valueSize bytes (JSON values) to
// topic, spread over 3 partitions.
func produceN(tb testing.TB, cl *kgo.Client, topic string, n, valueSize int) {
	tb.Helper()
	value := []byte(`{"pad":"` + strings.Repeat("0123456789abcdef", (valueSize-10)/16) + `"}`)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % 3), Key: []byte("k" + strconv.Itoa(i)), Value: value}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce %d records: %v", n, err)
	}
}

func TestRedriveHTTP(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{})
	g.produce(t, "orders.dlq", 0, 6, replayNow)
	post := func(body string) (*http.Response, []byte) {
		return g.do(t, http.MethodPost, "/v1/replay/orders.dlq/redrive", "application/json", []byte(body), "Authorization", "Bearer admin")
	}
	resp, body := post(`{"filters":{"headers":{"parity":"odd"}},"target_topic":"orders.events","dry_run":true}`)
	want := `{"topic":"orders.dlq","target_topic":"orders.events","dry_run":true,"new_ids":true,"scanned":6,"matched":3,"produced":0,` +
		`"ranges":[{"partition":0,"start":0,"end":6},{"partition":1,"start":0,"end":0},{"partition":2,"start":0,"end":0}]}`
	if resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("dry run = %d %s\nwant %s", resp.StatusCode, body, want)
	}
	if n := topicstest.Count(t, g.cluster, "orders.events"); n != 0 {
		t.Fatalf("dry run copied %d records", n)
	}
	resp, body = post(`{"filters":{"headers":{"parity":"odd"},"where":["/n > 1", "/n != 5"]},"target_topic":"orders.events","dry_run":true}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"scanned":6,"matched":1,`) {
		t.Fatalf("dry run with value filters = %d %s, want 1 of 6 matched (n=3)", resp.StatusCode, body)
	}
	resp, body = post(`{"from":"0:2","to":"0:6","filters":{"key":"k3"},"target_topic":"orders.events"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"matched":1,"produced":1`) {
		t.Fatalf("redrive = %d %s, want 1 matched and produced", resp.StatusCode, body)
	}
	got := topicstest.Read(t, g.cluster, "orders.events", 1, 5*time.Second)
	if len(got) != 1 || string(got[0].Key) != "k3" || string(got[0].Value) != `{"n":3}` {
		t.Fatalf("target holds %v", got)
	}
	var from string
	for _, h := range got[0].Headers {
		if h.Key == "ferry-redriven-from" {
			from = string(h.Value)
		}
	}
	if from != "orders.dlq/0/3" {
		t.Errorf("ferry-redriven-from = %q, want orders.dlq/0/3", from)
	}
	if n := topicstest.Count(t, g.cluster, "orders.events"); n != 1 {
		t.Errorf("target holds %d records, want exactly 1", n)
	}

	for _, tt := range []struct {
		body, ct string
		status   int
		typ      string
	}{
		{`{"target_topic":"orders.events","bogus":1}`, "application/json", 400, problem.MalformedJSON.URI},
		{`{}`, "application/json", 400, problem.BadRequest.URI},
		{`{"target_topic":"orders.events","from":"soon"}`, "application/json", 400, problem.BadPosition.URI},
		{`{"target_topic":"orders.events","filters":{"where":["/n = one"]}}`, "application/json", 400, problem.BadFilter.URI},
		{`{"target_topic":"orders.nope"}`, "application/json", 404, problem.TopicNotFound.URI},
		{`{"target_topic":"orders.events"}`, "text/plain", 415, problem.UnsupportedMedia.URI},
	} {
		resp, body := g.do(t, http.MethodPost, "/v1/replay/orders.dlq/redrive", tt.ct, []byte(tt.body), "Authorization", "Bearer admin")
		if p := replayProblem(t, resp, body); resp.StatusCode != tt.status || p.Type != tt.typ {
			t.Errorf("redrive %s = %d %s, want %d %s", tt.body, resp.StatusCode, body, tt.status, tt.typ)
		}
	}
}

func TestTopicsHTTP(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{})
	g.produce(t, "orders.events", 1, 5, replayNow)
	resp, body := g.get(t, "admin", "/v1/topics")
	want := `{"topics":[` +
		`{"topic":"orders.dlq","records":0,"partitions":[{"partition":0,"start_offset":0,"end_offset":0,"records":0},{"partition":1,"start_offset":0,"end_offset":0,"records":0},{"partition":2,"start_offset":0,"end_offset":0,"records":0}]},` +
		`{"topic":"orders.events","records":5,"partitions":[{"partition":0,"start_offset":0,"end_offset":0,"records":0},{"partition":1,"start_offset":0,"end_offset":5,"records":5},{"partition":2,"start_offset":0,"end_offset":0,"records":0}]}]}`
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("GET /v1/topics = %d\n%s\nwant\n%s", resp.StatusCode, body, want)
	}
	resp, body = g.get(t, "admin", "/v1/topics/orders.events")
	var ti struct {
		Topic      string `json:"topic"`
		Records    int64  `json:"records"`
		Partitions []struct {
			Partition   int32   `json:"partition"`
			StartOffset int64   `json:"start_offset"`
			EndOffset   int64   `json:"end_offset"`
			Leader      *int32  `json:"leader"`
			Replicas    []int32 `json:"replicas"`
			ISR         []int32 `json:"isr"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(body, &ti); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/topics/orders.events = %d %s (%v)", resp.StatusCode, body, err)
	}
	if ti.Records != 5 || len(ti.Partitions) != 3 || ti.Partitions[1].EndOffset != 5 || ti.Partitions[1].Leader == nil ||
		len(ti.Partitions[1].Replicas) != 1 || len(ti.Partitions[1].ISR) != 1 {
		t.Errorf("GET /v1/topics/orders.events = %s", body)
	}
}

// TestReplayHead: HEAD answers the headers of the replay and frees its
// slot at once.
func TestReplayHead(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{MaxConcurrent: 1})
	g.produce(t, "orders.events", 0, 3, replayNow)
	for range 3 { // with one slot, a leaked slot would fail the second round
		resp, body := g.do(t, http.MethodHead, "/v1/replay/orders.events", "", nil, "Authorization", "Bearer admin")
		if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Ferry-Records-In-Range") != "3" {
			t.Fatalf("HEAD = %d, %q, in range %q", resp.StatusCode, body, resp.Header.Get("Ferry-Records-In-Range"))
		}
	}
	if resp, body := g.get(t, "admin", "/v1/replay/orders.events"); resp.StatusCode != 200 || len(lines(t, body)) != 3 {
		t.Errorf("GET after HEADs = %d %s", resp.StatusCode, body)
	}
}

// TestReplayMetrics checks that a finished replay leaves no active replay
// behind and counts the records it streamed.
func TestReplayMetrics(t *testing.T) {
	t.Parallel()
	m, err := metrics.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	g := startReplay(t, consumers.ReplayConfig{}, ingress.WithMetrics(m))
	g.produce(t, "orders.events", 0, 7, time.Now().Add(-time.Minute))
	resp, body := g.get(t, "admin", "/v1/replay/orders.events?from=earliest")
	if resp.StatusCode != http.StatusOK || len(lines(t, body)) != 7 {
		t.Fatalf("replay = %d with %d records, want 200 with 7", resp.StatusCode, len(lines(t, body)))
	}
	mfs := g.scrape(t)
	topicstest.Eventually(t, 2*time.Second, 10*time.Millisecond, func() error {
		mfs = g.scrape(t)
		if got := series(mfs, "ferry_replay_active")[""]; got != 0 {
			return fmt.Errorf("ferry_replay_active = %v after the replay ended, want 0", got)
		}
		return nil
	})
	if got := series(mfs, "ferry_replay_records_streamed_total")[""]; got != 7 {
		t.Errorf("ferry_replay_records_streamed_total = %v, want 7", got)
	}
}

// TestFollowReplayFreesSlotAtOnce: a client that leaves a followed replay
// on a quiet topic frees its max_concurrent slot within a second, not at
// the next heartbeat (15 s by default).
func TestFollowReplayFreesSlotAtOnce(t *testing.T) {
	g := startReplay(t, consumers.ReplayConfig{MaxConcurrent: 1}, ingress.WithReplayHeartbeat(time.Minute))
	ctx, cancel := context.WithCancel(t.Context())
	resp := g.openStream(t, ctx, "/v1/replay/orders.events?follow=true")
	defer resp.Body.Close()
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if r, body := g.get(t, "admin", "/v1/replay/orders.events"); r.StatusCode != 429 {
			return fmt.Errorf("second replay = %d %s, want 429 while the first follows", r.StatusCode, body)
		}
		return nil
	})
	cancel() // the client leaves
	left := time.Now()
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if r, body := g.get(t, "admin", "/v1/replay/orders.events"); r.StatusCode != 200 {
			return fmt.Errorf("replay after the client left = %d %s", r.StatusCode, body)
		}
		return nil
	})
	if took := time.Since(left); took > time.Second {
		t.Errorf("the slot was freed %s after the client left, want within 1s", took.Round(time.Millisecond))
	}
}
