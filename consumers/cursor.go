package consumers

import (
	"fmt"
	"strconv"
	"strings"
)

// Cursor is a position in a topic: for each partition, in partition order,
// the offset of the next record a subscriber has not seen. Because it names
// every partition, resuming from a Cursor loses nothing from any partition
// and repeats nothing.
//
// Its text form is compact and opaque to clients: the offsets in base 36,
// separated by dots ("0.1b.z" is partition 0 at offset 0, 1 at 47, 2 at
// 35). A partition missing from the end of a cursor (the topic grew) is
// read from its start.
type Cursor []int64

// MaxCursorPartitions is the most partitions a parsed cursor may name.
const MaxCursorPartitions = 10000

// Append appends the text form of c to dst.
func (c Cursor) Append(dst []byte) []byte {
	for i, o := range c {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = strconv.AppendInt(dst, o, 36)
	}
	return dst
}

// textLen is the length of c's text form.
func (c Cursor) textLen() int {
	n := max(len(c)-1, 0)
	for _, o := range c {
		n++
		for o >= 36 {
			o /= 36
			n++
		}
	}
	return n
}

// String returns the text form of c.
func (c Cursor) String() string {
	var buf [64]byte
	return string(c.Append(buf[:0]))
}

// Clone returns a copy of c.
func (c Cursor) Clone() Cursor { return append(Cursor(nil), c...) }

// Equal reports whether c and d name the same offsets.
func (c Cursor) Equal(d Cursor) bool {
	if len(c) != len(d) {
		return false
	}
	for i := range c {
		if c[i] != d[i] {
			return false
		}
	}
	return true
}

// ParseCursor parses the text form of a Cursor. It accepts exactly what
// Append writes: non-negative base-36 offsets in lower case without
// leading zeros, separated by single dots, at most MaxCursorPartitions of
// them. Errors wrap ErrBadPosition.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty cursor", ErrBadPosition)
	}
	n := strings.Count(s, ".") + 1
	if n > MaxCursorPartitions {
		return nil, fmt.Errorf("%w: cursor names more than %d partitions", ErrBadPosition, MaxCursorPartitions)
	}
	c := make(Cursor, 0, n)
	for f := range strings.SplitSeq(s, ".") {
		if !validBase36(f) {
			return nil, fmt.Errorf("%w: malformed cursor", ErrBadPosition)
		}
		o, err := strconv.ParseInt(f, 36, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: malformed cursor", ErrBadPosition)
		}
		c = append(c, o)
	}
	return c, nil
}

// validBase36 accepts 1-13 lower-case base-36 digits without a leading
// zero (13 digits hold any int64).
func validBase36(f string) bool {
	if f == "" || len(f) > 13 || (len(f) > 1 && f[0] == '0') {
		return false
	}
	for i := 0; i < len(f); i++ {
		if b := f[i]; (b < '0' || b > '9') && (b < 'a' || b > 'z') {
			return false
		}
	}
	return true
}
