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
	var configs map[string]*string
	if spec.Retention > 0 {
		ms := strconv.FormatInt(spec.Retention.Milliseconds(), 10)
		configs = map[string]*string{"retention.ms": &ms}
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
