package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrGroupOffsets wraps a commit the group coordinator refused for good
// (a group that has live Kafka members of its own, an unauthorized
// group): retrying does not help.
var ErrGroupOffsets = errors.New("group coordinator refused the offsets")

// GroupOffsets returns the offsets consumer group has committed for the
// partitions of topic, by partition: the next offset the group reads, as
// Kafka's tools show them. A partition without a commit is absent.
func (a *Admin) GroupOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	out := make(map[int32]int64)
	resp, err := a.adm.FetchOffsetsForTopics(ctx, group, topic)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil // a group that never committed (kfake says so; Kafka answers no offsets)
	}
	if err != nil {
		return nil, adminErr("fetch offsets of group "+group, err)
	}
	for p, o := range resp[topic] {
		if o.Err != nil {
			return nil, adminErr(fmt.Sprintf("fetch offsets of group %s for %s/%d", group, topic, p), o.Err)
		}
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// CommitGroupOffsets commits offsets (partition -> the next offset to read)
// of topic for consumer group, as a consumer outside Kafka's group
// protocol does (generation -1): kcat, kafka-consumer-groups and every
// Kafka client of the group see them. Errors wrap ErrUnavailable or
// ErrGroupOffsets.
func (a *Admin) CommitGroupOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error {
	offs := make(kadm.Offsets)
	for p, o := range offsets {
		offs.AddOffset(topic, p, o, -1)
	}
	resp, err := a.adm.CommitOffsets(ctx, group, offs)
	if err != nil {
		return adminErr("commit offsets of group "+group, err)
	}
	if err := resp.Error(); err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, errors.Join(ErrGroupOffsets, err))
	}
	return nil
}

// GroupLag is how far one consumer group is behind on one topic.
type GroupLag struct {
	Group string
	// Partitions are sorted by partition; every partition of the topic is
	// listed, committed or not.
	Partitions []PartitionLag
	// Lag is the sum of the partitions' lag.
	Lag int64
}

// PartitionLag is one partition's committed offset and lag.
type PartitionLag struct {
	Partition int32
	// Committed is the group's committed offset, -1 for none.
	Committed int64
	// End is the partition's end offset (high watermark).
	End int64
	// Lag is End less Committed, or less the partition's start offset
	// where the group committed nothing (or below the start).
	Lag int64
}

// GroupLags returns the lag on topic of each consumer group that keep
// selects and that has committed offsets for topic, sorted by group. ti
// describes the topic (its start and end offsets). Groups are listed from
// the cluster, so groups of any client show, not only ferry's.
func (a *Admin) GroupLags(ctx context.Context, ti TopicInfo, keep func(group string) bool) ([]GroupLag, error) {
	listed, err := a.adm.ListGroups(ctx)
	if err != nil {
		return nil, adminErr("list groups", err)
	}
	var groups []string
	for _, g := range listed.Groups() {
		if keep(g) {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return nil, nil
	}
	slices.Sort(groups)
	fetched := a.adm.FetchManyOffsets(ctx, groups...)
	if fetched.AllFailed() {
		return nil, adminErr("fetch offsets of groups", fetched[groups[0]].Err)
	}
	var out []GroupLag
	for _, g := range groups {
		r, ok := fetched[g]
		if !ok || r.Err != nil {
			continue
		}
		committed, ok := r.Fetched[ti.Topic]
		if !ok || len(committed) == 0 {
			continue
		}
		gl := GroupLag{Group: g}
		for _, p := range ti.Partitions {
			pl := PartitionLag{Partition: p.Partition, Committed: -1, End: p.End}
			from := p.Start
			if c, ok := committed[p.Partition]; ok && c.Err == nil && c.At >= 0 {
				pl.Committed = c.At
				from = max(from, c.At)
			}
			pl.Lag = max(p.End-from, 0)
			gl.Lag += pl.Lag
			gl.Partitions = append(gl.Partitions, pl)
		}
		out = append(out, gl)
	}
	return out, nil
}
