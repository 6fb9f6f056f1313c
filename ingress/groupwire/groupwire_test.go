package groupwire

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/consumers/group"
	"github.com/ferry-gw/ferry/ingress/problem"
)

// TestDecodePollBody: max_wait as a duration or milliseconds; what is not
// a poll body is a problem naming why.
func TestDecodePollBody(t *testing.T) {
	for _, tc := range []struct {
		body, contentType string
		wait              time.Duration
		problem           problem.Type // zero: decoded
	}{
		{`{"max_wait":"1.5s","max_records":7}`, "application/json", 1500 * time.Millisecond, problem.Type{}},
		{`{"max_wait":250}`, "application/json; charset=utf-8", 250 * time.Millisecond, problem.Type{}},
		{``, "", 0, problem.Type{}},
		{`{"max_wait":"soon"}`, "application/json", 0, problem.BadRequest},
		{`{"max_wait":1.5}`, "application/json", 0, problem.BadRequest},
		{`{"max_record":5}`, "application/json", 0, problem.BadRequest},
		{`{"max_records":5}`, "text/plain", 0, problem.UnsupportedMedia},
	} {
		var b PollBody
		err := Decode([]byte(tc.body), tc.contentType, &b, false)
		var pe *problem.Error
		switch {
		case tc.problem == (problem.Type{}) && err != nil:
			t.Errorf("Decode(%s): %v", tc.body, err)
		case tc.problem != (problem.Type{}) && (!errors.As(err, &pe) || pe.Type != tc.problem):
			t.Errorf("Decode(%s) = %v, want %s", tc.body, err, tc.problem.URI)
		case err == nil && time.Duration(b.MaxWait) != tc.wait:
			t.Errorf("Decode(%s): max_wait %s, want %s", tc.body, time.Duration(b.MaxWait), tc.wait)
		}
	}
	var c CommitBody
	if err := Decode(nil, "", &c, true); err == nil {
		t.Error("an empty commit body was taken")
	}
}

// TestAppendPoll: the answer is JSON, and its commit is a commit body.
func TestAppendPoll(t *testing.T) {
	p := group.Polled{Member: `m"1`, Members: 2, Partitions: []int32{0, 2},
		Next:      []consumers.PartitionOffset{{Partition: 0, Offset: 5}, {Partition: 2, Offset: 9}},
		Committed: []consumers.PartitionOffset{{Partition: 0, Offset: 3}}}
	out := AppendPoll(nil, "orders", p, []byte(`{"offset":4},{"offset":8}`))
	var got struct {
		MemberID   string            `json:"member_id"`
		Partitions []int32           `json:"partitions"`
		Records    []json.RawMessage `json:"records"`
		Commit     CommitBody        `json:"commit"`
		Committed  CommitBody        `json:"committed"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("AppendPoll wrote %s: %v", out, err)
	}
	if got.MemberID != `m"1` || len(got.Partitions) != 2 || len(got.Records) != 2 ||
		len(got.Commit.Offsets) != 2 || got.Commit.Offsets[1] != (group.Offset{Topic: "orders", Partition: 2, Offset: 9}) ||
		len(got.Committed.Offsets) != 1 {
		t.Errorf("AppendPoll wrote %s", out)
	}
}
