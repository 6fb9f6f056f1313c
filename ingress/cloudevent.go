package ingress

import (
	"encoding/json"
	"mime"
	"strings"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// checkCloudEvent checks the body of a structured-mode CloudEvent
// (content_types: application/cloudevents+json): a JSON object with
// specversion 1.0 and a non-empty id, source and type, CloudEvents 1.0's
// required attributes. When the route has a schema and the event's data
// is JSON (no datacontenttype, or a JSON one), the data must match it.
// The record's value is then the body as is: the route opted in to let
// its clients name the event's attributes for CloudEvents consumers, and
// the record's ce_* headers agree with them (structuredAttributes).
func (s *Server) checkCloudEvent(r *topics.Route, body []byte) error {
	var ev struct {
		SpecVersion     *string         `json:"specversion"`
		ID              *string         `json:"id"`
		Source          *string         `json:"source"`
		Type            *string         `json:"type"`
		DataContentType string          `json:"datacontenttype"`
		Data            json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return malformedJSON(body, err)
	}
	var missing []string
	for _, a := range []struct {
		name string
		v    *string
	}{{"specversion", ev.SpecVersion}, {"id", ev.ID}, {"source", ev.Source}, {"type", ev.Type}} {
		if a.v == nil || *a.v == "" {
			missing = append(missing, a.name)
		}
	}
	if len(missing) > 0 {
		return problem.New(problem.BadRequest, "a structured CloudEvent needs specversion, id, source and type; missing: "+strings.Join(missing, ", "))
	}
	for _, a := range []struct{ name, v string }{{"id", *ev.ID}, {"source", *ev.Source}, {"type", *ev.Type}} {
		// They become the record's ce_* headers, as template values do.
		if strings.ContainsFunc(a.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return problem.New(problem.BadRequest, "the event's "+a.name+" holds a control character, which no record header may carry")
		}
	}
	if *ev.SpecVersion != "1.0" {
		return problem.New(problem.BadRequest, "specversion "+*ev.SpecVersion+" is not supported; send 1.0")
	}
	if r.Schema == "" || s.deps.Validator == nil {
		return nil
	}
	if ev.DataContentType != "" {
		if mt, _, err := mime.ParseMediaType(ev.DataContentType); err != nil || !isJSON(mt) {
			return nil // the schema describes JSON data
		}
	}
	if len(ev.Data) == 0 {
		return problem.New(problem.Validation, "the event has no data; this route's schema needs it")
	}
	return s.deps.Validator.Validate(r.Schema, ev.Data)
}
