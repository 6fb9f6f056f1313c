package consumers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/topics"
)

// memLog is an in-memory topic standing in for Kafka behind the hub's
// history interface: offsets are indexes, and reads return copies, as
// Kafka reads return fresh records.
type memLog struct {
	mu    sync.Mutex
	parts [][]*Event
	reads int
	fail  bool
}

func newMemLog(parts int) *memLog { return &memLog{parts: make([][]*Event, parts)} }

// add appends a record to partition p and returns it, ready to publish.
func (m *memLog) add(p int32, key string, hdrs ...string) *Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := &Event{Partition: p, Offset: int64(len(m.parts[p])), Key: []byte(key), Timestamp: time.UnixMilli(int64(1000 * (len(m.parts[p]) + 1)))}
	e.Value = []byte(fmt.Sprintf("%d/%d", p, e.Offset))
	for i := 0; i+1 < len(hdrs); i += 2 {
		e.Headers = append(e.Headers, topics.Header{Key: hdrs[i], Value: []byte(hdrs[i+1])})
	}
	m.parts[p] = append(m.parts[p], e)
	return &Event{Partition: e.Partition, Offset: e.Offset, Key: e.Key, Value: e.Value, Headers: e.Headers, Timestamp: e.Timestamp}
}

func (m *memLog) offsets(_ context.Context, _ string, ts int64) (Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := make(Cursor, len(m.parts))
	for p, recs := range m.parts {
		switch ts {
		case -2:
			c[p] = 0
		case -1:
			c[p] = int64(len(recs))
		default:
			c[p] = -1
			for _, e := range recs {
				if e.Timestamp.UnixMilli() >= ts {
					c[p] = e.Offset
					break
				}
			}
		}
	}
	return c, nil
}

func (m *memLog) read(_ context.Context, _ string, from map[int32]int64) ([]*Event, map[int32]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.fail {
		return nil, nil, errors.New("broker unreachable")
	}
	var out []*Event
	next := make(map[int32]int64)
	for p, off := range from {
		recs := m.parts[p]
		for i := off; i < int64(len(recs)) && i < off+7; i++ {
			e := *recs[i]
			out = append(out, &e)
			next[p] = i + 1
		}
	}
	return out, next, nil
}

func discard() options { return options{log: slog.New(slog.NewTextHandler(io.Discard, nil))} }

// testHub returns a hub of one stream "s" on topic "t" with parts
// partitions, its feed started at the log's end.
func testHub(tb testing.TB, log *memLog, cfg HubConfig) (*Hub, *feed) {
	tb.Helper()
	h := newHub(cfg, []topics.StreamConfig{{Name: "s", Topic: "t"}}, log, discard())
	end, _ := log.offsets(context.Background(), "t", -1)
	f := h.set.Load().feeds["t"]
	f.start(end)
	tb.Cleanup(func() {
		h.Close()
		if n := h.Subscribers(); n != 0 {
			tb.Errorf("Subscribers() = %d after the test, want 0", n)
		}
	})
	return h, f
}

func fetchAll(tb testing.TB, s *Subscription) []Delivery {
	tb.Helper()
	var out []Delivery
	for range 10000 {
		ds, err := s.Fetch(context.Background(), nil)
		if err != nil {
			tb.Fatalf("Fetch: %v", err)
		}
		out = append(out, ds...)
		select {
		case <-s.Wait():
		default:
			return out
		}
	}
	tb.Fatal("Fetch never ran dry")
	return nil
}

func values(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.Value)
	}
	return out
}

func TestLatestGetsWhatIsPublishedAfter(t *testing.T) {
	t.Parallel()
	log := newMemLog(3)
	h, f := testHub(t, log, HubConfig{})
	f.publish([]*Event{log.add(0, "a")}) // before subscribing: not delivered
	s, err := h.Subscribe(context.Background(), "s", StartLatest(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := s.Position(), "1.0.0"; got != want {
		t.Errorf("Position() = %q, want %q", got, want)
	}
	select {
	case <-s.Wait():
		t.Fatal("Wait() is ready with nothing published")
	default:
	}
	w := s.Wait()
	f.publish([]*Event{log.add(1, "b"), log.add(2, "c"), log.add(1, "d")})
	<-w
	got := fetchAll(t, s)
	if diff := cmp.Diff([]string{"1/0", "2/0", "1/1"}, values(got)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	ids := []string{got[0].ID, got[1].ID, got[2].ID}
	if diff := cmp.Diff([]string{"1.1.0", "1.1.1", "1.2.1"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if _, err := h.Subscribe(context.Background(), "nope", StartLatest(), Filter{}); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("Subscribe(nope) = %v, want ErrUnknownStream", err)
	}
	if _, err := h.Subscribe(context.Background(), "s", StartAfter(Cursor{1, 2, 3, 4}), Filter{}); !errors.Is(err, ErrBadPosition) {
		t.Errorf("Subscribe(4-partition cursor on 3 partitions) = %v, want ErrBadPosition", err)
	}
}

func TestFilterAndIDsOfSkippedRecords(t *testing.T) {
	t.Parallel()
	log := newMemLog(2)
	h, f := testHub(t, log, HubConfig{})
	s, err := h.Subscribe(context.Background(), "s", StartLatest(), Filter{Key: "k1", ByKey: true}.WithHeader("Tenant", "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.publish([]*Event{
		log.add(0, "k1", "tenant", "a"),
		log.add(1, "k1", "tenant", "b"),
		log.add(0, "k2", "tenant", "a"),
		log.add(1, "k1"),
		log.add(1, "k1", "tenant", "a", "tenant", "b"), // two tenants: no
		log.add(1, "k1", "TENANT", "a"),
	})
	got := fetchAll(t, s)
	if diff := cmp.Diff([]string{"0/0", "1/3"}, values(got)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if got[1].ID != "2.4" {
		t.Errorf("id of the last delivery = %q, want 2.4", got[1].ID)
	}
	if s.Position() != "2.4" {
		t.Errorf("Position() = %q, want 2.4", s.Position())
	}
}

func TestSlowConsumerIsClosedOthersContinue(t *testing.T) {
	t.Parallel()
	log := newMemLog(1)
	h, f := testHub(t, log, HubConfig{Buffer: 4, History: 4})
	slow, _ := h.Subscribe(context.Background(), "s", StartLatest(), Filter{})
	defer slow.Close()
	fast, _ := h.Subscribe(context.Background(), "s", StartLatest(), Filter{})
	defer fast.Close()
	var fastGot []Delivery
	for range 10 {
		f.publish([]*Event{log.add(0, "")})
		fastGot = append(fastGot, fetchAll(t, fast)...)
	}
	if len(fastGot) != 10 {
		t.Errorf("fast subscriber got %d events, want 10", len(fastGot))
	}
	if _, err := slow.Fetch(context.Background(), nil); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("slow Fetch = %v, want ErrSlowConsumer", err)
	}
	// The slow one resumes where it was and catches up from "Kafka".
	c, _ := ParseCursor(slow.Position())
	slow.Close()
	again, err := h.Subscribe(context.Background(), "s", StartAfter(c), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var got []Delivery
	for len(got) < 10 {
		ds, err := again.Fetch(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ds...)
	}
	if diff := cmp.Diff(values(fastGot), values(got)); diff != "" {
		t.Errorf("resumed slow subscriber (-want +got):\n%s", diff)
	}
}

func TestStartEarliestAndAtTime(t *testing.T) {
	t.Parallel()
	log := newMemLog(2)
	for i := range 6 {
		log.add(int32(i%2), "")
	}
	h, f := testHub(t, log, HubConfig{Buffer: 2, History: 2})
	f.publish([]*Event{log.add(0, "")})
	for _, tt := range []struct {
		name  string
		start Start
		want  []string
	}{
		{"earliest", StartEarliest(), []string{"0/0", "0/1", "0/2", "0/3", "1/0", "1/1", "1/2"}},
		{"time", StartAt(time.UnixMilli(3000)), []string{"0/2", "0/3", "1/2"}},
		{"future", StartAt(time.UnixMilli(1e12)), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := h.Subscribe(context.Background(), "s", tt.start, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []string
			for range 100 {
				ds, err := s.Fetch(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, values(ds)...)
			}
			sortByPartition(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func sortByPartition(vs []string) {
	key := func(v string) (int, int) {
		var p, o int
		fmt.Sscanf(v, "%d/%d", &p, &o)
		return p, o
	}
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0; j-- {
			p1, o1 := key(vs[j-1])
			p2, o2 := key(vs[j])
			if p1 < p2 || (p1 == p2 && o1 < o2) {
				break
			}
			vs[j-1], vs[j] = vs[j], vs[j-1]
		}
	}
}

// TestResumeExactlyOnce is a randomized model test of the whole hub logic:
// records are published in random batches across partitions while clients
// read at random speeds, are dropped as slow consumers, disconnect and
// resume from their last id, from their position, or from the start. Every
// client must see every record its filter keeps exactly once, in order
// within each partition.
func TestResumeExactlyOnce(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Parallel()
			resumeModel(t, seed)
		})
	}
}

type modelClient struct {
	filter  Filter
	sub     *Subscription
	lastID  string
	got     map[string]int
	order   map[int32]int64
	resumes int
}

func resumeModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	const parts = 3
	log := newMemLog(parts)
	h, f := testHub(t, log, HubConfig{Buffer: 1 + rng.IntN(20), History: 20 + rng.IntN(20)})
	keys := []string{"a", "b", "c"}

	clients := make([]*modelClient, 4)
	for i := range clients {
		c := &modelClient{got: make(map[string]int), order: make(map[int32]int64)}
		if i%2 == 1 {
			c.filter = Filter{Key: keys[i%3], ByKey: true}
		}
		s, err := h.Subscribe(context.Background(), "s", StartEarliest(), c.filter)
		if err != nil {
			t.Fatal(err)
		}
		c.sub = s
		clients[i] = c
	}
	read := func(c *modelClient, n int) {
		for range n {
			ds, err := c.sub.Fetch(context.Background(), nil)
			if errors.Is(err, ErrSlowConsumer) {
				resume(t, h, c, rng)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				c.got[string(d.Value)]++
				if last, ok := c.order[d.Partition]; ok && d.Offset <= last {
					t.Fatalf("partition %d: offset %d after %d", d.Partition, d.Offset, last)
				}
				c.order[d.Partition] = d.Offset
				c.lastID = d.ID
			}
		}
	}
	total := 0
	for range 600 {
		switch r := rng.IntN(10); {
		case r < 4:
			var batch []*Event
			for range 1 + rng.IntN(6) {
				batch = append(batch, log.add(int32(rng.IntN(parts)), keys[rng.IntN(3)]))
				total++
			}
			f.publish(batch)
		case r < 9:
			read(clients[rng.IntN(len(clients))], 1+rng.IntN(3))
		default:
			resume(t, h, clients[rng.IntN(len(clients))], rng)
		}
	}
	for _, c := range clients {
		for i := 0; ; i++ {
			read(c, 1)
			select {
			case <-c.sub.Wait():
			default:
				i = -1
			}
			if i < 0 {
				break
			}
			if i > 5000 {
				t.Fatal("the client never caught up")
			}
		}
		c.sub.Close()
		want := 0
		for _, recs := range log.parts {
			for _, e := range recs {
				if c.filter.Match(e) {
					want++
					if n := c.got[string(e.Value)]; n != 1 {
						t.Errorf("filter %+v: record %s delivered %d times, want once (after %d resumes)", c.filter, e.Value, n, c.resumes)
					}
				}
			}
		}
		if len(c.got) != want {
			t.Errorf("client got %d distinct records, want %d", len(c.got), want)
		}
	}
}

// resume closes the client's subscription and opens a new one from its
// last id, or from its position (which may be ahead of the last id).
func resume(t *testing.T, h *Hub, c *modelClient, rng *rand.Rand) {
	t.Helper()
	from := c.lastID
	if rng.IntN(2) == 0 {
		from = c.sub.Position()
	}
	c.sub.Close()
	c.resumes++
	start := StartEarliest()
	if from != "" {
		cur, err := ParseCursor(from)
		if err != nil {
			t.Fatal(err)
		}
		start = StartAfter(cur)
	}
	s, err := h.Subscribe(context.Background(), "s", start, c.filter)
	if err != nil {
		t.Fatal(err)
	}
	c.sub = s
}

// TestCursorExplicitAnswers: a Last-Event-ID past a partition's end (an id
// from before the topic was recreated) is ErrBadPosition naming the
// partition, whether or not this hub has seen that far; one naming fewer
// partitions than the stream has (partitions added since) is accepted and
// says so in Note, instead of silently reading the others from 0.
func TestCursorExplicitAnswers(t *testing.T) {
	t.Parallel()
	log := newMemLog(3)
	h, f := testHub(t, log, HubConfig{})
	f.publish([]*Event{log.add(0, "a"), log.add(0, "b"), log.add(1, "c")})
	_, err := h.Subscribe(context.Background(), "s", StartAfter(Cursor{2, 9, 0}), Filter{})
	if !errors.Is(err, ErrBadPosition) || !strings.Contains(err.Error(), "partition 1: offset 9 is past its end (1)") {
		t.Errorf("Subscribe past the end = %v, want ErrBadPosition naming partition 1 and its end", err)
	}
	log.add(2, "written, not yet seen by this hub") // another instance's hub may be ahead
	s, err := h.Subscribe(context.Background(), "s", StartAfter(Cursor{2, 1, 1}), Filter{})
	if err != nil {
		t.Fatalf("Subscribe at the broker's end (ahead of this hub) = %v, want accepted", err)
	}
	s.Close()
	s, err = h.Subscribe(context.Background(), "s", StartAfter(Cursor{1}), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if note := s.Note(); !strings.Contains(note, "names 1 of the stream's 3 partitions") {
		t.Errorf("Note() = %q, want it to say the position names 1 of 3 partitions", note)
	}
}

// TestFilterByValue: a subscriber's value conditions keep only records
// whose JSON value meets them all; a value that is not JSON never does.
func TestFilterByValue(t *testing.T) {
	t.Parallel()
	log := newMemLog(1)
	h, f := testHub(t, log, HubConfig{})
	failed, err := ParseWhere(`/status = "failed"`)
	if err != nil {
		t.Fatal(err)
	}
	big, err := ParseWhere(`/amount > 100`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Subscribe(context.Background(), "s", StartLatest(), Filter{Where: []Where{failed, big}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var evs []*Event
	for _, v := range []string{`{"status":"failed","amount":150}`, `{"status":"failed","amount":50}`, `{"status":"ok","amount":150}`, `failed`, `{"status":"failed","amount":101}`} {
		e := log.add(0, "k")
		e.Value = []byte(v)
		evs = append(evs, e)
	}
	f.publish(evs)
	if diff := cmp.Diff([]string{`{"status":"failed","amount":150}`, `{"status":"failed","amount":101}`}, values(fetchAll(t, s))); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}
