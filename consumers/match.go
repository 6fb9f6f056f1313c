package consumers

import (
	"bytes"

	"github.com/ferry-gw/ferry/topics"
)

// Match selects records by key and headers. The zero Match selects every
// record. It is a plain value, safe to share between goroutines.
type Match struct {
	// Key, when HasKey, must equal the record's key exactly (a null key
	// never matches).
	Key    []byte
	HasKey bool
	// Headers must each be present on the record with exactly this value;
	// all of them (AND).
	Headers []topics.Header
	// Where are conditions on the record's JSON value; all of them (AND).
	Where []Where
}

// Matches reports whether r is selected.
func (m *Match) Matches(r *Record) bool {
	if m.HasKey && (r.Key == nil || !bytes.Equal(r.Key, m.Key)) {
		return false
	}
	for _, want := range m.Headers {
		if !hasHeader(r.Headers, want) {
			return false
		}
	}
	return MatchWhere(m.Where, r.Value)
}

func hasHeader(hs []topics.Header, want topics.Header) bool {
	for _, h := range hs {
		if h.Key == want.Key && bytes.Equal(h.Value, want.Value) {
			return true
		}
	}
	return false
}
