package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin checks and creates topics. It is safe for concurrent use and does
// not own the client it is built on.
type Admin struct {
	cl  *kgo.Client
	adm *kadm.Client
}

// NewAdmin returns an Admin using cl.
func NewAdmin(cl *kgo.Client) *Admin { return &Admin{cl: cl, adm: kadm.NewClient(cl)} }

// TopicSpec says how to create a topic.
type TopicSpec struct {
	Partitions        int32
	ReplicationFactor int16
	// Retention sets retention.ms; zero leaves the broker's default.
	Retention time.Duration
	// Compact sets cleanup.policy=compact: Kafka keeps the latest record
	// of each key (the topics the GET routes read).
	Compact bool
}

// Missing returns the topics of names that do not exist, sorted. It asks
// the cluster each time (kadm's metadata is cached for seconds, which would
// hide a topic created a moment ago) and fails when the cluster cannot be
// asked.
func (a *Admin) Missing(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	req := kmsg.NewPtrMetadataRequest()
	for _, n := range names {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if len(resp.Brokers) == 0 {
		return nil, errors.New("metadata: no brokers")
	}
	found := make(map[string]bool, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic != nil && t.ErrorCode == 0 && len(t.Partitions) > 0 {
			found[*t.Topic] = true
		}
	}
	var missing []string
	for _, n := range names {
		if !found[n] {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	return missing, nil
}

// Ensure creates the topics of names that do not exist yet and returns the
// ones it created. A topic created concurrently by someone else is fine.
func (a *Admin) Ensure(ctx context.Context, names []string, spec TopicSpec) ([]string, error) {
	missing, err := a.Missing(ctx, names)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	configs := make(map[string]*string)
	if spec.Retention > 0 {
		ms := strconv.FormatInt(spec.Retention.Milliseconds(), 10)
		configs["retention.ms"] = &ms
	}
	if spec.Compact {
		compact := "compact"
		configs["cleanup.policy"] = &compact
	}
	resp, err := a.adm.CreateTopics(ctx, spec.Partitions, spec.ReplicationFactor, configs, missing...)
	if err != nil {
		return nil, fmt.Errorf("create topics %v: %w", missing, err)
	}
	var created []string
	var errs []error
	for _, r := range resp.Sorted() {
		switch {
		case r.Err == nil:
			created = append(created, r.Topic)
		case errors.Is(r.Err, kerr.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("create topic %s: %w", r.Topic, r.Err))
		}
	}
	return created, errors.Join(errs...)
}

// TopicInfo describes a topic: its partitions with their offsets.
type TopicInfo struct {
	Topic string
	// Internal is true for Kafka-internal topics (__consumer_offsets, ...).
	Internal bool
	// Partitions are sorted by partition number.
	Partitions []PartitionInfo
}

// PartitionInfo describes one partition.
type PartitionInfo struct {
	Partition int32
	// Start is the log start offset (the oldest record kept) and End the
	// high watermark (one past the newest record); End-Start records are
	// readable.
	Start, End int64
	// Leader is the leader broker's id, or -1 without a leader.
	Leader int32
	// Replicas and ISR are broker ids.
	Replicas, ISR []int32
}

// Records is the number of records the topic keeps (the sum of its
// partitions' End-Start).
func (t TopicInfo) Records() int64 {
	var n int64
	for _, p := range t.Partitions {
		n += p.End - p.Start
	}
	return n
}

// TopicNames returns the names of the cluster's topics, Kafka-internal
// topics excepted, sorted.
func (a *Admin) TopicNames(ctx context.Context) ([]string, error) {
	tds, err := a.adm.ListTopics(ctx)
	if err != nil {
		return nil, adminErr("list topics", err)
	}
	var names []string
	for _, td := range tds.Sorted() {
		if td.Err == nil && !td.IsInternal {
			names = append(names, td.Topic)
		}
	}
	return names, nil
}

// Describe returns the partitions, leaders and start and end offsets of
// each named topic, in the order given. A topic that does not exist fails
// the call with an error wrapping an *UnknownTopicError (and so
// ErrUnknownTopic), for the first one missing; a cluster that cannot be
// asked, with ErrUnavailable.
func (a *Admin) Describe(ctx context.Context, names ...string) ([]TopicInfo, error) {
	if len(names) == 0 {
		return nil, nil
	}
	tds, err := a.adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return nil, adminErr("describe topics", err)
	}
	out := make([]TopicInfo, 0, len(names))
	for _, n := range names {
		td, ok := tds[n]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			return nil, fmt.Errorf("describe topic %w", &UnknownTopicError{Topic: n})
		case td.Err != nil:
			return nil, adminErr("describe topic "+n, td.Err)
		}
		ti := TopicInfo{Topic: n, Internal: td.IsInternal}
		for _, pd := range td.Partitions.Sorted() {
			ti.Partitions = append(ti.Partitions, PartitionInfo{
				Partition: pd.Partition, Leader: pd.Leader,
				Replicas: slices.Clone(pd.Replicas), ISR: slices.Clone(pd.ISR),
			})
		}
		out = append(out, ti)
	}
	starts, err := a.adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, adminErr("list start offsets", err)
	}
	ends, err := a.adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, adminErr("list end offsets", err)
	}
	for i := range out {
		t := &out[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			s, okS := starts.Lookup(t.Topic, p.Partition)
			e, okE := ends.Lookup(t.Topic, p.Partition)
			if !okS || !okE || s.Err != nil || e.Err != nil {
				return nil, adminErr(fmt.Sprintf("list offsets %s/%d", t.Topic, p.Partition), errors.Join(s.Err, e.Err, errors.New("no offsets listed")))
			}
			p.Start, p.End = s.Offset, e.Offset
		}
	}
	return out, nil
}

// OffsetsAfter returns, for each partition of topic, the offset of the first
// record whose timestamp is at or after t, or the partition's end offset
// when there is none. It asks the broker (ListOffsets by timestamp); it
// reads no records.
func (a *Admin) OffsetsAfter(ctx context.Context, topic string, t time.Time) (map[int32]int64, error) {
	ms := max(t.UnixMilli(), 0) // negative timestamps mean latest/earliest to Kafka
	listed, err := a.adm.ListOffsetsAfterMilli(ctx, ms, topic)
	if err != nil {
		return nil, adminErr("list offsets by time", err)
	}
	ps, ok := listed[topic]
	if !ok {
		return nil, fmt.Errorf("list offsets by time %s: %w", topic, ErrUnknownTopic)
	}
	out := make(map[int32]int64, len(ps))
	for p, lo := range ps {
		if lo.Err != nil {
			if errors.Is(lo.Err, kerr.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("list offsets by time %s: %w", topic, ErrUnknownTopic)
			}
			return nil, adminErr(fmt.Sprintf("list offsets by time %s/%d", topic, p), lo.Err)
		}
		out[p] = lo.Offset
	}
	return out, nil
}

// adminErr wraps a failed admin call: the caller's cancellation stays as it
// is, anything else means the cluster could not answer.
func adminErr(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, errors.Join(ErrUnavailable, err))
}

// GroupLag returns how many records of topic the consumer group has not
// committed: over the topic's partitions, the end offset less the group's
// committed offset, or less the start offset where the group committed
// none (or committed below it). It is the consumer lag that
// kafka-consumer-groups --describe shows.
func (a *Admin) GroupLag(ctx context.Context, group, topic string) (int64, error) {
	committed, err := a.adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, adminErr("fetch offsets of group "+group, err)
	}
	ends, err := a.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, adminErr("list end offsets", err)
	}
	starts, err := a.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, adminErr("list start offsets", err)
	}
	var lag int64
	for p, end := range ends[topic] {
		if end.Err != nil {
			return 0, adminErr(fmt.Sprintf("list end offsets %s/%d", topic, p), end.Err)
		}
		from := int64(0)
		if s, ok := starts.Lookup(topic, p); ok && s.Err == nil {
			from = s.Offset
		}
		if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At > from {
			from = c.At
		}
		lag += max(end.Offset-from, 0)
	}
	return lag, nil
}
