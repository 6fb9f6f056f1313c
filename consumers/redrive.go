package consumers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// HeaderRedrivenFrom is the header redrive adds to each copy:
// "topic/partition/offset" of the record it copies. A copy of a copy names
// its immediate source only.
const HeaderRedrivenFrom = "ferry-redriven-from"

// HeaderRedrivenID is the header a copy made with NewIDs carries: the
// ce_id of the record it copies, whose own ce_id is new.
const HeaderRedrivenID = "ferry-redriven-id"

// RedriveRequest selects records like a replay and names where their copies
// go.
type RedriveRequest struct {
	// Request selects the records; Follow must be false.
	ReplayRequest
	// Target receives the copies; it must exist and be on the allowlist.
	Target string
	// DryRun counts what would be copied and copies nothing.
	DryRun bool
	// NewIDs gives each copy a new ce_id (the original in
	// HeaderRedrivenID), so that CloudEvents consumers that drop
	// duplicates by source and id process the copy; false keeps ce_id.
	NewIDs bool
}

// RedriveResult counts what a redrive did.
type RedriveResult struct {
	Topic  string
	Target string
	DryRun bool
	// Ranges are the offsets read per partition.
	Ranges []PartitionRange
	// Scanned records were read, Matched were selected, Produced were
	// acknowledged by the broker on Target (0 on a dry run).
	Scanned, Matched, Produced int64
}

// Redrive copies the records req selects to req.Target: key, value and
// headers, plus HeaderRedrivenFrom; the copies get new timestamps and are
// partitioned by key on the target. It returns once every copy is
// acknowledged. It holds a replay slot while it runs. The target is
// checked against the allowlist and described together with the source,
// each once. On error the result still counts what was done. Errors are
// those of Open, for the target too (ErrTopicNotAllowed,
// topics.ErrUnknownTopic), plus topics.ErrUnavailable, ErrTimeout or
// ErrRejected when producing fails.
func (r *Replayer) Redrive(ctx context.Context, req RedriveRequest) (RedriveResult, error) {
	res := RedriveResult{Topic: req.Topic, Target: req.Target, DryRun: req.DryRun}
	if req.Follow {
		return res, fmt.Errorf("redrive cannot follow a topic: %w", ErrBadPosition)
	}
	rp, err := r.start(ctx, req.ReplayRequest, req.Target)
	if err != nil {
		return res, err
	}
	defer rp.Close()
	res.Ranges = rp.Ranges()

	var (
		mu       sync.Mutex
		failed   error
		produced int64
	)
	done := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if failed == nil {
				failed = err
			}
			return
		}
		produced++
	}
	failure := func() error {
		mu.Lock()
		defer mu.Unlock()
		return failed
	}
	var readErr error
	for {
		rec, err := rp.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		res.Matched++
		if req.DryRun {
			continue
		}
		rp.cl.Produce(ctx, copyRecord(rec, req.Target, req.NewIDs), done)
		if failure() != nil {
			break
		}
	}
	if !req.DryRun {
		if err := rp.cl.Flush(ctx); err != nil && readErr == nil {
			readErr = err
		}
	}
	res.Scanned = rp.Scanned()
	mu.Lock()
	res.Produced = produced
	mu.Unlock()
	r.log.LogAttrs(ctx, slog.LevelInfo, "redrive", slog.String("topic", req.Topic), slog.String("target", req.Target),
		slog.Bool("dry_run", req.DryRun), slog.Int64("matched", res.Matched), slog.Int64("produced", res.Produced))
	switch {
	case failed != nil:
		return res, fmt.Errorf("redrive to %s: %w", req.Target, topics.Classify(failed))
	case readErr != nil:
		return res, fmt.Errorf("redrive from %s: %w", req.Topic, readErr)
	}
	return res, nil
}

// copyRecord builds the copy of rec for target. It copies every byte: rec
// is only valid until the replay's next record.
func copyRecord(rec *Record, target string, newIDs bool) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(rec.Headers)+2)
	for _, h := range rec.Headers {
		switch {
		case h.Key == HeaderRedrivenFrom, newIDs && h.Key == HeaderRedrivenID:
		case newIDs && h.Key == topics.HeaderID:
			hs = append(hs, kgo.RecordHeader{Key: topics.HeaderID, Value: []byte(topics.NewEventID())},
				kgo.RecordHeader{Key: HeaderRedrivenID, Value: bytes.Clone(h.Value)})
		default:
			hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
	}
	from := make([]byte, 0, len(rec.Topic)+24)
	from = append(from, rec.Topic...)
	from = append(from, '/')
	from = strconv.AppendInt(from, int64(rec.Partition), 10)
	from = append(from, '/')
	from = strconv.AppendInt(from, rec.Offset, 10)
	hs = append(hs, kgo.RecordHeader{Key: HeaderRedrivenFrom, Value: from})
	return &kgo.Record{Topic: target, Key: bytes.Clone(rec.Key), Value: bytes.Clone(rec.Value), Headers: hs}
}
