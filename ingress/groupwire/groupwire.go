// Package groupwire holds the wire format of the HTTP consumer group
// endpoints (/v1/groups): the request bodies and how they are read, the
// poll's answer, the lag of groups on the topics API, and the problems
// the group package's errors become. It takes and returns plain data;
// ingress's handlers do the HTTP.
//
// It may import ingress/problem, consumers, consumers/group and topics;
// never Fiber, fasthttp or ingress.
package groupwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/consumers/group"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// PollBody is the body of a poll; every field is optional.
type PollBody struct {
	MaxRecords int      `json:"max_records"`
	MaxWait    Duration `json:"max_wait"`
	AutoCommit *bool    `json:"auto_commit"`
}

// CommitBody is the body of POST /v1/groups/{group}/commit.
type CommitBody struct {
	Offsets []group.Offset `json:"offsets"`
}

// Duration is a Go duration string ("5s", "250ms") or a number of
// milliseconds.
type Duration time.Duration

// UnmarshalJSON reads either form.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. \"5s\", \"250ms\")", s)
		}
		*d = Duration(v)
		return nil
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("%s is neither a duration string nor whole milliseconds", b)
	}
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return nil
}

// Decode reads body, sent with contentType, into v: JSON, no unknown
// fields. An empty body leaves v as it is, unless required. Errors are
// *problem.Error.
func Decode(body []byte, contentType string, v any, required bool) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		if required {
			return problem.New(problem.BadRequest, "the body is required: "+`{"offsets":[{"topic":"…","partition":0,"offset":42}]}`)
		}
		return nil
	}
	if contentType != "" && !isJSON(contentType) {
		return problem.New(problem.UnsupportedMedia, "the body must be application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &problem.Error{Type: problem.BadRequest, Detail: "the body is not a valid request: " + err.Error(), Cause: err}
	}
	return nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// AppendPoll appends a poll's answer: the member, the partitions it
// holds, records (the records' JSON, comma-separated, as
// consumers.Record.AppendJSON writes them), the commit body for what they
// were, and what the poll committed first.
func AppendPoll(dst []byte, topic string, p group.Polled, records []byte) []byte {
	dst = append(dst, `{"member_id":`...)
	dst = strconv.AppendQuote(dst, p.Member)
	dst = append(dst, `,"members":`...)
	dst = strconv.AppendInt(dst, int64(p.Members), 10)
	dst = append(dst, `,"partitions":[`...)
	for i, n := range p.Partitions {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	dst = append(dst, `],"records":[`...)
	dst = append(dst, records...)
	dst = append(dst, `],"commit":`...)
	dst = appendCommit(dst, topic, p.Next)
	if p.Committed != nil {
		dst = append(dst, `,"committed":`...)
		dst = appendCommit(dst, topic, p.Committed)
	}
	return append(dst, '}')
}

// appendCommit appends {"offsets":[{"topic":…,"partition":…,"offset":…}]}:
// the body of a commit of offs.
func appendCommit(dst []byte, topic string, offs []consumers.PartitionOffset) []byte {
	dst = append(dst, `{"offsets":[`...)
	for i, o := range offs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"topic":`...)
		dst = strconv.AppendQuote(dst, topic)
		dst = append(dst, `,"partition":`...)
		dst = strconv.AppendInt(dst, int64(o.Partition), 10)
		dst = append(dst, `,"offset":`...)
		dst = strconv.AppendInt(dst, o.Offset, 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// Lag is one group's lag on a topic, in GET /v1/topics/{topic}.
type Lag struct {
	Group      string         `json:"group"`
	Lag        int64          `json:"lag"`
	Partitions []PartitionLag `json:"partitions"`
}

// PartitionLag is a group's committed offset and lag on one partition.
type PartitionLag struct {
	Partition int32 `json:"partition"`
	// Committed is null where the group committed nothing.
	Committed *int64 `json:"committed"`
	End       int64  `json:"end_offset"`
	Lag       int64  `json:"lag"`
}

// Lags renders the lags the group package reports.
func Lags(lags []topics.GroupLag) []Lag {
	out := make([]Lag, 0, len(lags))
	for _, gl := range lags {
		g := Lag{Group: gl.Group, Lag: gl.Lag, Partitions: make([]PartitionLag, 0, len(gl.Partitions))}
		for _, pl := range gl.Partitions {
			pj := PartitionLag{Partition: pl.Partition, End: pl.End, Lag: pl.Lag}
			if pl.Committed >= 0 {
				pj.Committed = &pl.Committed
			}
			g.Partitions = append(g.Partitions, pj)
		}
		out = append(out, g)
	}
	return out
}

// Problem maps the errors of the group package (and a commit the group
// coordinator refused) to the problem the client sees.
func Problem(err error) (*problem.Error, bool) {
	switch {
	case errors.Is(err, group.ErrNotAllowed):
		return &problem.Error{Type: problem.GroupNotAllowed, Detail: err.Error(), Cause: err}, true
	case errors.Is(err, group.ErrBadRequest):
		return &problem.Error{Type: problem.BadRequest, Detail: err.Error(), Cause: err}, true
	case errors.Is(err, group.ErrNotHeld):
		return &problem.Error{Type: problem.PartitionNotHeld, Detail: err.Error() + "; poll again, and process what it answers", Cause: err}, true
	case errors.Is(err, group.ErrUnavailable):
		return &problem.Error{Type: problem.RedisUnavailable, Detail: "group membership cannot be kept right now (redis is unavailable); retry later", RetryAfter: 1, Cause: err}, true
	case errors.Is(err, topics.ErrGroupOffsets):
		return &problem.Error{Type: problem.GroupOffsetsRefused, Detail: err.Error(), Cause: err}, true
	}
	return nil, false
}

// ReadProblem is err, or, when Kafka could not be asked, the problem that
// says so for a poll or a commit (the general one speaks of records not
// stored).
func ReadProblem(err error) error {
	if errors.Is(err, topics.ErrUnavailable) {
		return &problem.Error{Type: problem.KafkaUnavailable, Detail: "kafka cannot be read or its group offsets written right now; retry later", RetryAfter: 1, Cause: err}
	}
	return err
}
