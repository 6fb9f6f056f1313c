package ingress

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// checkReply checks the body of a backend's reply to a request on route r
// against the route's reply schema (reply.schema), before any of it reaches
// the client. Call it on every reply of a sync route (and on a stored reply
// served later), after the correlator delivered it and before writing the
// response; status is the reply's HTTP status (ferry-status, default 200).
//
// The schema describes the successful answer, the 200 of /openapi.json:
// a reply with status 300 or more passes as it is. checkReply returns nil
// when the route has no reply schema, the status is not 2xx, or the body
// conforms. When a 2xx body violates the schema, or is not JSON, it returns a
// bad-reply problem (502): the backend broke its contract, so the reply is
// not passed on. Its cause, listing every violation, goes to the error log
// (handleError logs every 5xx with its cause, request id and route), never
// to the client, and the bad reply is counted in
// ferry_replies_rejected_total{route}. An unknown
// schema is a configuration bug and comes back as it is, a 500.
//
// With a nil Validator, a route with a reply schema only checks that the
// reply is JSON. checkReply is safe for concurrent use and keeps no
// reference to body.
func (s *Server) checkReply(r topics.Route, status int, body []byte) error {
	if r.Reply == nil || r.Reply.Schema == "" || status >= 300 {
		return nil
	}
	var cause error
	if s.deps.Validator == nil {
		if !json.Valid(body) {
			cause = fmt.Errorf("reply on %s: %w", r.Reply.Topic, schemas.ErrNotJSON)
		}
	} else if err := s.deps.Validator.Validate(r.Reply.Schema, body); err != nil {
		var ve *schemas.ValidationError
		switch {
		case errors.As(err, &ve):
			cause = &badReplyError{topic: r.Reply.Topic, ve: ve}
		case errors.Is(err, schemas.ErrNotJSON):
			cause = fmt.Errorf("reply on %s: %w", r.Reply.Topic, err)
		default:
			return fmt.Errorf("check reply of route %s: %w", r.Name, err)
		}
	}
	if cause == nil {
		return nil
	}
	s.metrics.ReplyRejected(r.Name)
	return &problem.Error{
		Type:   problem.BadReply,
		Detail: "the backend answered, but its reply violates the route's reply schema, so it is not passed on; the request itself was published",
		Cause:  cause,
	}
}

// badReplyError is the logged cause of a bad-reply problem: the reply topic
// and the violations, for the operator who must fix the backend.
type badReplyError struct {
	topic string
	ve    *schemas.ValidationError
}

// maxLoggedViolations bounds the violations one log line lists.
const maxLoggedViolations = 10

func (e *badReplyError) Error() string {
	var b strings.Builder
	b.WriteString("reply on ")
	b.WriteString(e.topic)
	b.WriteString(" violates schema ")
	b.WriteString(e.ve.SchemaID)
	b.WriteString(": ")
	for i, v := range e.ve.Violations {
		if i == maxLoggedViolations {
			fmt.Fprintf(&b, "; and %d more", len(e.ve.Violations)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		p := v.InstancePath
		if p == "" {
			p = "(root)"
		}
		b.WriteString(p)
		b.WriteString(": ")
		b.WriteString(v.Message)
	}
	return b.String()
}

func (e *badReplyError) Unwrap() error { return e.ve }
