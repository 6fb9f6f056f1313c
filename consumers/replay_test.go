package consumers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

var t0 = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

func mustRange(tb testing.TB, from, to string) Range {
	tb.Helper()
	r, err := ParseRange(from, to)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func mustWhere(tb testing.TB, s string) Where {
	tb.Helper()
	w, err := ParseWhere(s)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func TestReplayRanges(t *testing.T) {
	now := t0.Add(time.Hour)
	e := newEnv(t, ReplayConfig{}, "orders.events")
	e.replayer.now = func() time.Time { return now }
	e.produce(t, "orders.events", 0, 10, t0)
	e.produce(t, "orders.events", 1, 4, now.Add(-10*time.Second))

	tests := []struct {
		name       string
		from, to   string
		partitions []int32
		match      Match
		limit      int
		want       []string
		inRange    int64
	}{
		{name: "everything", want: []string{"0/0", "0/1", "0/2", "0/3", "0/4", "0/5", "0/6", "0/7", "0/8", "0/9", "1/0", "1/1", "1/2", "1/3"}, inRange: 14},
		{name: "by offset", from: "0:3", to: "0:7", want: []string{"0/3", "0/4", "0/5", "0/6"}, inRange: 4},
		{name: "by offset, several partitions", from: "0:8,1:2", want: []string{"0/8", "0/9", "1/2", "1/3"}, inRange: 4},
		{name: "to offset past the end is clamped", from: "0:8", to: "0:1000", want: []string{"0/8", "0/9"}, inRange: 2},
		{name: "by timestamp", from: t0.Add(3 * time.Second).Format(time.RFC3339), to: t0.Add(6 * time.Second).Format(time.RFC3339),
			partitions: []int32{0}, want: []string{"0/3", "0/4", "0/5"}, inRange: 3},
		{name: "by timestamp, between records", from: t0.Add(2500 * time.Millisecond).Format(time.RFC3339Nano), to: t0.Add(4500 * time.Millisecond).Format(time.RFC3339Nano),
			partitions: []int32{0}, want: []string{"0/3", "0/4"}, inRange: 2},
		{name: "time after every record", from: now.Format(time.RFC3339), want: nil, inRange: 0},
		{name: "by duration", from: "-8s", want: []string{"1/2", "1/3"}, inRange: 2},
		{name: "by duration, both ends", from: "-20s", to: "-7s", want: []string{"1/0", "1/1", "1/2"}, inRange: 3},
		{name: "partition", partitions: []int32{1}, want: []string{"1/0", "1/1", "1/2", "1/3"}, inRange: 4},
		{name: "key", match: Match{Key: []byte("k3"), HasKey: true}, want: []string{"0/3", "1/3"}, inRange: 14},
		{name: "header", partitions: []int32{0}, match: Match{Headers: []topics.Header{{Key: "parity", Value: []byte("odd")}}},
			want: []string{"0/1", "0/3", "0/5", "0/7", "0/9"}, inRange: 10},
		{name: "key and header", match: Match{Key: []byte("k2"), HasKey: true, Headers: []topics.Header{{Key: "parity", Value: []byte("odd")}}}, want: nil, inRange: 14},
		{name: "limit", limit: 3, want: []string{"0/0", "0/1", "0/2"}, partitions: []int32{0}, inRange: 10},
		{name: "limit with filter", limit: 2, partitions: []int32{0}, match: Match{Headers: []topics.Header{{Key: "parity", Value: []byte("odd")}}},
			want: []string{"0/1", "0/3"}, inRange: 10},
		{name: "latest to latest", from: "latest", want: nil, inRange: 0},
		{name: "value", match: Match{Where: []Where{mustWhere(t, `/n >= 8`)}}, want: []string{"0/8", "0/9"}, inRange: 14},
		{name: "value and header", partitions: []int32{0}, match: Match{Where: []Where{mustWhere(t, `/n < 4`)},
			Headers: []topics.Header{{Key: "parity", Value: []byte("odd")}}}, want: []string{"0/1", "0/3"}, inRange: 10},
		{name: "limit with value filter", limit: 1, match: Match{Where: []Where{mustWhere(t, `/n = 2`)}}, want: []string{"0/2"}, inRange: 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events", Range: mustRange(t, tt.from, tt.to),
				Partitions: tt.partitions, Match: tt.match, Limit: tt.limit})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := rp.InRange(); got != tt.inRange {
				t.Errorf("InRange() = %d, want %d (ranges %v)", got, tt.inRange, rp.Ranges())
			}
			got := positions(readAll(t, rp))
			// Partitions interleave in fetch order; compare in order.
			sortPositions(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			wantReason := ReasonEnd
			if tt.limit > 0 {
				wantReason = ReasonLimit
			}
			if rp.Reason() != wantReason {
				t.Errorf("Reason() = %q, want %q", rp.Reason(), wantReason)
			}
		})
	}
}

func sortPositions(ps []string) {
	key := func(s string) (int, int) {
		var p, o int
		_, _ = fmt.Sscanf(s, "%d/%d", &p, &o)
		return p, o
	}
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0; j-- {
			pa, oa := key(ps[j-1])
			pb, ob := key(ps[j])
			if pa < pb || (pa == pb && oa < ob) {
				break
			}
			ps[j-1], ps[j] = ps[j], ps[j-1]
		}
	}
}

func TestReplayRecordContent(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.events")
	e.produce(t, "orders.events", 2, 1, t0)
	rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events"})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, rp)
	want := []Record{{Topic: "orders.events", Partition: 2, Offset: 0, Timestamp: t0, Key: []byte("k0"),
		Headers: []topics.Header{{Key: "parity", Value: []byte("even")}}, Value: []byte(`{"n":0}`)}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestReplayErrors(t *testing.T) {
	e := newEnv(t, ReplayConfig{Topics: []string{"orders.*", "*"}, MaxRecords: 50}, "orders.events", "secret")
	// Narrowed as a reload does: replays from now on see the new list.
	if err := e.replayer.SetConfig(ReplayConfig{Topics: []string{"orders.*"}, MaxRecords: 50}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  ReplayRequest
		want error
	}{
		{"not on the allowlist", ReplayRequest{Topic: "secret"}, ErrTopicNotAllowed},
		{"internal", ReplayRequest{Topic: "__consumer_offsets"}, ErrTopicNotAllowed},
		{"unknown topic", ReplayRequest{Topic: "orders.nope"}, topics.ErrUnknownTopic},
		{"no such partition", ReplayRequest{Topic: "orders.events", Partitions: []int32{3}}, ErrBadPosition},
		{"from names a missing partition", ReplayRequest{Topic: "orders.events", Range: mustRange(t, "7:0", "")}, ErrBadPosition},
		{"limit above the cap", ReplayRequest{Topic: "orders.events", Limit: 51}, ErrLimit},
		{"follow with an end", ReplayRequest{Topic: "orders.events", Follow: true, Range: mustRange(t, "", "0:5")}, ErrBadPosition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp, err := e.replayer.Open(t.Context(), tt.req)
			if !errors.Is(err, tt.want) {
				if rp != nil {
					rp.Close()
				}
				t.Fatalf("Open(%+v) = %v, want %v", tt.req, err, tt.want)
			}
		})
	}
	// Even a pattern that matches everything never allows internal topics.
	if (ReplayConfig{Topics: []string{"*"}}).Allowed("__consumer_offsets") {
		t.Error(`Allowed("__consumer_offsets") with topics ["*"] = true`)
	}
}

func TestReplayConcurrencyCap(t *testing.T) {
	e := newEnv(t, ReplayConfig{MaxConcurrent: 1}, "orders.events")
	first, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events"})
	if err != nil {
		t.Fatal(err)
	}
	if rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events"}); !errors.Is(err, ErrTooManyReplays) {
		if rp != nil {
			rp.Close()
		}
		t.Fatalf("second Open = %v, want ErrTooManyReplays", err)
	}
	first.Close()
	first.Close() // idempotent: frees one slot only
	second, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events"})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	second.Close()
}

// TestReplayBoundedWhileProducing: a replay ends at the high watermarks
// taken when it opened although a producer keeps writing.
func TestReplayBoundedWhileProducing(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.events")
	e.produce(t, "orders.events", 0, 100, t0)
	ctx, cancel := context.WithCancel(t.Context())
	var written atomic.Int64
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ctx.Err() == nil; i++ {
			r := &kgo.Record{Topic: "orders.events", Partition: int32(i % 3), Value: []byte(`{"more":true}`)}
			if err := e.producer.ProduceSync(ctx, r).FirstErr(); err == nil {
				written.Add(1)
			}
		}
	}()
	defer func() { cancel(); <-stopped }()
	topicstest.Eventually(t, 5*time.Second, time.Millisecond, func() error {
		if written.Load() < 10 {
			return errors.New("producer not running yet")
		}
		return nil
	})

	rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events"})
	if err != nil {
		t.Fatal(err)
	}
	ranges := append([]PartitionRange(nil), rp.Ranges()...)
	got := readAll(t, rp)
	if int64(len(got)) != rp.InRange() || rp.Reason() != ReasonEnd {
		t.Errorf("read %d records (reason %q), want the %d in range %v", len(got), rp.Reason(), rp.InRange(), ranges)
	}
	if w := written.Load(); w <= 10 {
		t.Logf("producer wrote only %d records during the replay", w)
	}
	for _, r := range got {
		pr := ranges[r.Partition]
		if r.Offset < pr.Start || r.Offset >= pr.End {
			t.Errorf("record %d/%d outside its range %+v", r.Partition, r.Offset, pr)
		}
	}
}

func TestReplayFollow(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.events")
	e.produce(t, "orders.events", 0, 2, t0)
	rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events", Range: mustRange(t, "earliest", ""), Follow: true,
		Match: Match{Headers: []topics.Header{{Key: "parity", Value: []byte("even")}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if rp.InRange() != -1 {
		t.Errorf("InRange() of a followed replay = %d, want -1", rp.InRange())
	}
	next := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		rec, err := rp.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		return fmt.Sprintf("%d/%d %s", rec.Partition, rec.Offset, rec.Key)
	}
	if got := next(); got != "0/0 k0" {
		t.Errorf("first record %s, want 0/0 k0", got)
	}
	// A heartbeat-sized deadline passes with nothing new; the replay stays usable.
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err = rp.Next(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with nothing new = %v, want DeadlineExceeded", err)
	}
	e.produce(t, "orders.events", 1, 3, t0.Add(time.Hour)) // k0 even, k1 odd, k2 even
	got := []string{next(), next()}
	if diff := cmp.Diff([]string{"1/0 k0", "1/2 k2"}, got); diff != "" {
		t.Errorf("followed records (-want +got):\n%s", diff)
	}
	if c := string(rp.AppendCursor(nil)); c != "0:2,1:3,2:0" {
		t.Errorf("cursor %q, want 0:2,1:3,2:0", c)
	}
	// Closing the Replayer (shutdown) ends the followed replay.
	e.replayer.Close()
	if _, err := rp.Next(t.Context()); !errors.Is(err, io.EOF) || rp.Reason() != ReasonClosed {
		t.Errorf("Next after Replayer.Close = %v (reason %q), want io.EOF, %q", err, rp.Reason(), ReasonClosed)
	}
	if _, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close = %v, want ErrClosed", err)
	}
}

func TestReplayCursorResumes(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.events")
	for p := range int32(3) {
		e.produce(t, "orders.events", p, 4, t0)
	}
	rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	first := readAll(t, rp)
	cursor := string(rp.AppendCursor(nil))
	rp2, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events", Range: mustRange(t, cursor, "")})
	if err != nil {
		t.Fatalf("Open from cursor %q: %v", cursor, err)
	}
	rest := readAll(t, rp2)
	all := append(positions(first), positions(rest)...)
	sortPositions(all)
	var want []string
	for p := range 3 {
		for o := range 4 {
			want = append(want, fmt.Sprintf("%d/%d", p, o))
		}
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("first %d records up to cursor %s, then the rest (-want +got):\n%s", len(first), cursor, diff)
	}
}

// TestReplayStall: a bounded replay whose records stop coming ends with
// ErrUnavailable after the stall timeout instead of holding its slot.
func TestReplayStall(t *testing.T) {
	e := newEnv(t, ReplayConfig{StallTimeout: 300 * time.Millisecond}, "orders.events")
	e.produce(t, "orders.events", 0, 3, t0)
	// From now on the broker answers every fetch with no records, as a
	// broker that cannot read its log would.
	e.cluster.ControlKey(kmsg.Fetch.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		freq := req.(*kmsg.FetchRequest)
		resp := freq.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range freq.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rp.Partition, 3, 3, 0
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events"})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	start := time.Now()
	_, err = rp.Next(t.Context())
	if !errors.Is(err, topics.ErrUnavailable) {
		t.Fatalf("Next on a stalled broker = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stall noticed after %v, want about 300ms", d)
	}
}

func TestRedrive(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.dlq", "orders.events", "secret")
	e.produce(t, "orders.dlq", 0, 6, t0)
	req := RedriveRequest{
		ReplayRequest: ReplayRequest{Topic: "orders.dlq", Match: Match{Headers: []topics.Header{{Key: "parity", Value: []byte("odd")}}}},
		Target:        "orders.events",
	}
	dry := req
	dry.DryRun = true
	res, err := e.replayer.Redrive(t.Context(), dry)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if res.Matched != 3 || res.Produced != 0 || res.Scanned != 6 || !res.DryRun {
		t.Errorf("dry run = %+v, want 6 scanned, 3 matched, 0 produced", res)
	}
	if n := topicstest.Count(t, e.cluster, "orders.events"); n != 0 {
		t.Fatalf("dry run wrote %d records", n)
	}

	res, err = e.replayer.Redrive(t.Context(), req)
	if err != nil {
		t.Fatalf("redrive: %v", err)
	}
	if res.Matched != 3 || res.Produced != 3 {
		t.Errorf("redrive = %+v, want 3 matched and produced", res)
	}
	got := topicstest.Read(t, e.cluster, "orders.events", 3, 5*time.Second)
	var summary []string
	for _, r := range got {
		hs := map[string]string{}
		for _, h := range r.Headers {
			hs[h.Key] = string(h.Value)
		}
		summary = append(summary, fmt.Sprintf("%s %s parity=%s from=%s", r.Key, r.Value, hs["parity"], hs[HeaderRedrivenFrom]))
	}
	sortStrings(summary)
	want := []string{
		`k1 {"n":1} parity=odd from=orders.dlq/0/1`,
		`k3 {"n":3} parity=odd from=orders.dlq/0/3`,
		`k5 {"n":5} parity=odd from=orders.dlq/0/5`,
	}
	if diff := cmp.Diff(want, summary); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	if n := topicstest.Count(t, e.cluster, "orders.events"); n != 3 {
		t.Errorf("target holds %d records, want exactly 3", n)
	}

	// Redriving a copy names its immediate source only.
	res, err = e.replayer.Redrive(t.Context(), RedriveRequest{ReplayRequest: ReplayRequest{Topic: "orders.events", Match: Match{Key: []byte("k1"), HasKey: true}}, Target: "orders.dlq"})
	if err != nil || res.Produced != 1 {
		t.Fatalf("redrive back = %+v, %v", res, err)
	}
	back := topicstest.Read(t, e.cluster, "orders.dlq", 7, 5*time.Second)
	var froms []string
	for _, r := range back {
		for _, h := range r.Headers {
			if h.Key == HeaderRedrivenFrom {
				froms = append(froms, string(h.Value))
			}
		}
	}
	if len(froms) != 1 || froms[0][:len("orders.events/")] != "orders.events/" {
		t.Errorf("copy of a copy has %s headers %v, want one naming orders.events", HeaderRedrivenFrom, froms)
	}

	for _, tt := range []struct {
		name   string
		target string
		want   error
	}{
		{"target not allowed", "secret", ErrTopicNotAllowed},
		{"target internal", "__consumer_offsets", ErrTopicNotAllowed},
		{"target missing", "orders.missing", topics.ErrUnknownTopic},
	} {
		if _, err := e.replayer.Redrive(t.Context(), RedriveRequest{ReplayRequest: ReplayRequest{Topic: "orders.dlq"}, Target: tt.target}); !errors.Is(err, tt.want) {
			t.Errorf("%s: Redrive = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j-1] > s[j]; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
}

func TestTopics(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.events", "orders.dlq", "secret", "audit")
	e.produce(t, "orders.events", 1, 5, t0)
	infos, err := e.replayer.Topics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range infos {
		names = append(names, ti.Topic+"="+strconv.FormatInt(ti.Records(), 10))
	}
	if diff := cmp.Diff([]string{"audit=0", "orders.dlq=0", "orders.events=5"}, names); diff != "" {
		t.Errorf("Topics (-want +got):\n%s", diff)
	}
	ti, err := e.replayer.Topic(t.Context(), "orders.events")
	if err != nil {
		t.Fatal(err)
	}
	if len(ti.Partitions) != 3 || ti.Partitions[1].End != 5 || ti.Partitions[1].Start != 0 || ti.Partitions[1].Leader < 0 {
		t.Errorf("Topic(orders.events) = %+v", ti)
	}
	if _, err := e.replayer.Topic(t.Context(), "secret"); !errors.Is(err, ErrTopicNotAllowed) {
		t.Errorf("Topic(secret) = %v, want ErrTopicNotAllowed", err)
	}
	if _, err := e.replayer.Topic(t.Context(), "orders.nope"); !errors.Is(err, topics.ErrUnknownTopic) {
		t.Errorf("Topic(orders.nope) = %v, want ErrUnknownTopic", err)
	}
}

func TestReplayerWait(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.events")
	rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events"})
	if err != nil {
		t.Fatal(err)
	}
	e.replayer.Close()
	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := e.replayer.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with a replay open = %v, want DeadlineExceeded", err)
	}
	rp.Close()
	if err := e.replayer.Wait(t.Context()); err != nil {
		t.Errorf("Wait after the last replay closed = %v", err)
	}
}

// TestFollowedReplayFirstRecordSoon: a followed replay of several
// partitions, one holding a record and the others at their end (a
// consumer group member's first poll), gets the record at once, every
// time. franz-go sometimes sends a new client's first fetch before every
// partition is ready to be fetched: a fetch of the empty partitions
// alone, which the broker holds for the fetch's max wait (franz-go's
// default 5s): 6-7 of 3,000 opens waited out a 2s poll before the
// replay clients' max wait became 500 ms (Kafka's Java consumer's).
func TestFollowedReplayFirstRecordSoon(t *testing.T) {
	t.Parallel()
	c := topicstest.Cluster(t, 3, "t")
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: []byte(`{"a":1}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := NewReplayer(ReplayConfig{Topics: []string{"t"}}.WithDefaults(), topics.NewAdmin(cl), []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)})
	defer r.Close()
	from := Position{Kind: PositionOffsets, Offsets: []PartitionOffset{{Partition: 0}, {Partition: 1}, {Partition: 2}}}
	slowest := time.Duration(0)
	for range 1500 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		rp, err := r.Open(ctx, ReplayRequest{Topic: "t", Range: Range{From: from}, Partitions: []int32{0, 1, 2}, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = rp.Next(ctx)
		slowest = max(slowest, time.Since(start))
		rp.Close()
		cancel()
		if err != nil {
			t.Fatalf("the first record did not come within 3s: %v", err)
		}
	}
	t.Logf("slowest first record of 1,500 followed replays: %s", slowest)
}

// TestReplayTimeOrder: a replay of several partitions delivers their
// records in time order (ties by partition, then offset), not in the
// order fetches bring them, so that a page of a topic, read again from
// the same position, is the same records in the same order, and pages
// joined at their cursors are the whole range in that order.
func TestReplayTimeOrder(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.events")
	// Partition p's record i at t0 + (3i + p) s; the last three records
	// share one time.
	var want []string
	for i := range 6 {
		for p := range int32(3) {
			at := t0.Add(time.Duration(3*i+int(p)) * time.Second)
			if i == 5 {
				at = t0.Add(time.Hour)
			}
			rec := &kgo.Record{Topic: "orders.events", Partition: p, Timestamp: at, Value: []byte(`{}`)}
			if err := e.producer.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("%d/%d", p, i))
		}
	}
	open := func(from string, limit int) *Replay {
		t.Helper()
		rp, err := e.replayer.Open(t.Context(), ReplayRequest{Topic: "orders.events", Range: mustRange(t, from, ""), Limit: limit})
		if err != nil {
			t.Fatalf("Open from %q: %v", from, err)
		}
		return rp
	}
	if diff := cmp.Diff(want, positions(readAll(t, open("earliest", 0)))); diff != "" {
		t.Errorf("whole topic (-time order +got):\n%s", diff)
	}
	for range 3 {
		var pages []string
		for from := "earliest"; ; {
			rp := open(from, 4)
			page := positions(readAll(t, rp))
			if len(page) == 0 {
				break
			}
			pages = append(pages, page...)
			from = string(rp.AppendCursor(nil))
		}
		if diff := cmp.Diff(want, pages); diff != "" {
			t.Fatalf("pages of 4 joined at their cursors (-time order +got):\n%s", diff)
		}
	}
}

// TestReplayPausesQueuedPartition guards Replay.pauseQueued: a partition
// whose records all come later than another's is fetched alongside it
// but none of its records can be delivered before the other is drained,
// so without the pause its whole range would pile up in the replay's
// queue. Partition 1 holds 4 MiB of records, all earlier than partition
// 0's 3 MiB: the replay must pause partition 0 once it holds the mark
// (replayFetchMaxBytes) queued, hold at most the mark plus its share of
// one fetch, resume it once partition 1 is drained, and deliver every
// record once, in time order, without stalling.
func TestReplayPausesQueuedPartition(t *testing.T) {
	const (
		topic     = "orders.paced"
		valueSize = 4 << 10
		// Partition 1's records, all before partition 0's: four marks.
		early = 4 * replayFetchMaxBytes / valueSize
		// Partition 0's: three marks, more than the bound below, so
		// that a partition never paused is queued beyond it.
		late = 3 * replayFetchMaxBytes / valueSize
		// The most one partition may hold queued: pauseQueued runs
		// before each poll and lets only a partition below the mark be
		// fetched, and a poll of the one broker brings at most one
		// fetch, of which a partition gets its share (Open gives each
		// of the two partitions half a fetch; kgo drops what it
		// buffered of a paused partition).
		share = replayFetchMaxBytes / 2
		bound = replayFetchMaxBytes + share
	)
	e := newEnv(t, ReplayConfig{})
	// A stall fails the test instead of hanging it.
	const timeout = 15 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if _, err := kadm.NewClient(e.producer).CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	// Random values, which do not compress: the producer compresses its
	// batches (snappy) and fetches are bounded in compressed bytes, so
	// with compressible values one poll brought the whole topic and the
	// mark, which counts keys and values, was never checked in between.
	random := rand.NewChaCha8([32]byte{})
	var want []string
	produce := func(p int32, n int, start time.Time) {
		t.Helper()
		// 16 records (64 KiB) a batch, less than a share: a broker
		// returns a partition's first batch whole even if it exceeds
		// the partition's share.
		for i := 0; i < n; i += 16 {
			var recs []*kgo.Record
			for j := i; j < min(i+16, n); j++ {
				v := make([]byte, valueSize)
				_, _ = random.Read(v) // never fails
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Timestamp: start.Add(time.Duration(j) * time.Millisecond),
					Key: []byte("k" + strconv.Itoa(j)), Value: v})
				want = append(want, fmt.Sprintf("%d/%d", p, j))
			}
			if err := e.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce to %s/%d: %v", topic, p, err)
			}
		}
	}
	produce(1, early, t0)
	produce(0, late, t0.Add(time.Hour))

	start := time.Now()
	rp, err := e.replayer.Open(ctx, ReplayRequest{Topic: topic})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rp.Close()
	if len(rp.ranges) != 2 || rp.ranges[0].Partition != 0 || rp.ranges[1].Partition != 1 {
		t.Fatalf("ranges %v, want partitions 0 and 1", rp.ranges)
	}
	// After each record, what the replay holds queued and paused per
	// partition: a pause lasts at least until Next has taken a record (the
	// queue shrinks only then), so none goes unseen.
	var (
		got       []string
		maxQueued [2]int
		pauses    [2]int
		resumes   [2]int
		paused    [2]bool
	)
	for {
		rec, err := rp.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("replay did not finish within %s: Next after %d of %d records, queued bytes %v, paused %v: %v",
				timeout, len(got), early+late, rp.bytes, rp.paused, err)
		}
		got = append(got, fmt.Sprintf("%d/%d", rec.Partition, rec.Offset))
		for i := range rp.ranges {
			q := rp.bytes[i]
			if rp.ranges[i].Partition == rec.Partition {
				q += len(rec.Key) + len(rec.Value) // as queued before Next took rec
			}
			maxQueued[i] = max(maxQueued[i], q)
			switch {
			case rp.paused[i] && !paused[i]:
				pauses[i]++
			case !rp.paused[i] && paused[i]:
				resumes[i]++
			}
			paused[i] = rp.paused[i]
		}
	}
	elapsed := time.Since(start)
	if rp.Reason() != ReasonEnd {
		t.Errorf("Reason() = %q, want %q", rp.Reason(), ReasonEnd)
	}
	if len(got) != len(want) {
		t.Errorf("read %d records, want %d", len(got), len(want))
	}
	// want is partition 1's records, then partition 0's: time order.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-time order +got):\n%s", diff)
	}
	if pauses[0] == 0 {
		t.Errorf("partition 0 was never paused (at most %d bytes queued, mark %d)", maxQueued[0], replayFetchMaxBytes)
	}
	for i, q := range maxQueued {
		if q >= bound {
			t.Errorf("partition %d: %d bytes queued at most, want < %d (the mark and a partition's share of one fetch)", rp.ranges[i].Partition, q, bound)
		}
	}
	t.Logf("%d records in %s; partition 0: %d pauses, %d resumes, at most %d bytes queued; partition 1: %d pauses, at most %d bytes queued (bound %d)",
		len(got), elapsed.Round(time.Millisecond), pauses[0], resumes[0], maxQueued[0], pauses[1], maxQueued[1], bound)
}
