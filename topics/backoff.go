package topics

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Pauser is the part of a *kgo.Client that PollBackoff drives.
type Pauser interface {
	PauseFetchPartitions(map[string][]int32) map[string][]int32
	ResumeFetchPartitions(map[string][]int32)
}

// PollBackoff takes failing partitions out of a consumer loop's polls for
// a while. franz-go hands some fetch errors back at once and again on the
// next poll (a topic deleted and recreated under the client answers
// UNKNOWN_TOPIC_ID for good), so a loop that only logged them would spin a
// core, flood its log and refresh metadata without end. PollBackoff
// pauses the partitions that failed and resumes them after a wait that
// doubles while they keep failing, from Min up to Max; the healthy
// partitions are polled as before. A PollBackoff belongs to one loop:
//
//	for {
//		pctx, cancel := backoff.Context(ctx)
//		fs := cl.PollRecords(pctx, n)
//		cancel()
//		... log fs's errors, handle its records ...
//		backoff.After(cl, fs)
//	}
type PollBackoff struct {
	// Min and Max bound the wait; zero means 100 ms and 5 s.
	Min, Max time.Duration

	wait     time.Duration
	paused   map[string][]int32
	resumeAt time.Time
	failedAt time.Time // of the last poll with a failure
}

// Context returns the context for the next poll: ctx, with a deadline at
// which paused partitions are due to resume, so that a poll of idle
// partitions does not keep them paused.
func (b *PollBackoff) Context(ctx context.Context) (context.Context, context.CancelFunc) {
	if len(b.paused) == 0 {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, b.resumeAt)
}

// After is called after each poll. It resumes the paused partitions once
// their wait is over, then pauses those that failed in fs (errors of a
// partition other than the end of a context): for twice the last wait, at
// most Max, or Min once no poll has failed for twice the last wait. It
// returns the partitions it paused.
func (b *PollBackoff) After(cl Pauser, fs kgo.Fetches) map[string][]int32 {
	if len(b.paused) > 0 && !time.Now().Before(b.resumeAt) {
		cl.ResumeFetchPartitions(b.paused)
		b.paused = nil
	}
	failing := failures(fs)
	now := time.Now()
	if len(failing) == 0 {
		if len(b.paused) == 0 && now.Sub(b.failedAt) > 2*b.wait {
			b.wait = 0
		}
		return nil
	}
	b.failedAt = now
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 5 * time.Second
	}
	b.wait = min(max(2*b.wait, lo), hi)
	cl.PauseFetchPartitions(failing)
	if b.paused == nil {
		b.paused = make(map[string][]int32)
	}
	for t, ps := range failing {
		b.paused[t] = append(b.paused[t], ps...)
	}
	b.resumeAt = now.Add(b.wait)
	return failing
}

// failures returns the partitions of fs that failed with an error other
// than the end of the poll's context.
func failures(fs kgo.Fetches) map[string][]int32 {
	var out map[string][]int32
	for _, fe := range fs.Errors() {
		// Errors without a partition (a failed group join, with topic
		// "") are the client's own, which it already backs off.
		if fe.Topic == "" || errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
			continue
		}
		if out == nil {
			out = make(map[string][]int32)
		}
		out[fe.Topic] = append(out[fe.Topic], fe.Partition)
	}
	return out
}

// RecreatedTopics returns the topics of fs whose fetches failed with
// UNKNOWN_TOPIC_ID: deleted and recreated under the client, which keeps
// their old IDs until they are purged from it and consumed again.
func RecreatedTopics(fs kgo.Fetches) []string {
	var out []string
	for _, fe := range fs.Errors() {
		if errors.Is(fe.Err, kerr.UnknownTopicID) && !slices.Contains(out, fe.Topic) {
			out = append(out, fe.Topic)
		}
	}
	return out
}
