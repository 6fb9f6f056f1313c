package consumers

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PositionKind says how a Position names a place in a topic.
type PositionKind uint8

// Position kinds.
const (
	// PositionEarliest is the log start of each partition.
	PositionEarliest PositionKind = iota + 1
	// PositionLatest is the high watermark of each partition when the
	// replay starts.
	PositionLatest
	// PositionOffsets lists an offset per partition ("0:120,1:7").
	PositionOffsets
	// PositionTime is the first record at or after an instant (RFC 3339).
	PositionTime
	// PositionAgo is the first record at or after a duration before now
	// ("-15m").
	PositionAgo
)

// Position is one end of a replay range. Build it with ParsePosition; the
// zero Position is invalid.
type Position struct {
	Kind PositionKind
	// Offsets are sorted by partition, one per partition (PositionOffsets).
	Offsets []PartitionOffset
	// Time is the instant of PositionTime.
	Time time.Time
	// Ago is the positive duration of PositionAgo.
	Ago time.Duration
}

// PartitionOffset is an offset in one partition.
type PartitionOffset struct {
	Partition int32
	Offset    int64
}

// maxPositionOffsets bounds the partitions one position may list.
const maxPositionOffsets = 1 << 16

// ParsePosition parses a replay position: "earliest", "latest", a list of
// PARTITION:OFFSET pairs ("0:120,1:7"), an RFC 3339 time
// ("2026-01-02T15:04:05Z"; a space where the "+" of an offset was is
// accepted, as unescaped query strings turn "+" into a space), or a Go
// duration before now ("-15m", "-1h30m"). Errors wrap ErrBadPosition.
func ParsePosition(s string) (Position, error) {
	switch strings.ToLower(s) {
	case "":
		return Position{}, fmt.Errorf("empty position: %w", ErrBadPosition)
	case "earliest":
		return Position{Kind: PositionEarliest}, nil
	case "latest":
		return Position{Kind: PositionLatest}, nil
	}
	if s[0] == '-' {
		d, err := time.ParseDuration(s[1:])
		if err != nil || d <= 0 || strings.HasPrefix(s[1:], "-") || strings.HasPrefix(s[1:], "+") {
			return Position{}, fmt.Errorf("%q is not a duration before now (use e.g. -15m, -2h): %w", s, ErrBadPosition)
		}
		return Position{Kind: PositionAgo, Ago: d}, nil
	}
	if isOffsetList(s) {
		return parseOffsets(s)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1))
	if err != nil {
		return Position{}, fmt.Errorf("%q is not earliest, latest, PARTITION:OFFSET[,...], an RFC 3339 time or -DURATION: %w", s, ErrBadPosition)
	}
	if t.Year() < 1970 || t.Year() > 9999 {
		return Position{}, fmt.Errorf("%q is out of range: %w", s, ErrBadPosition)
	}
	return Position{Kind: PositionTime, Time: t.UTC()}, nil
}

// isOffsetList reports whether s has the shape of digits:digits[,...].
func isOffsetList(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != ':' && c != ',' {
			return false
		}
	}
	return strings.Contains(s, ":")
}

func parseOffsets(s string) (Position, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxPositionOffsets {
		return Position{}, fmt.Errorf("more than %d partitions: %w", maxPositionOffsets, ErrBadPosition)
	}
	p := Position{Kind: PositionOffsets, Offsets: make([]PartitionOffset, 0, len(parts))}
	for _, part := range parts {
		ps, os, ok := strings.Cut(part, ":")
		if !ok {
			return Position{}, fmt.Errorf("%q is not PARTITION:OFFSET: %w", part, ErrBadPosition)
		}
		partition, err := parseNumber(ps, math.MaxInt32)
		if err != nil {
			return Position{}, fmt.Errorf("partition %q: %v: %w", ps, err, ErrBadPosition)
		}
		offset, err := parseNumber(os, math.MaxInt64)
		if err != nil {
			return Position{}, fmt.Errorf("offset %q: %v: %w", os, err, ErrBadPosition)
		}
		p.Offsets = append(p.Offsets, PartitionOffset{Partition: int32(partition), Offset: offset})
	}
	slices.SortFunc(p.Offsets, func(a, b PartitionOffset) int { return cmp.Compare(a.Partition, b.Partition) })
	for i := 1; i < len(p.Offsets); i++ {
		if p.Offsets[i].Partition == p.Offsets[i-1].Partition {
			return Position{}, fmt.Errorf("partition %d appears twice: %w", p.Offsets[i].Partition, ErrBadPosition)
		}
	}
	return p, nil
}

// parseNumber parses a non-negative decimal number up to limit, without
// signs or leading zeros beyond "0".
func parseNumber(s string, limit int64) (int64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("leading zero")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > limit {
		return 0, fmt.Errorf("must be a number from 0 to %d", limit)
	}
	return n, nil
}

// String formats p so that ParsePosition(p.String()) returns p again.
func (p Position) String() string {
	switch p.Kind {
	case PositionEarliest:
		return "earliest"
	case PositionLatest:
		return "latest"
	case PositionOffsets:
		return string(AppendOffsets(nil, p.Offsets))
	case PositionTime:
		return p.Time.UTC().Format(time.RFC3339Nano)
	case PositionAgo:
		return "-" + p.Ago.String()
	}
	return "invalid"
}

// AppendOffsets appends offsets as "0:120,1:7", the form ParsePosition
// reads and replay's SSE event ids carry.
func AppendOffsets(dst []byte, offsets []PartitionOffset) []byte {
	for i, o := range offsets {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(o.Partition), 10)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, o.Offset, 10)
	}
	return dst
}

// Offset returns the offset p lists for partition, if any.
func (p Position) Offset(partition int32) (int64, bool) {
	i, ok := slices.BinarySearchFunc(p.Offsets, partition, func(o PartitionOffset, p int32) int { return cmp.Compare(o.Partition, p) })
	if !ok {
		return 0, false
	}
	return p.Offsets[i].Offset, true
}

// instant returns the time a PositionTime or PositionAgo names.
func (p Position) instant(now time.Time) time.Time {
	if p.Kind == PositionAgo {
		return now.Add(-p.Ago)
	}
	return p.Time
}

// Range is what a replay reads: from From (inclusive) to To (exclusive).
type Range struct {
	From, To Position
}

// ParseRange parses the from and to of a replay. An empty from means
// earliest and an empty to means latest (the high watermarks when the
// replay starts). It refuses ranges that are inverted on their face: a from
// time after the to time, or a from offset after the to offset of the same
// partition, or a to of earliest after any other from: those wrap
// ErrInvalidRange; malformed positions wrap ErrBadPosition.
func ParseRange(from, to string) (Range, error) {
	r := Range{From: Position{Kind: PositionEarliest}, To: Position{Kind: PositionLatest}}
	var err error
	if from != "" {
		if r.From, err = ParsePosition(from); err != nil {
			return Range{}, fmt.Errorf("from: %w", err)
		}
	}
	if to != "" {
		if r.To, err = ParsePosition(to); err != nil {
			return Range{}, fmt.Errorf("to: %w", err)
		}
	}
	return r, r.check()
}

// check refuses a range whose from is after its to, where both are known
// without asking the broker.
func (r Range) check() error {
	f, t := r.From, r.To
	switch {
	case f.Kind == PositionTime && t.Kind == PositionTime && f.Time.After(t.Time),
		f.Kind == PositionAgo && t.Kind == PositionAgo && f.Ago < t.Ago,
		t.Kind == PositionEarliest && f.Kind != PositionEarliest,
		f.Kind == PositionLatest && (t.Kind == PositionAgo || t.Kind == PositionOffsets):
		return fmt.Errorf("from %s is after to %s: %w", f, t, ErrInvalidRange)
	case f.Kind == PositionOffsets && t.Kind == PositionOffsets:
		for _, o := range f.Offsets {
			if end, ok := t.Offset(o.Partition); ok && end < o.Offset {
				return fmt.Errorf("partition %d: from offset %d is after to offset %d: %w", o.Partition, o.Offset, end, ErrInvalidRange)
			}
		}
	}
	return nil
}
