package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// publish returns the handler of one configured route: check the request,
// build the event, produce it and answer 202 once the broker acknowledged.
func (s *Server) publish(r topics.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ri := info(c)
		ri.route = r.Name
		ct, err := jsonMediaType(c.Get(fiber.HeaderContentType))
		if err != nil {
			return err
		}
		body := c.Body()
		if len(body) > r.BodyLimit {
			return problem.New(problem.BodyTooLarge, "the body is "+strconv.Itoa(len(body))+" bytes; this route accepts at most "+strconv.Itoa(r.BodyLimit))
		}
		if len(body) == 0 {
			return problem.New(problem.MalformedJSON, "the body is empty; send a JSON document")
		}
		if r.Schema != "" && s.deps.Validator != nil {
			if err := s.deps.Validator.Validate(r.Schema, body); err != nil {
				return err
			}
		} else if !json.Valid(body) {
			return problem.New(problem.MalformedJSON, "the body is not valid JSON")
		}

		m, err := s.message(c, r, ri, ct, body)
		if err != nil {
			return err
		}
		if r.Reply != nil {
			return s.request(c, r, ri, m)
		}
		pos, err := s.deps.Producer.Produce(c.UserContext(), m)
		if err != nil {
			return err
		}
		ri.topic, ri.partition, ri.offset, ri.produced = pos.Topic, pos.Partition, pos.Offset, true
		c.Status(fiber.StatusAccepted)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		var buf [192]byte
		c.Response().SetBody(acceptedBody(buf[:0], m.ID, pos))
		return nil
	}
}

// request answers a route with a reply section: it registers the waiter,
// produces the request (in that order, so that a reply which beats the
// produce acknowledgement is not lost), and waits for the reply up to the
// route's timeout or the client's Prefer: wait (at most reply.max_wait).
// Prefer: respond-async, or a timeout with on_timeout: accept, answers 202
// with Location: /v1/results/{id}, where the reply will be kept.
func (s *Server) request(c *fiber.Ctx, r topics.Route, ri *reqInfo, m *topics.Message) error {
	ctx := c.UserContext()
	pref := parsePrefer(c.Request().Header.PeekAll("Prefer"))
	wait := r.Reply.Timeout
	if pref.hasWait {
		wait = min(pref.wait, r.Reply.MaxWait)
	}
	async := pref.async || wait <= 0

	w, err := s.deps.Correlator.Register(ctx, m.ID, r.Reply.Topic, owner(principal(c)))
	if err != nil {
		return err
	}
	defer w.Cancel()
	to := w.ReplyTo()
	m.Reply = &to
	if async {
		// Before producing: if the result cannot be kept, nothing has
		// happened yet and the client may simply retry.
		if _, _, err := s.deps.Correlator.Detach(ctx, w, r.Name); err != nil {
			return err
		}
	}
	pos, err := s.deps.Producer.Produce(ctx, m)
	if err != nil {
		return err
	}
	ri.topic, ri.partition, ri.offset, ri.produced = pos.Topic, pos.Partition, pos.Offset, true
	// From here on only the id is needed, so that m, with its body and
	// headers, is garbage while the request waits.
	id := m.ID
	if async {
		c.Set("Preference-Applied", "respond-async")
		return accepted(c, id, pos)
	}
	if pref.hasWait {
		c.Set("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
	}
	// WaitFor, not Wait with a context.WithTimeout: a pending request then
	// holds one timer, not a derived context, its timer and done channel.
	rep, err := w.WaitFor(ctx, wait)
	closed := errors.Is(err, correlator.ErrClosed) // shutting down
	switch {
	case err == nil:
		s.linkReply(ctx, rep)
		return s.writeReply(c, &r, rep)
	case !closed && (!errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil):
		return err // the request's own context ended
	}
	if !closed {
		s.metrics.CorrelatorTimeout() // the wait ran out, not the request
	}
	switch {
	case r.Reply.OnTimeout == "fail" && closed:
		return err // 503 shutting-down
	case r.Reply.OnTimeout == "fail":
		return problem.New(problem.ReplyTimeout, "no reply within "+wait.String())
	}
	// on_timeout: accept, also at shutdown: the reply is kept for
	// GET /v1/results/{id}, which any instance serves.
	rep, ok, err := s.deps.Correlator.Detach(context.WithoutCancel(ctx), w, r.Name)
	switch {
	case err != nil:
		return err
	case ok:
		return s.writeReply(c, &r, rep) // it arrived just now
	}
	return accepted(c, id, pos)
}

// accepted answers 202 with the location of the request's result.
func accepted(c *fiber.Ctx, id string, pos topics.Position) error {
	c.Status(fiber.StatusAccepted)
	c.Set(fiber.HeaderLocation, resultsPath+id)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	var buf [192]byte
	c.Response().SetBody(acceptedBody(buf[:0], id, pos))
	return nil
}

// writeReply writes a reply as the HTTP response: its status, allowlisted
// headers, content type (default application/json) and body. A reply that
// breaks the contract, or whose successful body violates the route's reply
// schema, becomes a 502 bad-reply problem.
// r is the route the request came in on; nil skips the reply schema.
func (s *Server) writeReply(c *fiber.Ctx, r *topics.Route, rep correlator.Reply) error {
	if err := rep.Err(); err != nil {
		return err
	}
	if r != nil {
		if err := s.checkReply(*r, rep.Status, rep.Body); err != nil {
			return err
		}
	}
	for _, h := range rep.Header {
		c.Set(h.Name, h.Value)
	}
	ct := rep.ContentType
	if ct == "" {
		ct = fiber.MIMEApplicationJSON
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Status(rep.Status)
	c.Response().SetBody(rep.Body)
	return nil
}

// message builds the event for one request. It copies everything it keeps:
// Fiber's values are only valid inside the handler.
func (s *Server) message(c *fiber.Ctx, r topics.Route, ri *reqInfo, ct string, body []byte) (*topics.Message, error) {
	f := fields{c}
	b := topics.NewBody(body)
	m := &topics.Message{
		Topic:       r.Topic,
		Value:       bytes.Clone(body),
		ID:          topics.NewEventID(),
		Source:      r.Source,
		Type:        r.EventType,
		Time:        time.Now(),
		ContentType: ct,
		TraceParent: ri.traceParent,
	}
	if p := ri.principal; p != nil {
		m.AuthType, m.AuthID = p.Kind, p.ID
	}
	if r.Key != nil {
		k, err := r.Key.Append(nil, f, b)
		if err != nil {
			return nil, problem.New(problem.KeyUnresolved, "record key: "+strings.TrimPrefix(err.Error(), topics.ErrKeyUnresolved.Error()+": "))
		}
		m.Key = k
	}
	for _, h := range r.Headers {
		v, err := h.Value.Append(nil, f, b)
		if err != nil {
			return nil, problem.New(problem.KeyUnresolved, "record header "+h.Name+": "+strings.TrimPrefix(err.Error(), topics.ErrKeyUnresolved.Error()+": "))
		}
		m.Extra = append(m.Extra, topics.Header{Key: h.Name, Value: v})
	}
	return m, nil
}

// fields gives key templates the values of a Fiber request.
type fields struct{ c *fiber.Ctx }

func (f fields) Param(name string) string         { return f.c.Params(name) }
func (f fields) Header(name string) string        { return f.c.Get(name) }
func (f fields) Claim(name string) (string, bool) { return principal(f.c).Claim(name) }

// jsonMediaType accepts application/json and application/*+json and returns
// the media type, lower-cased, without parameters.
func jsonMediaType(header string) (string, error) {
	if header == "" {
		return "", problem.New(problem.UnsupportedMedia, "Content-Type is missing; send application/json")
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return "", problem.New(problem.UnsupportedMedia, "Content-Type is malformed; send application/json")
	}
	if mt == fiber.MIMEApplicationJSON || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return mt, nil
	}
	return "", problem.New(problem.UnsupportedMedia, "Content-Type "+mt+" is not accepted; send application/json")
}

// acceptedBody appends {"id","topic","partition","offset","timestamp"}.
func acceptedBody(dst []byte, id string, pos topics.Position) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendQuote(dst, id)
	dst = append(dst, `,"topic":`...)
	dst = strconv.AppendQuote(dst, pos.Topic)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendInt(dst, int64(pos.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, pos.Offset, 10)
	dst = append(dst, `,"timestamp":"`...)
	dst = pos.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `"}`...)
	return dst
}
