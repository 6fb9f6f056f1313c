package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics"
)

var (
	// ErrBadRequest means a poll or commit is malformed: a group name or
	// member id that is not allowed, offsets that are not offsets, a
	// max_records or max_wait beyond the rule's bounds.
	ErrBadRequest = errors.New("bad group request")
	// ErrNotAllowed means no rule of the groups section lets the group
	// read the topic (or the group name is reserved).
	ErrNotAllowed = errors.New("group not allowed")
	// ErrNotHeld means a commit names a partition the member does not hold
	// (any more): its lease passed and the partition moved to another
	// member, which reads it from the group's committed offset.
	ErrNotHeld = errors.New("partition not held by the member")
	// ErrUnavailable means the Leases store (Redis) could not be asked.
	ErrUnavailable = errors.New("group membership unavailable")
)

// Key names one group's membership of one topic: the members polling the
// topic in the group, and the partitions each holds.
type Key struct {
	Group string
	Topic string
}

// Assignment is a member's share of its group's partitions, as a Renew
// leaves it.
type Assignment struct {
	// Held are the partitions the member holds and reads, sorted.
	Held []int32
	// Leaving are partitions the member still holds but another live
	// member is due: the member releases them (Release) once it has
	// committed what it read of them.
	Leaving []int32
	// Positions are the offsets the member recorded (Record) for the
	// partitions it holds, since it took each one.
	Positions map[int32]int64
	// Members is how many members the group has on the topic, this one
	// included.
	Members int
	// OthersExpire is how long until the earliest lease of another member
	// ends (when it stops polling, its partitions are free then); 0 when
	// no other member has one ending before this member's.
	OthersExpire time.Duration
}

// Leases keeps group membership: who is a live member (a member is, for
// its lease after its last Renew), which member holds each partition (one
// at a time), and where each member stands in its partitions. Every
// method is atomic. Errors wrap ErrUnavailable.
type Leases interface {
	// Renew extends member's lease and splits partitions (0..n-1) among
	// the live members: it takes the partitions due to member that no live
	// member holds, and reports those it holds but must give up.
	Renew(ctx context.Context, k Key, member string, partitions int32, lease time.Duration) (Assignment, error)
	// Release gives up partitions member holds (others are left alone).
	Release(ctx context.Context, k Key, member string, partitions []int32) error
	// Record keeps where member stands in partitions it still holds.
	Record(ctx context.Context, k Key, member string, positions []consumers.PartitionOffset) error
	// Holds reports whether member is live and holds every one of
	// partitions.
	Holds(ctx context.Context, k Key, member string, partitions []int32) (bool, error)
	// Leave ends member's lease at once and releases its partitions.
	Leave(ctx context.Context, k Key, member string) error
}

// Offsets reads and writes Kafka's group offsets. *topics.Admin
// implements it.
type Offsets interface {
	GroupOffsets(ctx context.Context, group, topic string) (map[int32]int64, error)
	CommitGroupOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error
	GroupLags(ctx context.Context, ti topics.TopicInfo, keep func(group string) bool) ([]topics.GroupLag, error)
}

// Reader describes and reads topics. *consumers.Replayer implements it.
type Reader interface {
	Topic(ctx context.Context, name string) (topics.TopicInfo, error)
	Open(ctx context.Context, req consumers.ReplayRequest) (*consumers.Replay, error)
}

// Groups serves the polls and commits of the configured groups. It is
// safe for concurrent use; Close ends the polls that wait.
type Groups struct {
	cfg     Config
	leases  Leases
	offsets Offsets
	reader  Reader
	log     *slog.Logger

	life context.Context
	stop context.CancelFunc
}

// Option configures Groups.
type Option func(*Groups)

// WithLogger sets the logger; default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(g *Groups) { g.log = l } }

// New returns Groups for cfg (defaults applied here).
func New(cfg Config, leases Leases, offsets Offsets, reader Reader, opts ...Option) *Groups {
	g := &Groups{cfg: cfg.WithDefaults(), leases: leases, offsets: offsets, reader: reader, log: slog.Default()}
	for _, o := range opts {
		o(g)
	}
	g.life, g.stop = context.WithCancel(context.Background())
	return g
}

// Close makes waiting polls return what they have; it is idempotent.
func (g *Groups) Close() error {
	g.stop()
	return nil
}

// Rule returns the rule that lets group read topic. Errors wrap
// ErrBadRequest or ErrNotAllowed.
func (g *Groups) Rule(group, topic string) (Rule, error) {
	if err := CheckName(group); err != nil {
		return Rule{}, err
	}
	r, ok := g.cfg.Rule(group, topic)
	if !ok {
		return Rule{}, fmt.Errorf("group %s, topic %s: no rule of the groups section covers them: %w", group, topic, ErrNotAllowed)
	}
	return r, nil
}

// PollRequest is one poll of a member.
type PollRequest struct {
	Group string
	Topic string
	// Member is the member's id; "" joins as a new member (Polled.Member
	// says its id).
	Member string
	// MaxRecords is the most records returned; 0 means DefaultPollRecords
	// (or the rule's cap, if lower).
	MaxRecords int
	// MaxWait is how long the poll waits for a first record; 0 means
	// DefaultPollWait (or the rule's MaxWait, if lower).
	MaxWait time.Duration
	// AutoCommit, when set, overrides the rule's auto_commit for this poll.
	AutoCommit *bool
}

// Polled is what a poll did.
type Polled struct {
	// Member is the member's id: the one asked with, or a new one.
	Member string
	// Partitions the member holds, sorted.
	Partitions []int32
	// Members is how many members the group has on the topic.
	Members int
	// Records is how many records the poll delivered.
	Records int
	// Next is, per partition held, the offset after the last record
	// delivered: the offsets to commit once they are processed.
	Next []consumers.PartitionOffset
	// Committed are the offsets the poll committed first (auto-commit).
	Committed []consumers.PartitionOffset
}

// Poll renews the member's lease, commits what its previous poll delivered
// when auto-commit is on, and delivers the records of the partitions it
// holds, from where it stands (or the group's committed offsets, for a
// partition it just took), to each: up to MaxRecords, waiting up to
// MaxWait for the first. A record given to each is valid until each
// returns. A poll whose ctx ends early (the client left) records nothing:
// the member reads the same records again. Errors wrap the package's
// sentinels, consumers.ErrTooManyReplays, consumers.ErrClosed,
// topics.ErrUnknownTopic or topics.ErrUnavailable.
func (g *Groups) Poll(ctx context.Context, req PollRequest, each func(*consumers.Record) error) (Polled, error) {
	rule, err := g.Rule(req.Group, req.Topic)
	if err != nil {
		return Polled{}, err
	}
	limit, wait, err := bounds(rule, req)
	if err != nil {
		return Polled{}, err
	}
	out := Polled{Member: req.Member}
	if out.Member == "" {
		out.Member = rand.Text()
	} else if err := CheckMember(out.Member); err != nil {
		return Polled{}, err
	}
	if g.life.Err() != nil {
		return Polled{}, consumers.ErrClosed
	}
	ti, err := g.reader.Topic(ctx, req.Topic)
	if err != nil {
		return Polled{}, err
	}
	k := Key{Group: req.Group, Topic: req.Topic}
	a, err := g.leases.Renew(ctx, k, out.Member, int32(len(ti.Partitions)), rule.Lease)
	if err != nil {
		return Polled{}, err
	}
	out.Partitions, out.Members = a.Held, a.Members
	if a.OthersExpire > 0 {
		// A member whose lease ends within the wait has stopped polling
		// (a live one renews at least every max_wait): answer then, so that
		// the next poll takes its partitions within its lease.
		wait = min(wait, a.OthersExpire+expirySlack)
	}
	auto := rule.AutoCommit
	if req.AutoCommit != nil {
		auto = *req.AutoCommit
	}
	if auto && len(a.Positions) > 0 {
		// What the previous poll delivered, before a partition leaves:
		// the member due it next reads on from there.
		if err := g.offsets.CommitGroupOffsets(ctx, k.Group, k.Topic, a.Positions); err != nil {
			return Polled{}, err
		}
		out.Committed = sortedOffsets(a.Positions)
	}
	if len(a.Leaving) > 0 {
		if err := g.leases.Release(ctx, k, out.Member, a.Leaving); err != nil {
			return Polled{}, err
		}
		g.log.LogAttrs(ctx, slog.LevelDebug, "group member gave up partitions", slog.String("group", k.Group),
			slog.String("topic", k.Topic), slog.String("member", out.Member), slog.Any("partitions", a.Leaving))
	}
	if len(a.Held) == 0 {
		// More members than partitions: this one waits as a poll would,
		// and asks again at its next poll.
		g.idle(ctx, wait)
		return out, nil
	}
	from, committed, err := g.startAt(ctx, k, rule, ti, a)
	if err != nil {
		return Polled{}, err
	}
	g.log.LogAttrs(ctx, slog.LevelDebug, "group poll", slog.String("group", k.Group), slog.String("topic", k.Topic),
		slog.String("member", out.Member), slog.Any("from", from), slog.Any("positions", a.Positions), slog.Any("committed", committed))
	rp, err := g.reader.Open(ctx, consumers.ReplayRequest{
		Topic:      k.Topic,
		Range:      consumers.Range{From: consumers.Position{Kind: consumers.PositionOffsets, Offsets: from}},
		Partitions: a.Held,
		Limit:      limit,
		Follow:     true,
	})
	if err != nil {
		return Polled{}, err
	}
	defer rp.Close()
	if out.Records, err = g.read(ctx, rp, wait, each); err != nil {
		return Polled{}, err
	}
	out.Next = rp.Positions()
	if err := g.leases.Record(ctx, k, out.Member, out.Next); err != nil {
		return Polled{}, err
	}
	return out, nil
}

// expirySlack is how long after another member's lease ends a poll
// waiting for records answers, so that the next poll finds it ended.
const expirySlack = 20 * time.Millisecond

// bounds returns the poll's record limit and wait, checked against rule.
func bounds(rule Rule, req PollRequest) (int, time.Duration, error) {
	limit, wait := req.MaxRecords, req.MaxWait
	switch {
	case limit == 0:
		limit = min(DefaultPollRecords, rule.MaxRecords)
	case limit < 0 || limit > rule.MaxRecords:
		return 0, 0, fmt.Errorf("max_records %d: must be 1 to %d: %w", limit, rule.MaxRecords, ErrBadRequest)
	}
	switch {
	case wait == 0:
		wait = min(DefaultPollWait, rule.MaxWait())
	case wait < 0 || wait > rule.MaxWait():
		return 0, 0, fmt.Errorf("max_wait %s: must be 0s to %s (half the group's lease of %s): %w", wait, rule.MaxWait(), rule.Lease, ErrBadRequest)
	}
	return limit, wait, nil
}

// startAt returns where the member reads each partition it holds: where
// it stands, else the group's committed offset, else the rule's start;
// clamped to what the partition holds.
func (g *Groups) startAt(ctx context.Context, k Key, rule Rule, ti topics.TopicInfo, a Assignment) ([]consumers.PartitionOffset, map[int32]int64, error) {
	var committed map[int32]int64
	if slices.ContainsFunc(a.Held, func(p int32) bool { _, ok := a.Positions[p]; return !ok }) {
		var err error
		if committed, err = g.offsets.GroupOffsets(ctx, k.Group, k.Topic); err != nil {
			return nil, nil, err
		}
	}
	from := make([]consumers.PartitionOffset, 0, len(a.Held))
	for _, p := range a.Held {
		i := slices.IndexFunc(ti.Partitions, func(pi topics.PartitionInfo) bool { return pi.Partition == p })
		if i < 0 {
			continue // a partition the topic does not have (recreated smaller)
		}
		pi := ti.Partitions[i]
		o, ok := a.Positions[p]
		if !ok {
			o, ok = committed[p]
		}
		switch {
		case !ok && rule.Start == StartLatest:
			o = pi.End
		case !ok:
			o = pi.Start
		}
		from = append(from, consumers.PartitionOffset{Partition: p, Offset: min(max(o, pi.Start), pi.End)})
	}
	return from, committed, nil
}

// read delivers rp's records to each: it waits up to wait for the first,
// then takes what the fetches at hand hold.
func (g *Groups) read(ctx context.Context, rp *consumers.Replay, wait time.Duration, each func(*consumers.Record) error) (int, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	stop := context.AfterFunc(g.life, cancel)
	defer stop()
	n := 0
	for {
		rec, err := rp.Next(wctx)
		switch {
		case errors.Is(err, io.EOF):
			return n, nil
		case err != nil && ctx.Err() == nil && wctx.Err() != nil:
			return n, nil // waited long enough, or shutting down
		case err != nil:
			return n, err
		}
		if err := each(rec); err != nil {
			return n, err
		}
		n++
		if !rp.Pending() {
			return n, nil
		}
	}
}

// idle waits up to wait, or until ctx ends or the Groups close.
func (g *Groups) idle(ctx context.Context, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-g.life.Done():
	}
}

// Offset is a group's position in one partition: the next offset it
// reads, as Kafka commits it.
type Offset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Commit commits offsets for group, for member: it must hold every
// partition named (ErrNotHeld otherwise). Errors wrap the package's
// sentinels, topics.ErrUnavailable or topics.ErrGroupOffsets.
func (g *Groups) Commit(ctx context.Context, group, member string, offsets []Offset) error {
	if err := CheckMember(member); err != nil {
		return err
	}
	byTopic, err := g.commitsByTopic(group, offsets)
	if err != nil {
		return err
	}
	for _, topic := range slices.Sorted(maps.Keys(byTopic)) {
		offs := byTopic[topic]
		held, err := g.leases.Holds(ctx, Key{Group: group, Topic: topic}, member, slices.Sorted(maps.Keys(offs)))
		if err != nil {
			return err
		}
		if !held {
			return fmt.Errorf("group %s, topic %s: member %s does not hold every partition it commits (its lease passed, or it never polled them): %w",
				group, topic, member, ErrNotHeld)
		}
		if err := g.offsets.CommitGroupOffsets(ctx, group, topic, offs); err != nil {
			return err
		}
	}
	return nil
}

// commitsByTopic checks the offsets of a commit and groups them by topic.
func (g *Groups) commitsByTopic(group string, offsets []Offset) (map[string]map[int32]int64, error) {
	if len(offsets) == 0 {
		return nil, fmt.Errorf("no offsets to commit: %w", ErrBadRequest)
	}
	out := make(map[string]map[int32]int64)
	for i, o := range offsets {
		if _, err := g.Rule(group, o.Topic); err != nil {
			return nil, fmt.Errorf("offsets[%d]: %w", i, err)
		}
		if o.Partition < 0 || o.Offset < 0 {
			return nil, fmt.Errorf("offsets[%d]: partition and offset must be >= 0: %w", i, ErrBadRequest)
		}
		if out[o.Topic] == nil {
			out[o.Topic] = make(map[int32]int64)
		}
		if _, dup := out[o.Topic][o.Partition]; dup {
			return nil, fmt.Errorf("offsets[%d]: %s/%d is named twice: %w", i, o.Topic, o.Partition, ErrBadRequest)
		}
		out[o.Topic][o.Partition] = o.Offset
	}
	return out, nil
}

// Scopes returns the scopes a commit of offsets for group requires: those
// of the rules covering each topic named.
func (g *Groups) Scopes(group string, offsets []Offset) []string {
	var out []string
	for _, o := range offsets {
		if r, ok := g.cfg.Rule(group, o.Topic); ok {
			out = append(out, r.Scopes...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Leave ends member's membership of group on topic at once: its
// partitions go to the other members at their next poll.
func (g *Groups) Leave(ctx context.Context, group, topic, member string) error {
	if _, err := g.Rule(group, topic); err != nil {
		return err
	}
	if err := CheckMember(member); err != nil {
		return err
	}
	return g.leases.Leave(ctx, Key{Group: group, Topic: topic}, member)
}

// Lags returns how far each consumer group that a rule lets read topic
// is behind on it (groups of any Kafka client, ferry's own excepted).
func (g *Groups) Lags(ctx context.Context, ti topics.TopicInfo) ([]topics.GroupLag, error) {
	return g.offsets.GroupLags(ctx, ti, func(group string) bool {
		_, ok := g.cfg.Rule(group, ti.Topic)
		return ok
	})
}

func sortedOffsets(m map[int32]int64) []consumers.PartitionOffset {
	out := make([]consumers.PartitionOffset, 0, len(m))
	for _, p := range slices.Sorted(maps.Keys(m)) {
		out = append(out, consumers.PartitionOffset{Partition: p, Offset: m[p]})
	}
	return out
}
