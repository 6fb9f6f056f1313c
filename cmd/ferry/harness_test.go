package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/consumers/respond"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/topics"
)

// The request/response routes of the tests: one request topic each, one
// shared reply topic.
const (
	quotesTopic  = "quotes.requests" // /v1/quotes: 20s, on_timeout accept; the echo responder answers
	strictTopic  = "strict.requests" // /v1/strict: 300ms, on_timeout fail; nobody answers
	slowTopic    = "slow.requests"   // /v1/slow: 300ms, on_timeout accept; tests answer by hand
	repliesTopic = "quotes.replies"

	rawRequests = "raw.requests" // BenchmarkReplyLatency's raw franz-go round trip
	rawReplies  = "raw.replies"
)

var quiet = slog.New(slog.DiscardHandler)

// env is one Kafka cluster (kfake on a free port) and one Redis (the real
// one at 127.0.0.1:6379 when it answers, else miniredis) shared by every
// ferry instance of a test. Redis keys get a random prefix, deleted at the
// end.
type env struct {
	addrs    []string
	redisURL string
	mr       *miniredis.Miniredis
	prefix   string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, quotesTopic, strictTopic, slowTopic, repliesTopic, rawRequests, rawReplies))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	var b [6]byte
	_, _ = rand.Read(b[:])
	e := &env{addrs: c.ListenAddrs(), prefix: "ferrytest:" + hex.EncodeToString(b[:]) + ":"}
	if os.Getenv("FERRY_TEST_MINIREDIS") == "" {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: 200 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			e.redisURL = "redis://127.0.0.1:6379/0"
			tb.Cleanup(func() {
				keys, _ := rdb.Keys(context.Background(), e.prefix+"*").Result()
				if len(keys) > 0 {
					rdb.Del(context.Background(), keys...)
				}
				_ = rdb.Close()
			})
			return e
		}
		_ = rdb.Close()
	}
	e.mr = miniredis.NewMiniRedis()
	if err := e.mr.StartAddr("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.mr.Close)
	e.redisURL = "redis://" + e.mr.Addr()
	return e
}

// client returns a Kafka client for the test's cluster.
func (e *env) client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append(e.kafkaOpts(), opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

func (e *env) kafkaOpts() []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(e.addrs...), kgo.MetadataMinAge(50 * time.Millisecond), kgo.ProducerLinger(0)}
}

func (e *env) redis(tb testing.TB) *redis.Client {
	tb.Helper()
	o, err := redis.ParseURL(e.redisURL)
	if err != nil {
		tb.Fatal(err)
	}
	o.PoolSize = 64
	rdb := redis.NewClient(o)
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// routes are the request/response routes of every test instance.
func routes(tb testing.TB) *topics.Table {
	tb.Helper()
	t, err := topics.NewTable([]topics.RouteConfig{
		// Generous: the two-instance tests run 1,000 requests at once
		// under -race on small shared machines.
		{Name: "quote", Path: "/v1/quotes", Topic: quotesTopic, Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: repliesTopic, Timeout: 20 * time.Second, OnTimeout: "accept"}},
		{Name: "strict", Path: "/v1/strict", Topic: strictTopic, Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: repliesTopic, Timeout: 300 * time.Millisecond, MaxWait: 2 * time.Second, OnTimeout: "fail"}},
		{Name: "slow", Path: "/v1/slow", Topic: slowTopic, Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: repliesTopic, Timeout: 300 * time.Millisecond, MaxWait: 5 * time.Second, OnTimeout: "accept"}},
		// Scatter-gather on the slow topic: tests answer by hand.
		{Name: "gather", Path: "/v1/gather", Topic: slowTopic, Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: repliesTopic, Gather: &topics.GatherConfig{Window: 10 * time.Second, Min: 2, Max: 3}}},
		{Name: "gather-short", Path: "/v1/gather-short", Topic: slowTopic, Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: repliesTopic, Gather: &topics.GatherConfig{Window: 500 * time.Millisecond, Min: 2}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// instance is one ferry gateway wired as serve wires it: a producer client,
// a reply client, a correlator and the HTTP server on a free port.
type instance struct {
	url  string
	srv  *ingress.Server
	corr *correlator.Correlator
	stop func() // the shutdown of serve: HTTP, then the correlator
}

type instanceOpts struct {
	layout      string
	maxPending  int
	wrapProduce func(ingress.Producer) ingress.Producer
	// metrics, when set, gets the instance's ferry_* metrics.
	metrics *prometheus.Registry
}

// start runs an instance until the end of the test or its stop.
func (e *env) start(tb testing.TB, o instanceOpts) *instance {
	tb.Helper()
	cfg := correlator.Config{Layout: o.layout, KeyPrefix: e.prefix, MaxPending: o.maxPending, MaxPendingPerPrincipal: o.maxPending, LeaseTTL: time.Second}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	cl := e.client(tb)
	replyCl := e.client(tb)
	corr := correlator.New(cfg, replyCl, e.redis(tb), []string{repliesTopic}, correlator.WithLogger(quiet), correlator.WithRecheck(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := corr.Start(ctx); err != nil {
		tb.Fatalf("correlator Start: %v", err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- corr.Run(context.Background()) }()
	var producer ingress.Producer = topics.NewProducer(cl, 20*time.Second)
	if o.wrapProduce != nil {
		producer = o.wrapProduce(producer)
	}
	f := false
	opts := []ingress.Option{ingress.WithLogger(quiet)}
	if o.metrics != nil {
		m, err := metrics.NewRecorder(o.metrics)
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, ingress.WithMetrics(m))
	}
	srv, err := ingress.New(ingress.Config{AccessLog: &f}, routes(tb), ingress.Deps{Producer: producer, Correlator: corr, Results: corr}, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	srv.SetReady(true)
	in := &instance{url: "http://" + ln.Addr().String(), srv: srv, corr: corr}
	var once sync.Once
	in.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				tb.Errorf("Shutdown: %v", err)
			}
			if err := <-serveDone; err != nil {
				tb.Errorf("Serve: %v", err)
			}
			if err := corr.Close(); err != nil {
				tb.Errorf("correlator Close: %v", err)
			}
			if err := <-runDone; err != nil {
				tb.Errorf("correlator Run: %v", err)
			}
		})
	}
	tb.Cleanup(in.stop)
	return in
}

// echo runs the SDK echo responder on the quotes topic until the end of
// the test, or until the returned func is called.
func (e *env) echo(tb testing.TB, h respond.Handler) (stop func()) {
	tb.Helper()
	if h == nil {
		h = echoHandler(echoOptions{})
	}
	r, err := respond.New(respond.Config{Topics: []string{quotesTopic}, Group: "echo-" + e.prefix}, e.kafkaOpts(), h, respond.WithLogger(quiet))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("responder Run: %v", err)
			}
			if err := r.Close(); err != nil {
				tb.Errorf("responder Close: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// httpClient is shared by the tests; it keeps enough idle connections for
// a thousand concurrent requests.
var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 1000, IdleConnTimeout: 5 * time.Second},
}

// response is what a test sees of an HTTP response.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request; kv are request headers.
func do(tb testing.TB, method, url, body string, kv ...string) response {
	tb.Helper()
	r, err := doErr(method, url, body, kv...)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func doErr(method, url, body string, kv ...string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(bytes.TrimSpace(b))}, nil
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.status, r.body)
}

// handResponder answers requests of one topic only when told to: it reads
// requests from the start (a plain consumer of every partition) and hands
// them to the test, which replies by the header contract, with raw
// franz-go, as a non-Go or non-SDK backend would.
type handResponder struct {
	cl   *kgo.Client
	reqs chan *kgo.Record
}

func (e *env) handResponder(tb testing.TB, topic string) *handResponder {
	tb.Helper()
	h := &handResponder{
		cl:   e.client(tb, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RecordPartitioner(kgo.ManualPartitioner())),
		reqs: make(chan *kgo.Record, 1024),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := h.cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { h.reqs <- r })
		}
	}()
	tb.Cleanup(func() { cancel(); <-done })
	return h
}

// next returns the next request.
func (h *handResponder) next(tb testing.TB) *kgo.Record {
	tb.Helper()
	select {
	case r := <-h.reqs:
		return r
	case <-time.After(10 * time.Second):
		tb.Fatal("no request arrived")
		return nil
	}
}

// reply answers req as the contract says: copy kafka_correlationId, send
// to kafka_replyTopic, on kafka_replyPartition when it is there. kv are
// extra headers.
func (h *handResponder) reply(tb testing.TB, req *kgo.Record, body string, kv ...string) {
	tb.Helper()
	if err := rawReply(h.cl, req, body, kv...); err != nil {
		tb.Fatal(err)
	}
}

func rawReply(cl *kgo.Client, req *kgo.Record, body string, kv ...string) error {
	out := &kgo.Record{Value: []byte(body)}
	for _, hd := range req.Headers {
		switch hd.Key {
		case "kafka_correlationId":
			out.Headers = append(out.Headers, kgo.RecordHeader{Key: hd.Key, Value: hd.Value})
		case "kafka_replyTopic":
			out.Topic = string(hd.Value)
		case "kafka_replyPartition":
			out.Partition = int32(uint32(hd.Value[0])<<24 | uint32(hd.Value[1])<<16 | uint32(hd.Value[2])<<8 | uint32(hd.Value[3]))
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return cl.ProduceSync(context.Background(), out).FirstErr()
}

// slogCapture returns a logger that calls fn with each record's message
// and attributes, as strings.
func slogCapture(fn func(msg string, attrs map[string]string)) *slog.Logger {
	return slog.New(captureHandler{fn: fn})
}

type captureHandler struct {
	fn    func(string, map[string]string)
	attrs []slog.Attr
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	m := make(map[string]string)
	for _, a := range h.attrs {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.fn(r.Message, m)
	return nil
}
func (h captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clip(h.attrs), as...)
	return h
}
func (h captureHandler) WithGroup(string) slog.Handler { return h }

// setProcessGroup makes cmd the leader of a new process group, so that
// killProcessGroup also ends the processes of its pipeline.
func setProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
