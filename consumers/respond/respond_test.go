package respond

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

const (
	requestsTopic = "test.requests"
	repliesTopic  = "test.replies"
)

var quiet = slog.New(slog.DiscardHandler)

type responderRig struct {
	addrs   []string
	prod    *kgo.Client // requests
	replies *kgo.Client // reads every reply partition from the start
}

func newResponderRig(t *testing.T) *responderRig {
	t.Helper()
	topicstest.NoLeaks(t, "ferry/consumers/respond.")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, requestsTopic, repliesTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r := &responderRig{addrs: c.ListenAddrs()}
	r.prod = r.client(t)
	r.replies = r.client(t, kgo.ConsumeTopics(repliesTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	return r
}

func (r *responderRig) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.addrs...), kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// run starts a responder and stops it at the end of the test.
func (r *responderRig) run(t *testing.T, group string, h Handler) *Responder {
	t.Helper()
	resp, err := New(Config{Topics: []string{requestsTopic}, Group: group},
		[]kgo.Opt{kgo.SeedBrokers(r.addrs...), kgo.MetadataMinAge(50 * time.Millisecond)}, h, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- resp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
		if err := resp.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return resp
}

// request produces a request as ferry does and returns its id.
func (r *responderRig) request(t *testing.T, body string, to *topics.ReplyTo) string {
	t.Helper()
	m := &topics.Message{Topic: requestsTopic, Key: []byte("k"), Value: []byte(body), ID: topics.NewEventID(),
		Type: "test", Source: "/test", Time: time.Now(), ContentType: "application/json", Reply: to}
	if err := r.prod.ProduceSync(context.Background(), m.Record()).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// reply waits for the reply to id.
func (r *responderRig) reply(t *testing.T, id string) *kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		fs := r.replies.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no reply to %s", id)
		}
		var got *kgo.Record
		fs.EachRecord(func(rec *kgo.Record) {
			if cid, _, _ := topics.ReplyAddress(append(rec.Headers, kgo.RecordHeader{Key: topics.HeaderReplyTopic, Value: []byte("x")})); string(cid) == id && got == nil {
				got = rec
			}
		})
		if got != nil {
			return got
		}
	}
}

func headers(rec *kgo.Record) map[string]string {
	m := make(map[string]string)
	for _, h := range rec.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

func TestResponderReplies(t *testing.T) {
	r := newResponderRig(t)
	r.run(t, "echo", func(_ context.Context, req Request) (Reply, error) {
		return Reply{Status: 201, ContentType: req.ContentType, Header: map[string]string{"Location": "/q/1", "ETag": `"1"`}, Body: req.Value}, nil
	})
	tests := []struct {
		name string
		to   topics.ReplyTo
	}{
		{name: "any partition", to: topics.ReplyTo{Topic: repliesTopic, Partition: topics.NoPartition}},
		{name: "partition 2", to: topics.ReplyTo{Topic: repliesTopic, Partition: 2}},
		{name: "partition 1", to: topics.ReplyTo{Topic: repliesTopic, Partition: 1}},
	}
	// Compressible, so that a codec would compress it.
	body := `{"n":1,"pad":"` + strings.Repeat("compressible ", 40) + `"}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := r.request(t, body, &tt.to)
			rec := r.reply(t, id)
			want := map[string]string{
				topics.HeaderCorrelationID: id, topics.HeaderStatus: "201", topics.HeaderContentType: "application/json",
				"ferry-header-ETag": `"1"`, "ferry-header-Location": "/q/1",
			}
			if diff := cmp.Diff(want, headers(rec)); diff != "" {
				t.Errorf("reply headers mismatch (-want +got):\n%s", diff)
			}
			if string(rec.Value) != body {
				t.Errorf("reply value = %q", rec.Value)
			}
			if tt.to.Partition >= 0 && rec.Partition != tt.to.Partition {
				t.Errorf("reply on partition %d, want %d", rec.Partition, tt.to.Partition)
			}
			// Uncompressed unless base asks otherwise, as ferry's own
			// records: any client reads them, one without a snappy
			// library too.
			if c := rec.Attrs.CompressionType(); c != 0 {
				t.Errorf("reply batch compression %d, want 0 (none)", c)
			}
		})
	}
}

func TestResponderHandlerFailure(t *testing.T) {
	r := newResponderRig(t)
	r.run(t, "failing", func(_ context.Context, req Request) (Reply, error) {
		if string(req.Value) == `"panic"` {
			panic("boom")
		}
		return Reply{}, errors.New("database password is hunter2")
	})
	to := &topics.ReplyTo{Topic: repliesTopic, Partition: topics.NoPartition}
	for _, body := range []string{`"error"`, `"panic"`} {
		id := r.request(t, body, to)
		rec := r.reply(t, id)
		h := headers(rec)
		if h[topics.HeaderStatus] != "500" || h[topics.HeaderContentType] != "application/problem+json" {
			t.Errorf("%s: reply headers = %v, want status 500 and a problem", body, h)
		}
		if !strings.Contains(string(rec.Value), ProblemResponderFailed) || strings.Contains(string(rec.Value), "hunter2") {
			t.Errorf("%s: reply body = %s, want a problem that reveals nothing", body, rec.Value)
		}
	}
}

func TestResponderProgress(t *testing.T) {
	r := newResponderRig(t)
	r.run(t, "progress", func(ctx context.Context, req Request) (Reply, error) {
		for i := range 2 {
			if err := req.Progress(ctx, Reply{Body: fmt.Appendf(nil, `{"step":%d}`, i)}); err != nil {
				return Reply{}, err
			}
		}
		return Reply{Body: []byte(`{"done":true}`)}, nil
	})
	// Partition 0 keeps the replies in order.
	id := r.request(t, `{}`, &topics.ReplyTo{Topic: repliesTopic, Partition: 0})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for len(got) < 3 && ctx.Err() == nil {
		r.replies.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			got = append(got, string(rec.Value)+" final="+fmt.Sprint(headers(rec)[topics.HeaderFinal] != "false"))
		})
	}
	want := []string{`{"step":0} final=false`, `{"step":1} final=false`, `{"done":true} final=true`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replies to %s mismatch (-want +got):\n%s", id, diff)
	}
}

// TestResponderCommits: requests are committed once answered, and ones that
// ask for no reply are skipped, so a restarted group answers nothing twice.
func TestResponderCommits(t *testing.T) {
	r := newResponderRig(t)
	var handled atomic.Int32
	h := func(_ context.Context, req Request) (Reply, error) {
		handled.Add(1)
		return Reply{Body: req.Value}, nil
	}
	to := &topics.ReplyTo{Topic: repliesTopic, Partition: topics.NoPartition}
	var last string
	for i := range 5 {
		last = r.request(t, fmt.Sprint(i), to)
	}
	r.request(t, "no reply wanted", nil)

	resp, err := New(Config{Topics: []string{requestsTopic}, Group: "commits"},
		[]kgo.Opt{kgo.SeedBrokers(r.addrs...), kgo.MetadataMinAge(50 * time.Millisecond)}, h, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- resp.Run(ctx) }()
	r.reply(t, last)
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := handled.Load(); n != 5 {
			return fmt.Errorf("handled %d requests, want 5", n)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := resp.Close(); err != nil {
		t.Fatal(err)
	}
	offsets, err := kadm.NewClient(r.prod).FetchOffsets(context.Background(), "commits")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offsets.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != 6 {
		t.Errorf("committed offsets sum to %d, want 6 (every request)", committed)
	}
	// A new member of the group answers nothing old.
	r.run(t, "commits", h)
	id := r.request(t, "new", to)
	r.reply(t, id)
	if n := handled.Load(); n != 6 {
		t.Errorf("handled %d requests after the restart, want 6", n)
	}
}

func TestResponderConfig(t *testing.T) {
	t.Parallel()
	err := Config{Topics: []string{"__consumer_offsets"}}.Validate()
	want := "topics[0]: internal topics (__*) are not allowed\ngroup: required"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}

func TestReplyPartitioner(t *testing.T) {
	t.Parallel()
	tp := replyPartitioner{}.ForTopic(repliesTopic)
	rec := func(p int32, id string) *kgo.Record {
		return &kgo.Record{Partition: p, Headers: []kgo.RecordHeader{{Key: topics.HeaderCorrelationID, Value: []byte(id)}}}
	}
	if got := tp.Partition(rec(4, "a"), 6); got != 4 {
		t.Errorf("Partition(asked 4 of 6) = %d, want 4", got)
	}
	seen := map[int]bool{}
	for i := range 50 {
		id := topics.NewEventID()
		first := tp.Partition(rec(topics.NoPartition, id), 6)
		// Every reply of one request goes to one partition, also when the
		// asked-for one does not exist.
		if again := tp.Partition(rec(topics.NoPartition, id), 6); again != first {
			t.Fatalf("request %d: replies on partitions %d and %d", i, first, again)
		}
		if bad := tp.Partition(rec(9, id), 6); bad != first {
			t.Errorf("Partition(asked 9 of 6) = %d, want the id's %d", bad, first)
		}
		seen[first] = true
	}
	if len(seen) < 3 {
		t.Errorf("50 requests used partitions %v: replies should spread", seen)
	}
}

// TestResponderClosesWithoutBroker stops a responder after its broker is
// gone: Close must still return, within its documented bound, instead of
// waiting forever to leave a group nobody coordinates.
func TestResponderClosesWithoutBroker(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, requestsTopic, repliesTopic))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := New(Config{Topics: []string{requestsTopic}, Group: "gone"},
		[]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(50 * time.Millisecond)},
		func(context.Context, Request) (Reply, error) { return Reply{}, nil }, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- resp.Run(ctx) }()
	// Wait until it joined the group: a produce and a reply would do, but
	// the group's member list is what Close has to leave.
	adm := kadm.NewClient(func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}())
	defer adm.Close()
	topicstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		gs, err := adm.DescribeGroups(context.Background(), "gone")
		if err != nil {
			return err
		}
		if g := gs["gone"]; len(g.Members) == 0 {
			return fmt.Errorf("no member yet (%s)", g.State)
		}
		return nil
	})
	c.Close()
	cancel()
	<-done
	closed := make(chan struct{})
	start := time.Now()
	go func() { _ = resp.Close(); close(closed) }()
	select {
	case <-closed:
		t.Logf("Close returned in %s without a broker", time.Since(start).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return within 20s of the broker going away")
	}
}
