package consumers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// history is what the hub needs from Kafka beyond the live feed: offsets
// by time, and bounded reads below the live position for subscribers that
// catch up.
type history interface {
	// offsets returns, for every partition of topic, the first offset whose
	// record has a timestamp at or after ts (milliseconds), or the earliest
	// offset for ts -2, or the end offset for ts -1. An offset is -1 when
	// no record is that recent.
	offsets(ctx context.Context, topic string, ts int64) (Cursor, error)
	// read returns records of topic from the partitions in from, each read
	// from the given offset, in offset order within each partition; and
	// for each partition read, the offset to read next (past gaps,
	// compacted and control records).
	read(ctx context.Context, topic string, from map[int32]int64) ([]*Event, map[int32]int64, error)
}

// Catch-up read limits: one read brings at most this much per partition
// and in all, so a catching-up subscriber holds at most a few MiB.
const (
	readPartitionBytes = 256 << 10
	readMaxBytes       = 1 << 20
)

// decompressor is shared by every catch-up read; it is safe for concurrent use.
var decompressor = kgo.DefaultDecompressor()

// kafkaHistory reads with raw requests through one shared client, so that
// resuming subscribers add no connections: ListOffsets is routed by the
// client, Fetch is sent to each partition's leader.
type kafkaHistory struct {
	cl *kgo.Client
}

func (k *kafkaHistory) offsets(ctx context.Context, topic string, ts int64) (Cursor, error) {
	meta, err := k.metadata(ctx, topic, false)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range meta.leaders {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, k.cl)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	c := make(Cursor, len(meta.leaders))
	got := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, p.Partition, err)
			}
			if int(p.Partition) < len(c) {
				c[p.Partition] = p.Offset
				got++
			}
		}
	}
	if got != len(c) {
		return nil, fmt.Errorf("list offsets of %s: %d of %d partitions answered", topic, got, len(c))
	}
	return c, nil
}

func (k *kafkaHistory) read(ctx context.Context, topic string, from map[int32]int64) ([]*Event, map[int32]int64, error) {
	meta, err := k.metadata(ctx, topic, false)
	if err != nil {
		return nil, nil, err
	}
	byLeader := make(map[int32][]int32)
	for p := range from {
		if int(p) >= len(meta.leaders) {
			return nil, nil, fmt.Errorf("read %s/%d: no such partition", topic, p)
		}
		l := meta.leaders[p]
		byLeader[l] = append(byLeader[l], p)
	}
	var (
		evs   []*Event
		next  = make(map[int32]int64, len(from))
		stale bool
		errs  []error
	)
	for leader, parts := range byLeader {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 100 // the records exist; do not park
		req.MinBytes = 1
		req.MaxBytes = readMaxBytes
		req.SessionEpoch = -1 // no fetch session
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, meta.id
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.FetchOffset = from[p]
			rp.PartitionMaxBytes = readPartitionBytes
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, k.cl.Broker(int(leader)))
		if err != nil {
			errs = append(errs, fmt.Errorf("fetch %s from broker %d: %w", topic, leader, err))
			continue
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("fetch %s from broker %d: %w", topic, leader, err))
			continue
		}
		for _, t := range resp.Topics {
			for i := range t.Partitions {
				rp := &t.Partitions[i]
				off, asked := from[rp.Partition]
				if !asked {
					continue
				}
				fp, nextOff := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
					Offset: off, Topic: topic, Partition: rp.Partition,
				}, rp, decompressor, nil)
				switch {
				case errors.Is(fp.Err, kerr.OffsetOutOfRange):
					// Retention removed the records (or the topic was
					// recreated): resume at the earliest offset still held.
					if start, err := k.offsets(ctx, topic, -2); err == nil && int(rp.Partition) < len(start) && start[rp.Partition] > off {
						next[rp.Partition] = start[rp.Partition]
					}
					continue
				case fp.Err != nil:
					var ke *kerr.Error
					if errors.As(fp.Err, &ke) && ke.Retriable {
						stale = true
					}
					errs = append(errs, fmt.Errorf("fetch %s/%d: %w", topic, rp.Partition, fp.Err))
					continue
				}
				evs = append(evs, toEvents(fp.Records)...)
				if nextOff > off {
					next[rp.Partition] = nextOff
				}
			}
		}
	}
	if stale {
		_, _ = k.metadata(ctx, topic, true)
	}
	if len(evs) == 0 && len(next) == 0 && len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return evs, next, nil
}

// topicMeta is what reads need to know about a topic.
type topicMeta struct {
	id      [16]byte
	leaders []int32 // by partition
}

// metadata returns the topic's id and partition leaders, from the client's
// cache unless refresh is set.
func (k *kafkaHistory) metadata(ctx context.Context, topic string, refresh bool) (topicMeta, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	limit := time.Duration(0) // the client's MetadataMinAge
	if refresh {
		limit = time.Nanosecond
	}
	resp, err := k.cl.RequestCachedMetadata(ctx, req, limit)
	if err != nil {
		return topicMeta{}, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return topicMeta{}, fmt.Errorf("metadata of %s: %w", topic, err)
		}
		m := topicMeta{id: t.TopicID, leaders: make([]int32, len(t.Partitions))}
		for _, p := range t.Partitions {
			if int(p.Partition) >= len(m.leaders) {
				return topicMeta{}, fmt.Errorf("metadata of %s: partition %d of %d", topic, p.Partition, len(t.Partitions))
			}
			m.leaders[p.Partition] = p.Leader
		}
		if len(m.leaders) == 0 {
			return topicMeta{}, fmt.Errorf("metadata of %s: %w", topic, kerr.UnknownTopicOrPartition)
		}
		return m, nil
	}
	return topicMeta{}, fmt.Errorf("metadata of %s: %w", topic, kerr.UnknownTopicOrPartition)
}
