package consumers

import "strings"

// Filter selects the records a subscriber receives. The zero Filter
// selects every record; each condition set narrows it (AND). A Filter is
// pure and safe for concurrent use once built.
type Filter struct {
	// Key, when ByKey is set, keeps records whose key equals it; a null
	// key equals "".
	Key   string
	ByKey bool
	// Headers keeps records that carry every named header with the given
	// value.
	Headers []HeaderMatch
	// Where keeps records whose JSON value meets every condition.
	Where []Where
}

// HeaderMatch is one header condition of a Filter. A record matches when
// it carries at least one header named Name (compared case-insensitively)
// and every header of that name has exactly Value: a record cannot slip
// past a tenant match by carrying the header twice.
type HeaderMatch struct {
	Name  string
	Value string
}

// WithHeader returns f narrowed to records whose header name has value.
func (f Filter) WithHeader(name, value string) Filter {
	f.Headers = append(f.Headers[:len(f.Headers):len(f.Headers)], HeaderMatch{Name: name, Value: value})
	return f
}

// Match reports whether e passes every condition of f.
func (f *Filter) Match(e *Event) bool {
	if f.ByKey && string(e.Key) != f.Key {
		return false
	}
	for _, hm := range f.Headers {
		found := false
		for _, h := range e.Headers {
			if h.Key != hm.Name && !strings.EqualFold(h.Key, hm.Name) {
				continue
			}
			if string(h.Value) != hm.Value {
				return false
			}
			found = true
		}
		if !found {
			return false
		}
	}
	return MatchWhere(f.Where, e.Value)
}

// header returns the value of the first header named name, if any.
func header(e *Event, name string) ([]byte, bool) {
	for _, h := range e.Headers {
		if h.Key == name {
			return h.Value, true
		}
	}
	return nil, false
}
