package correlator

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ferry-gw/ferry/topics"
)

func TestValidID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{name: "event id", id: topics.NewEventID(), want: true},
		{name: "canonical", id: "0190c0de-0000-7000-8000-00000000abcd", want: true},
		{name: "upper case", id: "0190C0DE-0000-7000-8000-00000000ABCD", want: false},
		{name: "braces", id: "{0190c0de-0000-7000-8000-00000000abc}", want: false},
		{name: "no dashes", id: "0190c0de0000700080000000000abcd0abcd", want: false},
		{name: "short", id: "0190c0de-0000-7000-8000-00000000abc", want: false},
		{name: "empty", id: "", want: false},
		{name: "key injection", id: "0190c0de-0000-7000-8000-0000000}:x*", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ValidID(tt.id); got != tt.want {
				t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
			}
			if got := ValidID([]byte(tt.id)); got != tt.want {
				t.Errorf("ValidID([]byte(%q)) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

// FuzzCorrelationID checks the guard on correlation ids read from reply
// records and URLs.
//
// Invariants:
//   - ValidID never panics, and agrees for string and []byte;
//   - an accepted id is exactly uuid.Parse's canonical form of itself
//     (36 bytes, lower-case hex, dashes at 8-13-18-23), so it can only name
//     a key ferry itself could have written;
//   - every id from topics.NewEventID is accepted.
//
// Run: go test -run=^$ -fuzz=FuzzCorrelationID -fuzztime=30s ./correlator/
func FuzzCorrelationID(f *testing.F) {
	f.Add([]byte(topics.NewEventID()))
	f.Add([]byte("0190C0DE-0000-7000-8000-00000000ABCD"))
	f.Add([]byte("urn:uuid:0190c0de-0000-7000-8000-00000000abcd"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ok := ValidID(b)
		if ok != ValidID(string(b)) {
			t.Fatalf("ValidID(%q) differs for string and []byte", b)
		}
		if !ok {
			return
		}
		u, err := uuid.ParseBytes(b)
		if err != nil || u.String() != string(b) {
			t.Fatalf("ValidID(%q) = true, but uuid.ParseBytes = %v, %v", b, u, err)
		}
		if !ValidID(topics.NewEventID()) {
			t.Fatalf("ValidID(NewEventID()) = false")
		}
	})
}
