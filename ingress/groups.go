package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/consumers/group"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// HeaderMemberID carries a consumer group member's id: sent by ferry on
// every poll's answer, sent back by the member on its next poll, commit
// and leave.
const HeaderMemberID = "Ferry-Member-Id"

// Groups serves the HTTP consumer groups (/v1/groups). *group.Groups
// implements it; errors wrap the group, consumers and topics sentinels.
type Groups interface {
	Rule(grp, topic string) (group.Rule, error)
	Scopes(grp string, offsets []group.Offset) []string
	Poll(ctx context.Context, req group.PollRequest, each func(*consumers.Record) error) (group.Polled, error)
	Commit(ctx context.Context, grp, member string, offsets []group.Offset) error
	Leave(ctx context.Context, grp, topic, member string) error
	Lags(ctx context.Context, ti topics.TopicInfo) ([]topics.GroupLag, error)
}

// groupAccess is the access of a group endpoint: credentials always, and
// the scopes of the rules covering it (none when no rule does: the
// request is refused after authentication, so that who may not use a
// group learns nothing of it).
func groupAccess(scopes []string) access {
	return access{name: "groups", auth: true, scopes: scopes}
}

// groupAdmit authenticates the request and checks that a rule lets grp
// read topic, with its scopes.
func (s *Server) groupAdmit(c *fiber.Ctx, grp, topic string) (group.Rule, error) {
	rule, ruleErr := s.deps.Groups.Rule(grp, topic)
	if err := s.admit(c, groupAccess(rule.Scopes)); err != nil {
		return group.Rule{}, err
	}
	return rule, ruleErr
}

// pollBody is the body of a poll; every field is optional.
type pollBody struct {
	MaxRecords int          `json:"max_records"`
	MaxWait    jsonDuration `json:"max_wait"`
	AutoCommit *bool        `json:"auto_commit"`
}

// jsonDuration is a Go duration string ("5s", "250ms") or a number of
// milliseconds.
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. \"5s\", \"250ms\")", s)
		}
		*d = jsonDuration(v)
		return nil
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("%s is neither a duration string nor whole milliseconds", b)
	}
	*d = jsonDuration(time.Duration(ms) * time.Millisecond)
	return nil
}

// decodeGroupBody reads an optional JSON body into v.
func decodeGroupBody(c *fiber.Ctx, v any, required bool) error {
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 {
		if required {
			return problem.New(problem.BadRequest, "the body is required: "+`{"offsets":[{"topic":"…","partition":0,"offset":42}]}`)
		}
		return nil
	}
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !isJSONMediaType(ct) {
		return problem.New(problem.UnsupportedMedia, "the body must be application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &problem.Error{Type: problem.BadRequest, Detail: "the body is not a valid request: " + err.Error(), Cause: err}
	}
	return nil
}

func isJSONMediaType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == fiber.MIMEApplicationJSON || strings.HasSuffix(mt, "+json")
}

// groupPoll serves POST /v1/groups/{group}/topics/{topic}/poll: the
// member's next records, from any instance.
func (s *Server) groupPoll(c *fiber.Ctx) error {
	grp, topic := strings.Clone(c.Params("group")), strings.Clone(c.Params("topic"))
	if _, err := s.groupAdmit(c, grp, topic); err != nil {
		return err
	}
	var body pollBody
	if err := decodeGroupBody(c, &body, false); err != nil {
		return err
	}
	req := group.PollRequest{Group: grp, Topic: topic, Member: strings.Clone(c.Get(HeaderMemberID)),
		MaxRecords: body.MaxRecords, MaxWait: time.Duration(body.MaxWait), AutoCommit: body.AutoCommit}
	ctx, cancel := context.WithCancel(c.UserContext())
	defer cancel()
	defer s.hangups.Watch(c.Context().Conn(), hangupPoll, cancel).Stop() // a client that leaves ends it
	recs := make([]byte, 0, 4096)
	polled, err := s.deps.Groups.Poll(ctx, req, func(rec *consumers.Record) error {
		if len(recs) > 0 {
			recs = append(recs, ',')
		}
		recs = rec.AppendJSON(recs)
		return nil
	})
	if err != nil {
		return readProblem(err)
	}
	out := make([]byte, 0, len(recs)+256)
	out = append(out, `{"member_id":`...)
	out = strconv.AppendQuote(out, polled.Member)
	out = append(out, `,"members":`...)
	out = strconv.AppendInt(out, int64(polled.Members), 10)
	out = append(out, `,"partitions":`...)
	out = appendInt32s(out, polled.Partitions)
	out = append(out, `,"records":[`...)
	out = append(out, recs...)
	out = append(out, `],"commit":`...)
	out = appendCommit(out, topic, polled.Next)
	if polled.Committed != nil {
		out = append(out, `,"committed":`...)
		out = appendCommit(out, topic, polled.Committed)
	}
	out = append(out, '}')
	c.Set(HeaderMemberID, polled.Member)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(out)
}

func appendInt32s(dst []byte, ns []int32) []byte {
	dst = append(dst, '[')
	for i, n := range ns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	return append(dst, ']')
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

// commitBody is the body of POST /v1/groups/{group}/commit.
type commitBody struct {
	Offsets []group.Offset `json:"offsets"`
}

// groupCommit serves POST /v1/groups/{group}/commit: Kafka group offsets,
// for partitions the member holds.
func (s *Server) groupCommit(c *fiber.Ctx) error {
	grp := strings.Clone(c.Params("group"))
	var body commitBody
	// The body names the topics, and with them the scopes: read it after
	// the credentials are checked, and before the scopes are.
	if err := s.admit(c, groupAccess(nil)); err != nil {
		return err
	}
	if err := decodeGroupBody(c, &body, true); err != nil {
		return err
	}
	if err := s.authorize(c, info(c), groupAccess(s.deps.Groups.Scopes(grp, body.Offsets)), info(c).principal); err != nil {
		return err
	}
	member := strings.Clone(c.Get(HeaderMemberID))
	if member == "" {
		return problem.New(problem.BadRequest, "the "+HeaderMemberID+" header is required: the id a poll answered with")
	}
	if err := s.deps.Groups.Commit(c.UserContext(), grp, member, body.Offsets); err != nil {
		return readProblem(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"committed": body.Offsets})
}

// groupLeave serves DELETE /v1/groups/{group}/topics/{topic}/members/{member}:
// the member leaves at once, and its partitions go to the others.
func (s *Server) groupLeave(c *fiber.Ctx) error {
	grp, topic := strings.Clone(c.Params("group")), strings.Clone(c.Params("topic"))
	if _, err := s.groupAdmit(c, grp, topic); err != nil {
		return err
	}
	if err := s.deps.Groups.Leave(c.UserContext(), grp, topic, strings.Clone(c.Params("member"))); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// readProblem says what failed when Kafka could not be asked on the read
// side (the general answer speaks of records not stored).
func readProblem(err error) error {
	if errors.Is(err, topics.ErrUnavailable) {
		return &problem.Error{Type: problem.KafkaUnavailable, Detail: "kafka cannot be read or its group offsets written right now; retry later", RetryAfter: 1, Cause: err}
	}
	return err
}

// groupProblem maps the group package's errors.
func groupProblem(err error) (*problem.Error, bool) {
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

// groupLagJSON is one group's lag on a topic, in GET /v1/topics/{topic}.
type groupLagJSON struct {
	Group      string             `json:"group"`
	Lag        int64              `json:"lag"`
	Partitions []partitionLagJSON `json:"partitions"`
}

type partitionLagJSON struct {
	Partition int32 `json:"partition"`
	// Committed is null where the group committed nothing.
	Committed *int64 `json:"committed"`
	End       int64  `json:"end_offset"`
	Lag       int64  `json:"lag"`
}

func groupLagsJSON(lags []topics.GroupLag) []groupLagJSON {
	out := make([]groupLagJSON, 0, len(lags))
	for _, gl := range lags {
		g := groupLagJSON{Group: gl.Group, Lag: gl.Lag, Partitions: make([]partitionLagJSON, 0, len(gl.Partitions))}
		for _, pl := range gl.Partitions {
			pj := partitionLagJSON{Partition: pl.Partition, End: pl.End, Lag: pl.Lag}
			if pl.Committed >= 0 {
				pj.Committed = &pl.Committed
			}
			g.Partitions = append(g.Partitions, pj)
		}
		out = append(out, g)
	}
	return out
}
