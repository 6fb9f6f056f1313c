package ingress

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/consumers/group"
	"github.com/ferry-gw/ferry/ingress/groupwire"
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

// groupPoll serves POST /v1/groups/{group}/topics/{topic}/poll: the
// member's next records, from any instance.
func (s *Server) groupPoll(c *fiber.Ctx) error {
	grp, topic := strings.Clone(c.Params("group")), strings.Clone(c.Params("topic"))
	if _, err := s.groupAdmit(c, grp, topic); err != nil {
		return err
	}
	var body groupwire.PollBody
	if err := groupwire.Decode(c.Body(), c.Get(fiber.HeaderContentType), &body, false); err != nil {
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
		return groupwire.ReadProblem(err)
	}
	out := groupwire.AppendPoll(make([]byte, 0, len(recs)+256), topic, polled, recs)
	c.Set(HeaderMemberID, polled.Member)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(out)
}

// groupCommit serves POST /v1/groups/{group}/commit: Kafka group offsets,
// for partitions the member holds.
func (s *Server) groupCommit(c *fiber.Ctx) error {
	grp := strings.Clone(c.Params("group"))
	var body groupwire.CommitBody
	// The body names the topics, and with them the scopes: read it after
	// the credentials are checked, and before the scopes are.
	if err := s.admit(c, groupAccess(nil)); err != nil {
		return err
	}
	if err := groupwire.Decode(c.Body(), c.Get(fiber.HeaderContentType), &body, true); err != nil {
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
		return groupwire.ReadProblem(err)
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
