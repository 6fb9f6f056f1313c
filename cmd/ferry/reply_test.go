package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/consumers/respond"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// problemType returns the type of a problem+json body.
func problemType(tb testing.TB, r response) string {
	tb.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("got %s with Content-Type %q, want a problem", r, ct)
	}
	var p problem.Details
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		tb.Fatal(err)
	}
	return p.Type
}

// TestServeEcho runs serve itself, as `make run` does: embedded nothing,
// but the real wiring, the in-process SDK echo responder, a sync answer, an
// async one read back, and a clean shutdown.
func TestServeEcho(t *testing.T) {
	e := newEnv(t)
	url, stop := serveInProcess(t, fmt.Sprintf(`listen: "127.0.0.1:0"
server: { access_log: false }
kafka: { brokers: [%q] }
redis: { url: %q }
correlator: { key_prefix: %q }
routes:
  - { name: quote, path: /v1/quotes, topic: %s, auth: none, reply: { topic: %s } }
`, e.addrs[0], e.redisURL, e.prefix, quotesTopic, repliesTopic), serveOptions{echo: true})
	sync := do(t, "POST", url+"/v1/quotes", `{"symbol":"ACME"}`)
	if sync.status != 200 || sync.body != `{"symbol":"ACME"}` {
		t.Errorf("POST /v1/quotes = %s, want 200 with the echo", sync)
	}
	async := do(t, "POST", url+"/v1/quotes", `{"symbol":"ASYNC"}`, "Prefer", "respond-async")
	if async.status != 202 || async.header.Get("Preference-Applied") != "respond-async" {
		t.Fatalf("POST with respond-async = %s, want 202", async)
	}
	res := do(t, "GET", url+async.header.Get("Location"), "", "Prefer", "wait=5")
	if res.status != 200 || res.body != `{"symbol":"ASYNC"}` {
		t.Errorf("GET %s = %s, want 200 with the echo", async.header.Get("Location"), res)
	}
	if err := stop(); err != nil {
		t.Errorf("serve() = %v after shutdown", err)
	}
}

// TestRawResponder answers with raw franz-go that only follows the header
// contract (copy kafka_correlationId, send to kafka_replyTopic and
// kafka_replyPartition), in both layouts, and checks the status and header
// mapping.
func TestRawResponder(t *testing.T) {
	for _, layout := range []string{correlator.LayoutShared, correlator.LayoutPartition} {
		t.Run(layout, func(t *testing.T) {
			e := newEnv(t)
			in := e.start(t, instanceOpts{layout: layout})
			cl := e.client(t, kgo.ConsumeTopics(quotesTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for {
					fs := cl.PollFetches(ctx)
					if ctx.Err() != nil {
						return
					}
					fs.EachRecord(func(r *kgo.Record) {
						_ = rawReply(cl, r, `{"quote":`+string(r.Value)+`}`,
							"ferry-status", "201", "content-type", "application/vnd.quote+json",
							"ferry-header-Location", "/v1/quotes/1", "ferry-header-Set-Cookie", "evil=1")
					})
				}
			}()
			r := do(t, "POST", in.url+"/v1/quotes", `{"n":1}`)
			if r.status != 201 || r.body != `{"quote":{"n":1}}` {
				t.Fatalf("POST = %s, want 201 with the raw reply", r)
			}
			got := map[string]string{
				"Content-Type": r.header.Get("Content-Type"), "Location": r.header.Get("Location"), "Set-Cookie": r.header.Get("Set-Cookie"),
			}
			want := map[string]string{"Content-Type": "application/vnd.quote+json", "Location": "/v1/quotes/1", "Set-Cookie": ""}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("response headers mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// readmeKcatResponder returns the kcat responder script of docs/events.md, with
// its broker address replaced by addr.
func readmeKcatResponder(tb testing.TB, addr string) string {
	tb.Helper()
	var scripts []string
	for _, doc := range []string{"../../README.md", "../../docs/events.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			tb.Fatal(err)
		}
		const start = "```sh\nkcat -b 127.0.0.1:9092 -G"
		i := strings.Index(string(text), start)
		if i < 0 {
			tb.Fatalf("%s has no kcat responder", doc)
		}
		script, _, _ := strings.Cut(string(text[i+len("```sh\n"):]), "```")
		scripts = append(scripts, script)
	}
	if scripts[0] != scripts[1] {
		tb.Errorf("the kcat responders of README.md and docs/events.md differ:\n%s\n%s", scripts[0], scripts[1])
	}
	return strings.ReplaceAll(scripts[0], "127.0.0.1:9092", addr)
}

// TestKcatResponder answers with the kcat script of the README (and
// docs/events.md, the same), with librdkafka, run by bash as printed there. The script starts from the latest
// requests (issue 16 item 21): requests already in the topic when it
// starts, one per partition, get no reply.
func TestKcatResponder(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed (.ci/run installs it)")
	}
	e := newEnv(t)
	in := e.start(t, instanceOpts{layout: correlator.LayoutShared})
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		stale := &kgo.Record{Topic: quotesTopic, Partition: p, Value: []byte(`{"stale":true}`), Headers: []kgo.RecordHeader{
			{Key: "kafka_correlationId", Value: []byte(fmt.Sprintf("stale-%d", p))},
			{Key: "kafka_replyTopic", Value: []byte(repliesTopic)},
		}}
		if err := cl.ProduceSync(t.Context(), stale).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-c", readmeKcatResponder(t, e.addrs[0]))
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killProcessGroup(cmd); _ = cmd.Wait() })
	// librdkafka joins its group in its own time, and from latest it
	// answers only requests sent once it has its partitions: ask until
	// one is answered.
	topicstest.Eventually(t, 60*time.Second, 10*time.Millisecond, func() error {
		r, err := doErr("POST", in.url+"/v1/quotes", `{"via":"kcat"}`, "Prefer", "wait=2")
		if err != nil {
			return err
		}
		if r.status != 201 || r.body != `{"via":"kcat"}` {
			return fmt.Errorf("POST answered %s, want 201 with the echo from kcat", r)
		}
		return nil
	})
	r := do(t, "POST", in.url+"/v1/quotes", `{"via":"kcat","n":2}`)
	if r.status != 201 || r.body != `{"via":"kcat","n":2}` {
		t.Errorf("second POST answered by kcat = %s, want 201 with the echo", r)
	}
	// Within a partition kcat answers in order, so a stale request it read
	// has its reply before the replies above.
	for _, rec := range readTopic(t, cl, repliesTopic) {
		for _, h := range rec.Headers {
			if h.Key == "kafka_correlationId" && strings.HasPrefix(string(h.Value), "stale-") {
				t.Errorf("kcat answered %s, a request sent before it started: the script must start from latest", h.Value)
			}
		}
	}
}

// readTopic reads every record a topic holds now.
func readTopic(t *testing.T, cl *kgo.Client, topic string) []*kgo.Record {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ends.Each(func(o kadm.ListedOffset) { n += int(o.Offset) })
	return consume(t, cl.OptValue(kgo.SeedBrokers).([]string)[0], topic, n)
}

// replyFirst is a Producer that, before producing a request, produces its
// reply and waits until the correlator has delivered it: the fastest
// responder possible, one that beats even the produce acknowledgement.
type replyFirst struct {
	ingress.Producer
	cl   *kgo.Client
	corr func() *correlator.Correlator
}

func (p replyFirst) Produce(ctx context.Context, m *topics.Message) (topics.Position, error) {
	rec := m.Record() // carries the reply headers, as a responder would see them
	if err := rawReply(p.cl, rec, `{"early":true}`); err != nil {
		return topics.Position{}, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.corr().Pending() != 0 { // the waiter got its reply
		if time.Now().After(deadline) {
			return topics.Position{}, errors.New("reply not delivered")
		}
		time.Sleep(time.Millisecond)
	}
	return p.Producer.Produce(ctx, m)
}

func TestReplyBeforeProduceAck(t *testing.T) {
	e := newEnv(t)
	var in *instance
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	in = e.start(t, instanceOpts{layout: correlator.LayoutPartition, wrapProduce: func(p ingress.Producer) ingress.Producer {
		return replyFirst{Producer: p, cl: cl, corr: func() *correlator.Correlator { return in.corr }}
	}})
	r := do(t, "POST", in.url+"/v1/quotes", `{}`)
	if r.status != 200 || r.body != `{"early":true}` {
		t.Errorf("POST = %s, want the reply that arrived before the request was produced", r)
	}
}

func TestTimeoutFail(t *testing.T) {
	e := newEnv(t)
	in := e.start(t, instanceOpts{})
	start := time.Now()
	r := do(t, "POST", in.url+"/v1/strict", `{}`)
	if got := problemType(t, r); r.status != 504 || got != problem.ReplyTimeout.URI {
		t.Errorf("POST /v1/strict = %s, want 504 %s", r, problem.ReplyTimeout.URI)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("answered after %v, want about reply.timeout (300ms)", d)
	}
	// Prefer: wait asks for less, and more (up to max_wait, 2s).
	start = time.Now()
	r = do(t, "POST", in.url+"/v1/strict", `{}`, "Prefer", "wait=1")
	if d := time.Since(start); r.status != 504 || d < time.Second || r.header.Get("Preference-Applied") != "wait=1" {
		t.Errorf("POST with wait=1 = %s after %v, want 504 after 1s", r, d)
	}
	r = do(t, "POST", in.url+"/v1/strict", `{}`, "Prefer", "wait=60")
	if r.header.Get("Preference-Applied") != "wait=2" {
		t.Errorf("POST with wait=60: Preference-Applied = %q, want wait=2 (max_wait)", r.header.Get("Preference-Applied"))
	}
	if n := in.corr.Pending(); n != 0 {
		t.Errorf("Pending() = %d after timeouts, want 0", n)
	}
}

func TestTimeoutAcceptThenResult(t *testing.T) {
	e := newEnv(t)
	in := e.start(t, instanceOpts{})
	h := e.handResponder(t, slowTopic)
	r := do(t, "POST", in.url+"/v1/slow", `{"n":1}`)
	loc := r.header.Get("Location")
	if r.status != 202 || !strings.HasPrefix(loc, "/v1/results/") {
		t.Fatalf("POST /v1/slow = %s, want 202 with Location", r)
	}
	pending := do(t, "GET", in.url+loc, "")
	if pending.status != 202 || pending.header.Get("Retry-After") == "" {
		t.Errorf("GET %s before the reply = %s, want 202 with Retry-After", loc, pending)
	}
	h.reply(t, h.next(t), `{"late":true}`, "ferry-status", "203", "ferry-header-Cache-Control", "max-age=5")
	var got response
	topicstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		if got = do(t, "GET", in.url+loc, ""); got.status == 202 {
			return fmt.Errorf("GET %s = %s", loc, got)
		}
		return nil
	})
	if got.status != 203 || got.body != `{"late":true}` || got.header.Get("Cache-Control") != "max-age=5" {
		t.Errorf("GET %s = %s %v, want 203 with the reply and its header", loc, got, got.header)
	}
	if n := in.corr.Pending(); n != 0 {
		t.Errorf("Pending() = %d, want 0", n)
	}
}

func TestRespondAsync(t *testing.T) {
	e := newEnv(t)
	in := e.start(t, instanceOpts{})
	h := e.handResponder(t, slowTopic)
	r := do(t, "POST", in.url+"/v1/slow", `{"n":2}`, "Prefer", "respond-async")
	// Preference-Applied tells the answer that did not wait from the one
	// that waited out the route's 300ms timeout (a wall-clock bound was
	// flaky on a loaded CI machine: 271ms once).
	if r.status != 202 || r.header.Get("Preference-Applied") != "respond-async" {
		t.Fatalf("POST with respond-async = %s (Preference-Applied %q), want 202 at once with Preference-Applied: respond-async", r, r.header.Get("Preference-Applied"))
	}
	loc := r.header.Get("Location")
	var id struct{ ID string }
	if err := json.Unmarshal([]byte(r.body), &id); err != nil || loc != "/v1/results/"+id.ID {
		t.Fatalf("202 body %s and Location %q disagree", r.body, loc)
	}
	go func() {
		req := <-h.reqs
		time.Sleep(200 * time.Millisecond) // the long poll below must wait for it
		_ = rawReply(h.cl, req, `{"n":2,"done":true}`)
	}()
	got := do(t, "GET", in.url+loc, "", "Prefer", "wait=5")
	if got.status != 200 || got.body != `{"n":2,"done":true}` || got.header.Get("Preference-Applied") != "wait=5" {
		t.Errorf("long poll = %s, want 200 with the reply", got)
	}
	if unknown := do(t, "GET", in.url+"/v1/results/"+topics.NewEventID(), ""); problemType(t, unknown) != problem.ResultNotFound.URI {
		t.Errorf("GET an unknown result = %s, want 404 result-not-found", unknown)
	}
}

func TestProgressOverSSE(t *testing.T) {
	e := newEnv(t)
	in := e.start(t, instanceOpts{})
	release := make(chan struct{})
	e.echo(t, func(ctx context.Context, req respond.Request) (respond.Reply, error) {
		<-release // the stream is open before anything is sent
		for i := 1; i <= 2; i++ {
			if err := req.Progress(ctx, respond.Reply{Body: fmt.Appendf(nil, `{"step":%d}`, i)}); err != nil {
				return respond.Reply{}, err
			}
		}
		return respond.Reply{Body: []byte("done\nin two lines")}, nil
	})
	r := do(t, "POST", in.url+"/v1/quotes", `{}`, "Prefer", "respond-async")
	req, _ := http.NewRequest("GET", in.url+r.header.Get("Location"), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET with Accept: text/event-stream = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	close(release)
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	inEvent := false
	for sc.Scan() { // ends when the server ends the stream after the final reply
		switch l := sc.Text(); {
		case strings.HasPrefix(l, ":"): // comments: the opening one, pings
		case l == "" && !inEvent:
		default:
			lines = append(lines, l)
			inEvent = l != ""
		}
	}
	want := []string{
		"id: 1", "event: progress", `data: {"step":1}`, "",
		"id: 2", "event: progress", `data: {"step":2}`, "",
		"id: 3", "event: result", "data: done", "data: in two lines", "",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("event stream mismatch (-want +got):\n%s", diff)
	}
}

// TestTwoInstances: two gateways share one cluster, one Redis and one reply
// topic; 1,000 concurrent requests spread over both each get their own
// reply, in both layouts.
func TestTwoInstances(t *testing.T) {
	for _, layout := range []string{correlator.LayoutShared, correlator.LayoutPartition} {
		t.Run(layout, func(t *testing.T) {
			e := newEnv(t)
			ins := []*instance{e.start(t, instanceOpts{layout: layout}), e.start(t, instanceOpts{layout: layout})}
			e.echo(t, nil)
			const n = 1000
			var wg sync.WaitGroup
			var bad atomic.Int32
			start := time.Now()
			for i := range n {
				wg.Go(func() {
					body := fmt.Sprintf(`{"n":%d,"nonce":%q}`, i, topics.NewEventID())
					r, err := doErr("POST", ins[i%2].url+"/v1/quotes", body)
					if err != nil || r.status != 200 || r.body != body {
						if bad.Add(1) <= 5 {
							t.Errorf("request %d to instance %d = %v, %v; want 200 with its own body", i, i%2, r, err)
						}
					}
				})
			}
			wg.Wait()
			t.Logf("%d concurrent requests over 2 instances in %v", n, time.Since(start))
			if b := bad.Load(); b > 0 {
				t.Errorf("%d of %d requests did not get their own reply", b, n)
			}
			for i, in := range ins {
				if p := in.corr.Pending(); p != 0 {
					t.Errorf("instance %d: Pending() = %d, want 0", i, p)
				}
			}
		})
	}
}

// TestRestartWithPendingResults: an instance accepts asynchronous requests,
// stops before their replies arrive and starts again; every result is
// served, by either instance.
func TestRestartWithPendingResults(t *testing.T) {
	for _, layout := range []string{correlator.LayoutShared, correlator.LayoutPartition} {
		t.Run(layout, func(t *testing.T) {
			e := newEnv(t)
			a := e.start(t, instanceOpts{layout: layout})
			b := e.start(t, instanceOpts{layout: layout})
			const n = 20
			locs := make([]string, n)
			for i := range n {
				r := do(t, "POST", a.url+"/v1/quotes", fmt.Sprintf(`{"n":%d}`, i), "Prefer", "respond-async")
				if r.status != 202 {
					t.Fatalf("POST = %s, want 202", r)
				}
				locs[i] = r.header.Get("Location")
			}
			a.stop()
			e.echo(t, nil) // the backend answers while a is down
			if layout == correlator.LayoutShared {
				// b reads every reply, so it keeps them while a is down. In
				// the partition layout they wait in a's partition for the
				// next instance to lease it.
				topicstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
					if r := do(t, "GET", b.url+locs[n-1], ""); r.status != 200 {
						return fmt.Errorf("GET %s from the other instance = %s", locs[n-1], r)
					}
					return nil
				})
			}
			a2 := e.start(t, instanceOpts{layout: layout})
			for i, loc := range locs {
				for _, in := range []*instance{a2, b} {
					r := do(t, "GET", in.url+loc, "", "Prefer", "wait=5")
					if want := fmt.Sprintf(`{"n":%d}`, i); r.status != 200 || r.body != want {
						t.Errorf("GET %s = %s, want 200 %s", loc, r, want)
					}
				}
			}
		})
	}
}

// TestPendingCap: over the cap a request gets 503 with Retry-After, and
// nothing stays pending after timeouts and a Close.
func TestPendingCap(t *testing.T) {
	e := newEnv(t)
	in := e.start(t, instanceOpts{maxPending: 5})
	var wg sync.WaitGroup
	codes := make(chan response, 8)
	for range 8 {
		wg.Go(func() {
			r, err := doErr("POST", in.url+"/v1/strict", `{}`, "Prefer", "wait=2")
			if err != nil {
				t.Error(err)
				return
			}
			codes <- r
		})
	}
	wg.Wait()
	close(codes)
	var full, timedOut int
	for r := range codes {
		switch {
		case r.status == 503 && problemType(t, r) == problem.TooManyPending.URI && r.header.Get("Retry-After") != "":
			full++
		case r.status == 504:
			timedOut++
		default:
			t.Errorf("unexpected answer %s", r)
		}
	}
	if full != 3 || timedOut != 5 {
		t.Errorf("%d answers 503 and %d 504, want 3 and 5", full, timedOut)
	}
	if p := in.corr.Pending(); p != 0 {
		t.Errorf("Pending() = %d after every request timed out, want 0", p)
	}
}

// TestCloseAnswersWaitingRequests: closing the correlator fails every
// waiting request at once; routes with on_timeout: accept answer 202, the
// others 503, and nothing stays pending.
func TestCloseAnswersWaitingRequests(t *testing.T) {
	e := newEnv(t)
	in := e.start(t, instanceOpts{})
	var wg sync.WaitGroup
	answers := make(chan response, 20)
	for i := range 20 {
		path := "/v1/slow"
		if i%2 == 1 {
			path = "/v1/strict"
		}
		wg.Go(func() {
			r, err := doErr("POST", in.url+path, `{}`, "Prefer", "wait=30") // capped by max_wait
			if err != nil {
				t.Error(err)
				return
			}
			answers <- r
		})
	}
	topicstest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		if p := in.corr.Pending(); p != 20 {
			return fmt.Errorf("Pending() = %d, want 20", p)
		}
		return nil
	})
	start := time.Now()
	if err := in.corr.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if d := time.Since(start); d > time.Second {
		t.Errorf("requests answered %v after Close, want promptly", d)
	}
	close(answers)
	for r := range answers {
		// The records are in Kafka: never a 503 inviting a retry.
		if r.status != 202 && !(r.status == 504 && problemType(t, r) == problem.ReplyTimeout.URI) {
			t.Errorf("answer after Close = %s, want 202 (accept) or 504 reply-timeout (fail)", r)
		}
	}
	if p := in.corr.Pending(); p != 0 {
		t.Errorf("Pending() after Close = %d, want 0", p)
	}
}

// TestAsyncScatterGather: a scatter-gather request asked for with
// Prefer: respond-async is answered 202 at once, and its result is the
// gathered set, as the sync answer would be: 200 {"replies": [...]} once
// max replies arrived, or at the end of the window 504 with the count
// when fewer than min did. The result stored the first reply alone.
func TestAsyncScatterGather(t *testing.T) {
	e := newEnv(t)
	in := e.start(t, instanceOpts{})
	h := e.handResponder(t, slowTopic)

	r := do(t, "POST", in.url+"/v1/gather", `{"sym":"ACME"}`, "Prefer", "respond-async")
	loc := r.header.Get("Location")
	if r.status != 202 || loc == "" {
		t.Fatalf("POST /v1/gather, respond-async = %s, want 202 with Location", r)
	}
	req := h.next(t)
	for i := range 4 { // the fourth is past max: not kept
		h.reply(t, req, fmt.Sprintf(`{"from":%d}`, i))
	}
	got := do(t, "GET", in.url+loc, "", "Prefer", "wait=5")
	var set struct {
		Replies []struct {
			Status int
			Body   json.RawMessage
		}
	}
	if got.status != 200 || json.Unmarshal([]byte(got.body), &set) != nil || len(set.Replies) != 3 || got.header.Get("X-Replies") != "3" {
		t.Fatalf("GET %s = %s, want 200 with the 3 gathered replies", loc, got)
	}
	for i, rep := range set.Replies {
		if rep.Status != 200 || string(rep.Body) != fmt.Sprintf(`{"from":%d}`, i) {
			t.Errorf("reply %d = %+v", i, rep)
		}
	}

	// Fewer than min within the window: the result says how many came.
	r = do(t, "POST", in.url+"/v1/gather-short", `{"sym":"ACME"}`, "Prefer", "respond-async")
	loc = r.header.Get("Location")
	if r.status != 202 || loc == "" {
		t.Fatalf("POST /v1/gather-short, respond-async = %s, want 202 with Location", r)
	}
	h.reply(t, h.next(t), `{"only":true}`)
	got = do(t, "GET", in.url+loc, "", "Prefer", "wait=5")
	if got.status != 504 || problemType(t, got) != problem.ReplyTimeout.URI || !strings.Contains(got.body, "1 of the 2 replies") {
		t.Errorf("GET %s after the window = %s, want 504 reply-timeout with 1 of the 2 replies", loc, got)
	}
}
