package group

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics"
)

// fakes records the calls of a poll, in order, and answers what the test
// set.
type fakes struct {
	calls     []string
	assign    Assignment
	committed map[int32]int64
	holds     bool
	commitErr error
}

func (f *fakes) Renew(_ context.Context, k Key, member string, n int32, lease time.Duration) (Assignment, error) {
	f.calls = append(f.calls, fmt.Sprintf("renew %s %d", member, n))
	return f.assign, nil
}

func (f *fakes) Release(_ context.Context, k Key, member string, ps []int32) error {
	f.calls = append(f.calls, fmt.Sprintf("release %v", ps))
	return nil
}

func (f *fakes) Record(_ context.Context, k Key, member string, pos []consumers.PartitionOffset) error {
	f.calls = append(f.calls, fmt.Sprintf("record %v", pos))
	return nil
}

func (f *fakes) Holds(_ context.Context, k Key, member string, ps []int32) (bool, error) {
	f.calls = append(f.calls, fmt.Sprintf("holds %s %v", k.Topic, ps))
	return f.holds, nil
}

func (f *fakes) Leave(_ context.Context, k Key, member string) error {
	f.calls = append(f.calls, "leave "+member)
	return nil
}

func (f *fakes) GroupOffsets(_ context.Context, group, topic string) (map[int32]int64, error) {
	f.calls = append(f.calls, "offsets")
	return f.committed, nil
}

func (f *fakes) CommitGroupOffsets(_ context.Context, group, topic string, offs map[int32]int64) error {
	keys := slices.Sorted(maps.Keys(offs))
	var parts []string
	for _, p := range keys {
		parts = append(parts, fmt.Sprintf("%d:%d", p, offs[p]))
	}
	f.calls = append(f.calls, "commit "+topic+" "+strings.Join(parts, ","))
	return f.commitErr
}

func (f *fakes) GroupLags(context.Context, topics.TopicInfo, func(string) bool) ([]topics.GroupLag, error) {
	return nil, nil
}

func (f *fakes) Topic(_ context.Context, name string) (topics.TopicInfo, error) {
	ti := topics.TopicInfo{Topic: name}
	for p := range int32(4) {
		ti.Partitions = append(ti.Partitions, topics.PartitionInfo{Partition: p, Start: 10, End: 100})
	}
	return ti, nil
}

func (f *fakes) Open(context.Context, consumers.ReplayRequest) (*consumers.Replay, error) {
	f.calls = append(f.calls, "open")
	return nil, errors.New("no reads in this test")
}

var testRules = Config{
	{NamePrefix: "billing", Topics: []string{"orders.*"}, Scopes: []string{"orders:read"}, Lease: 2 * time.Second, AutoCommit: true},
	{NamePrefix: "", Topics: []string{"audit"}, Scopes: []string{"audit:read"}, Start: StartLatest},
}

func newTestGroups(f *fakes) *Groups { return New(testRules, f, f, f) }

// TestPollCommitsBeforeGivingUp: with auto-commit, a poll commits what the
// member read of a partition before it releases it to the member due it,
// which reads on from that commit.
func TestPollCommitsBeforeGivingUp(t *testing.T) {
	f := &fakes{assign: Assignment{Leaving: []int32{1, 3}, Positions: map[int32]int64{1: 40, 3: 70}, Members: 2}}
	out, err := newTestGroups(f).Poll(t.Context(), PollRequest{Group: "billing-app", Topic: "orders.events", Member: "m1", MaxWait: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"renew m1 4", "commit orders.events 1:40,3:70", "release [1 3]"}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
	if len(out.Partitions) != 0 || len(out.Committed) != 2 || out.Members != 2 {
		t.Errorf("polled %+v", out)
	}

	// Without auto-commit (the poll says so), nothing is committed: the
	// member committed itself, or its records are read again.
	f.calls = nil
	off := false
	if _, err := newTestGroups(f).Poll(t.Context(), PollRequest{Group: "billing-app", Topic: "orders.events", Member: "m1", MaxWait: time.Millisecond, AutoCommit: &off}, nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"renew m1 4", "release [1 3]"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls without auto-commit %q, want %q", f.calls, want)
	}

	// A failed commit releases nothing.
	f.calls, f.commitErr = nil, topics.ErrUnavailable
	if _, err := newTestGroups(f).Poll(t.Context(), PollRequest{Group: "billing-app", Topic: "orders.events", Member: "m1", MaxWait: time.Millisecond}, nil); !errors.Is(err, topics.ErrUnavailable) {
		t.Fatalf("poll with a failing commit: %v", err)
	}
	if slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "release") }) {
		t.Errorf("released after a failed commit: %q", f.calls)
	}
}

// TestStartAt: a held partition is read from the member's position, else
// the group's committed offset, else the rule's start; clamped to what
// the partition holds. A position of a partition the member is leaving
// does not stand for one it just took (the bug TestHTTPConsumerGroups
// found: the partition was read from its start).
func TestStartAt(t *testing.T) {
	f := &fakes{committed: map[int32]int64{1: 55, 2: 5, 3: 500}}
	g := newTestGroups(f)
	ti, _ := f.Topic(t.Context(), "orders.events")
	for _, tc := range []struct {
		a    Assignment
		want []consumers.PartitionOffset
	}{
		// Two positions for two held partitions, but one is of a partition
		// the member leaves: partition 1 is read from the commit.
		{Assignment{Held: []int32{0, 1}, Leaving: []int32{3}, Positions: map[int32]int64{0: 42, 3: 7}}, []consumers.PartitionOffset{po(0, 42), po(1, 55)}},
		// Commits below the start and past the end are clamped.
		{Assignment{Held: []int32{2, 3}}, []consumers.PartitionOffset{po(2, 10), po(3, 100)}},
	} {
		from, _, err := g.startAt(t.Context(), Key{"billing-app", "orders.events"}, testRules[0].WithDefaults(), ti, tc.a)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(from, tc.want) {
			t.Errorf("%+v: from %v, want %v", tc.a, from, tc.want)
		}
	}
	// Without a commit: the rule's start.
	f.committed = nil
	for _, tc := range []struct {
		rule Rule
		want int64
	}{{testRules[0].WithDefaults(), 10}, {testRules[1].WithDefaults(), 100}} {
		from, _, err := g.startAt(t.Context(), Key{"billing-app", "orders.events"}, tc.rule, ti, Assignment{Held: []int32{2}})
		if err != nil {
			t.Fatal(err)
		}
		if from[0].Offset != tc.want {
			t.Errorf("start %s: from %v, want offset %d", tc.rule.Start, from, tc.want)
		}
	}
	// Every held partition has a position: Kafka is not asked.
	f.calls = nil
	if _, _, err := g.startAt(t.Context(), Key{"billing-app", "orders.events"}, testRules[0], ti, Assignment{Held: []int32{0}, Positions: map[int32]int64{0: 1}}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 0 {
		t.Errorf("asked %q although every partition had a position", f.calls)
	}
}

// TestRulesAndBounds: which rule covers a group and topic, and the bounds
// of a poll.
func TestRulesAndBounds(t *testing.T) {
	cfg := testRules.WithDefaults()
	for _, tc := range []struct {
		group, topic string
		scope        string // "" when no rule covers them
	}{
		{"billing-app", "orders.events", "orders:read"},
		{"billing", "orders.events", "orders:read"},
		{"billing-app", "audit", "audit:read"},
		{"shipping", "orders.events", ""},
		{"billing-app", "__consumer_offsets", ""},
		{"ferry-webhook-x", "audit", ""},
		{"bad name", "audit", ""},
	} {
		r, ok := cfg.Rule(tc.group, tc.topic)
		if got := strings.Join(r.Scopes, ","); ok != (tc.scope != "") || got != tc.scope {
			t.Errorf("Rule(%s, %s) = %q, %v; want %q", tc.group, tc.topic, got, ok, tc.scope)
		}
	}
	r := cfg[0]
	for _, tc := range []struct {
		req        PollRequest
		limit      int
		wait       time.Duration
		badRequest bool
	}{
		{PollRequest{}, DefaultPollRecords, time.Second, false}, // the lease of 2s bounds max_wait to 1s
		{PollRequest{MaxRecords: 1000, MaxWait: time.Second}, 1000, time.Second, false},
		{PollRequest{MaxRecords: 1001}, 0, 0, true},
		{PollRequest{MaxRecords: -1}, 0, 0, true},
		{PollRequest{MaxWait: 1001 * time.Millisecond}, 0, 0, true},
	} {
		limit, wait, err := bounds(r, tc.req)
		if tc.badRequest != errors.Is(err, ErrBadRequest) || limit != tc.limit || wait != tc.wait {
			t.Errorf("bounds(%+v) = %d, %s, %v", tc.req, limit, wait, err)
		}
	}
}

// TestCommitChecksHolder: a commit goes to Kafka only for a member that
// holds every partition it names; offsets are checked first.
func TestCommitChecksHolder(t *testing.T) {
	f := &fakes{holds: true}
	g := newTestGroups(f)
	offs := []Offset{{"orders.events", 2, 9}, {"orders.events", 0, 4}}
	if err := g.Commit(t.Context(), "billing-app", "m1", offs); err != nil {
		t.Fatal(err)
	}
	if want := []string{"holds orders.events [0 2]", "commit orders.events 0:4,2:9"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
	f.calls, f.holds = nil, false
	if err := g.Commit(t.Context(), "billing-app", "m1", offs); !errors.Is(err, ErrNotHeld) {
		t.Errorf("commit of partitions not held: %v", err)
	}
	if slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "commit") }) {
		t.Errorf("committed partitions not held: %q", f.calls)
	}
	for _, bad := range [][]Offset{nil, {{"orders.events", 0, -1}}, {{"orders.events", 0, 1}, {"orders.events", 0, 2}}} {
		if err := g.Commit(t.Context(), "billing-app", "m1", bad); !errors.Is(err, ErrBadRequest) {
			t.Errorf("commit %v: %v, want a bad request", bad, err)
		}
	}
	if err := g.Commit(t.Context(), "billing-app", "m1", []Offset{{"payroll", 0, 1}}); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("commit of a topic no rule covers: %v", err)
	}
	if got := g.Scopes("billing-app", []Offset{{"orders.events", 0, 1}, {"audit", 0, 1}}); !slices.Equal(got, []string{"audit:read", "orders:read"}) {
		t.Errorf("scopes %v", got)
	}
}

func po(p int32, o int64) consumers.PartitionOffset {
	return consumers.PartitionOffset{Partition: p, Offset: o}
}
