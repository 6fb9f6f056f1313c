package topics

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// The media types a route may accept (content_types). MediaJSON stands
// for application/json and every application/*+json type but CloudEvents.
const (
	MediaJSON        = "application/json"
	MediaOctetStream = "application/octet-stream"
	MediaText        = "text/plain"
	// MediaCloudEvents is CloudEvents' structured mode: the body is the
	// whole event (specversion, id, source, type, data...), produced as
	// is with this content-type, which CloudEvents SDKs read as a
	// structured event. Refused unless the route lists it.
	MediaCloudEvents = "application/cloudevents+json"
)

// mediaTypes are the content_types a route may list.
var mediaTypes = []string{MediaJSON, MediaOctetStream, MediaText, MediaCloudEvents}

// Accepts reports whether the route takes bodies of media type mt (lower
// case, without parameters); any application/*+json but CloudEvents is
// MediaJSON.
func (r *Route) Accepts(mt string) bool {
	return slices.Contains(r.ContentTypes, mt)
}

// compileContentTypes checks content_types: known media types, and only
// JSON where the route reads the body as JSON (a key or header template
// from the body, a body edit, a batch). Empty means JSON only.
func compileContentTypes(at string, rc RouteConfig, errs *fieldErrors) []string {
	if len(rc.ContentTypes) == 0 {
		return []string{MediaJSON}
	}
	var out []string
	readsJSON := rc.Body != nil || rc.Batch != nil || strings.Contains(rc.Key, "{body.")
	for _, v := range rc.Headers {
		readsJSON = readsJSON || strings.Contains(v, "{body.")
	}
	for i, ct := range rc.ContentTypes {
		ct = strings.ToLower(strings.TrimSpace(ct))
		cat := fmt.Sprintf("%s.content_types[%d]", at, i)
		switch {
		case !slices.Contains(mediaTypes, ct):
			errs.addf(cat, "must be one of %s, not %q", strings.Join(mediaTypes, ", "), rc.ContentTypes[i])
			continue
		case ct != MediaJSON && readsJSON:
			errs.addf(cat, "%s: this route reads its body as JSON (a {body.…} key or header, body, or batch): it accepts JSON only", ct)
			continue
		case slices.Contains(out, ct):
			errs.addf(cat, "%s is listed twice", ct)
			continue
		}
		out = append(out, ct)
	}
	return out
}

// ConfluentValue returns value in the Confluent wire format for the
// Schema Registry schema id: a zero magic byte, the id as a big-endian
// 32-bit integer, then the value (for JSON Schema there is no message
// index). Confluent's JSON Schema deserializers read it as is.
func ConfluentValue(id int32, value []byte) []byte {
	out := make([]byte, 0, 5+len(value))
	out = append(out, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(id))
	return append(out, value...)
}
