package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// gatheredReply is one reply of a scatter-gather answer.
type gatheredReply struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// gatherReplies (reply.gather) collects the replies to the request for
// the gather window, or until gather.max of them arrived, and answers
// them together: 200 {"replies": [...]} in arrival order when at least
// gather.min arrived, else 504 reply-timeout with the count. Replies
// arriving after the answer are left to the result store (counted as
// late). The record is produced, so the client is never told to retry.
func (s *Server) gatherReplies(c *fiber.Ctx, r *topics.Route, w *correlator.Waiter) error {
	g := r.Reply.Gather
	_, err := w.WaitFor(c.UserContext(), g.Window)
	switch {
	case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, correlator.ErrClosed):
	default:
		return err // the request's own context ended
	}
	reps := w.Gathered()
	w.Cancel() // the replies still to come are late
	if len(reps) < g.Min {
		info(c).settleReply(policy.Failure)
	} else {
		info(c).settleReply(policy.Success)
	}
	return answerGathered(c, g, reps)
}

// answerGathered answers with the replies gathered for a request: 200
// {"replies": [...]} in arrival order, with X-Replies, when at least
// g.Min arrived, else 504 reply-timeout with the count. Both the sync
// answer and GET /v1/results of an asynchronous one give it.
func answerGathered(c *fiber.Ctx, g *topics.GatherConfig, reps []correlator.Reply) error {
	if len(reps) < g.Min {
		return problem.New(problem.ReplyTimeout, fmt.Sprintf("%d of the %d replies needed arrived within %s; the request was published", len(reps), g.Min, g.Window))
	}
	body, err := gatheredBody(reps)
	if err != nil {
		return err
	}
	c.Set("X-Replies", strconv.Itoa(len(reps)))
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Status(fiber.StatusOK)
	c.Response().SetBody(body)
	return nil
}

// gatheredBody renders gathered replies as {"replies": [...]}: each with
// its status, headers and body (JSON as is, anything else as a string).
// envelopeOf is a reply as one JSON object, {"status","headers","body"}:
// an entry of a gathered set, and an event of a result stream with
// envelope=true. A body that is not JSON is a string.
func envelopeOf(rep correlator.Reply) gatheredReply {
	gr := gatheredReply{Status: rep.Status, Headers: make(map[string]string, len(rep.Header)), Body: rep.Body}
	for _, h := range rep.Header {
		gr.Headers[h.Name] = h.Value
	}
	if rep.Err() != nil {
		gr.Status = problem.BadReply.Status
	}
	if len(rep.Body) == 0 || !json.Valid(rep.Body) {
		gr.Body, _ = json.Marshal(string(rep.Body))
	}
	return gr
}

func gatheredBody(reps []correlator.Reply) ([]byte, error) {
	out := struct {
		Replies []gatheredReply `json:"replies"`
	}{Replies: make([]gatheredReply, 0, len(reps))}
	for _, rep := range reps {
		out.Replies = append(out.Replies, envelopeOf(rep))
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("gather answer: %w", err)
	}
	return body, nil
}
