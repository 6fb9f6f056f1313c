package ingress

import (
	"bytes"
	"encoding/json"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

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
			return problem(ProblemBodyTooLarge, "the body is "+strconv.Itoa(len(body))+" bytes; this route accepts at most "+strconv.Itoa(r.BodyLimit))
		}
		if len(body) == 0 {
			return problem(ProblemMalformedJSON, "the body is empty; send a JSON document")
		}
		if r.Schema != "" && s.deps.Validator != nil {
			if err := s.deps.Validator.Validate(r.Schema, body); err != nil {
				return err
			}
		} else if !json.Valid(body) {
			return problem(ProblemMalformedJSON, "the body is not valid JSON")
		}

		m, err := s.message(c, r, ri, ct, body)
		if err != nil {
			return err
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
			return nil, problem(ProblemKeyUnresolved, "record key: "+strings.TrimPrefix(err.Error(), topics.ErrKeyUnresolved.Error()+": "))
		}
		m.Key = k
	}
	for _, h := range r.Headers {
		v, err := h.Value.Append(nil, f, b)
		if err != nil {
			return nil, problem(ProblemKeyUnresolved, "record header "+h.Name+": "+strings.TrimPrefix(err.Error(), topics.ErrKeyUnresolved.Error()+": "))
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
		return "", problem(ProblemUnsupportedMedia, "Content-Type is missing; send application/json")
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return "", problem(ProblemUnsupportedMedia, "Content-Type is malformed; send application/json")
	}
	if mt == fiber.MIMEApplicationJSON || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return mt, nil
	}
	return "", problem(ProblemUnsupportedMedia, "Content-Type "+mt+" is not accepted; send application/json")
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
