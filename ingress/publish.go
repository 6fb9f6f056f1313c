package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

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
// Fiber's values are only valid inside the handler. member is the raw
// value of the body member the key template reads, when validate met it
// (nil: the template looks it up).
func (s *Server) message(c *fiber.Ctx, r *topics.Route, ri *reqInfo, ct string, body, member []byte) (*topics.Message, error) {
	f := fields{c, s}
	name, _ := r.Key.BodyMember()
	vb := topics.NewValidatedBody(body, name, member) // validate (step 5) found it JSON
	b := &vb
	m := &topics.Message{
		Topic:       r.Topic,
		Value:       bytes.Clone(body), // nil for a tombstone
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
	if ct == topics.MediaCloudEvents {
		structuredAttributes(m, body, r.Reply == nil)
	}
	if r.Key != nil {
		k, err := r.Key.Append(nil, f, b)
		if err != nil {
			return nil, templateProblem("record key", err)
		}
		m.Key = k
	}
	for _, h := range r.Headers {
		v, err := h.Value.Append(nil, f, b)
		if err != nil {
			return nil, templateProblem("record header "+h.Name, err)
		}
		m.Extra = append(m.Extra, topics.Header{Key: h.Name, Value: v})
	}
	if r.BodyEdit != nil {
		v, err := s.editBody(r, body, f, b)
		if err != nil {
			return nil, err
		}
		m.Value = v // a new slice: nothing of Fiber's
	}
	switch {
	case r.Avro != nil:
		v, err := r.Avro.Encode(m.Value)
		if err != nil {
			return nil, problem.New(problem.Validation, "the body does not fit the subject's Avro schema: "+err.Error())
		}
		m.Value = v
		m.ContentType = topics.MediaOctetStream // the Confluent wire format: not JSON
	case r.RegistryID != 0:
		m.Value = topics.ConfluentValue(r.RegistryID, m.Value) // a new slice
		m.ContentType = topics.MediaOctetStream
	}
	if len(r.Split) > 0 {
		m.Topic = r.ChooseTopic(m.Key, f)
		s.metrics.Split(r.Name, m.Topic)
	}
	return m, nil
}

// structuredAttributes makes the ce_* headers of a structured CloudEvent's
// record agree with the event in its body (validate checked its
// attributes): its source, type and time (when it has a valid one), and
// its id, unless the route waits for replies, whose correlation id must
// be one ferry made (unique, and a valid kafka_correlationId). A reader
// of the headers then sees the event a CloudEvents SDK reads.
func structuredAttributes(m *topics.Message, body []byte, withID bool) {
	var ev struct {
		ID     string `json:"id"`
		Source string `json:"source"`
		Type   string `json:"type"`
		Time   string `json:"time"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return
	}
	m.Source, m.Type = ev.Source, ev.Type
	if withID {
		m.ID = ev.ID
	}
	if t, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil {
		m.Time = t
	}
}

// fields gives key templates the values of a Fiber request.
type fields struct {
	c *fiber.Ctx
	s *Server
}

// Param is the path parameter name, percent-decoded (RFC 3986) as the
// client meant it: the router matches the raw path, so "%2F" stays within
// its parameter and is a slash in the value. A malformed escape is kept
// as sent.
func (f fields) Param(name string) string {
	v := f.c.Params(name)
	if strings.IndexByte(v, '%') < 0 {
		return v
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

func (f fields) Header(name string) string        { return f.c.Get(name) }
func (f fields) Claim(name string) (string, bool) { return principal(f.c).Claim(name) }
func (f fields) ClientIP() string                 { return f.s.clientAddr(f.c) }
func (f fields) Now() time.Time                   { return f.c.Context().Time() }

// jsonMediaType accepts application/json and application/*+json and returns
// the media type, lower-cased, without parameters.
func jsonMediaType(header string) (string, error) {
	mt, err := parseMediaType(header)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(mt, "application/cloudevents") {
		// Structured mode would let the client's body name the event's
		// id, source and type for CloudEvents SDK consumers, over ferry's
		// ce_* headers.
		return "", problem.New(problem.UnsupportedMedia, "Content-Type "+mt+" (CloudEvents structured mode) is not accepted: send the event's data as application/json; ferry writes its CloudEvents attributes itself")
	}
	if isJSON(mt) {
		return mt, nil
	}
	return "", problem.New(problem.UnsupportedMedia, "Content-Type "+mt+" is not accepted; send application/json")
}

// parseMediaType returns the media type of a Content-Type header, lower
// case, without parameters. JSON and text must be UTF-8 (RFC 8259,
// section 8.1): a charset naming anything else is refused, not read as
// UTF-8.
func parseMediaType(header string) (string, error) {
	if header == "" {
		return "", problem.New(problem.UnsupportedMedia, "Content-Type is missing; send application/json")
	}
	if header == fiber.MIMEApplicationJSON || header == fiber.MIMEApplicationJSONCharsetUTF8 {
		return fiber.MIMEApplicationJSON, nil // the usual header: what mime.ParseMediaType returns, without its map
	}
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return "", problem.New(problem.UnsupportedMedia, "Content-Type is malformed; send application/json")
	}
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") &&
		(isJSON(mt) || mt == topics.MediaText || mt == mimeNDJSONBatch) {
		return "", problem.New(problem.UnsupportedMedia, mt+" must be UTF-8, not "+cs)
	}
	return mt, nil
}

// isJSON reports whether mt is application/json or application/*+json.
func isJSON(mt string) bool {
	return mt == fiber.MIMEApplicationJSON || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// routeMediaType checks a request's Content-Type against the route's
// content_types. It returns the media type (the record's content-type)
// and its kind: topics.MediaJSON for any JSON but CloudEvents, or the
// route's content type it matched.
func routeMediaType(header string, r *topics.Route) (mt, kind string, err error) {
	if len(r.ContentTypes) == 1 && r.ContentTypes[0] == topics.MediaJSON {
		mt, err = jsonMediaType(header) // the usual route, as it always was
		return mt, topics.MediaJSON, err
	}
	if mt, err = parseMediaType(header); err != nil {
		return "", "", err
	}
	kind = mt
	if isJSON(mt) && mt != topics.MediaCloudEvents {
		kind = topics.MediaJSON
	}
	if !r.Accepts(kind) {
		return "", "", problem.New(problem.UnsupportedMedia, "Content-Type "+mt+" is not accepted; this route accepts "+strings.Join(r.ContentTypes, ", "))
	}
	return mt, kind, nil
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

// editBody makes the record's value of a route with a body section: the
// body, edited, then checked against body.record_schema. A body of the
// wrong shape is the client's fault (422); an edited body that violates
// the record schema is the route's (500, with the violations logged).
func (s *Server) editBody(r *topics.Route, body []byte, f fields, b *topics.Body) ([]byte, error) {
	v, err := r.BodyEdit.Apply(body, f, b)
	switch {
	case errors.Is(err, topics.ErrKeyUnresolved), errors.Is(err, topics.ErrKeyInvalid):
		return nil, templateProblem("body edit", err)
	case err != nil:
		return nil, &problem.Error{Type: problem.BodyEditFailed, Detail: strings.TrimPrefix(err.Error(), topics.ErrBodyEdit.Error()+": "), Cause: err}
	}
	if rs := r.BodyEdit.RecordSchema; rs != "" && s.deps.Validator != nil {
		if err := s.deps.Validator.Validate(rs, v); err != nil {
			return nil, &problem.Error{Type: problem.RecordInvalid, Cause: err,
				Detail: "the route's body edits made a record that violates " + rs + "; nothing was produced"}
		}
	}
	return v, nil
}

// templateProblem is the answer to a template (key, record header, body
// edit) that failed for this request: 422 key-unresolved for a missing
// value, 400 bad-request for a value holding a control character.
func templateProblem(what string, err error) *problem.Error {
	msg := err.Error()
	for _, sentinel := range []error{topics.ErrKeyUnresolved, topics.ErrKeyInvalid} {
		if errors.Is(err, sentinel) {
			_, rest, found := strings.Cut(msg, sentinel.Error()+": ")
			if found {
				msg = rest
			}
		}
	}
	if errors.Is(err, topics.ErrKeyInvalid) {
		return problem.New(problem.BadRequest, what+": "+msg+"; keys and record headers carry no control characters")
	}
	return problem.New(problem.KeyUnresolved, what+": "+msg)
}
