package consumers

import (
	"fmt"
	"strings"
	"time"
)

// Start is where a subscription begins: the live end of the topic (the
// zero value), its earliest retained record, the first record at or after
// a time, or just after a Cursor.
type Start struct {
	kind   startKind
	time   time.Time
	cursor Cursor
}

type startKind uint8

const (
	startLatest startKind = iota
	startEarliest
	startTime
	startCursor
)

// StartLatest starts with the records that arrive after subscribing.
func StartLatest() Start { return Start{} }

// StartEarliest starts with the oldest record Kafka still holds.
func StartEarliest() Start { return Start{kind: startEarliest} }

// StartAt starts with the first record of each partition whose timestamp is
// at or after t.
func StartAt(t time.Time) Start { return Start{kind: startTime, time: t} }

// StartAfter resumes at c: with the records not yet seen by whoever held it.
func StartAfter(c Cursor) Start { return Start{kind: startCursor, cursor: c} }

// String describes s for logs.
func (s Start) String() string {
	switch s.kind {
	case startEarliest:
		return "earliest"
	case startTime:
		return s.time.UTC().Format(time.RFC3339Nano)
	case startCursor:
		return "after " + s.cursor.String()
	}
	return "latest"
}

// maxAgo bounds "-duration" starts, so that the arithmetic cannot overflow.
const maxAgo = 100 * 365 * 24 * time.Hour

// ParseFrom parses a `from` value: "earliest", "latest", an RFC 3339 time
// ("2026-01-02T15:04:05Z"), or a positive Go duration after a minus sign
// meaning that long before now ("-5m", "-1h30m"). Errors wrap
// ErrBadPosition.
func ParseFrom(s string, now time.Time) (Start, error) {
	switch {
	case s == "earliest":
		return StartEarliest(), nil
	case s == "latest":
		return StartLatest(), nil
	case strings.HasPrefix(s, "-"):
		d, err := time.ParseDuration(s[1:])
		if err != nil || d <= 0 || d > maxAgo || strings.HasPrefix(s[1:], "-") || strings.HasPrefix(s[1:], "+") {
			return Start{}, fmt.Errorf("%w: %q is not a positive duration ago (use e.g. -5m)", ErrBadPosition, s)
		}
		return StartAt(now.Add(-d)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Start{}, fmt.Errorf("%w: from must be earliest, latest, an RFC 3339 time or -DURATION, not %q", ErrBadPosition, s)
	}
	return StartAt(t), nil
}
