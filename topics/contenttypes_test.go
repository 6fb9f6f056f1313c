package topics

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestContentTypesConfig: content_types lists known media types, once
// each, and only JSON on a route that reads its body as JSON; left out,
// a route takes JSON only.
func TestContentTypesConfig(t *testing.T) {
	t.Parallel()
	tbl, err := NewTable([]RouteConfig{
		{Name: "plain", Path: "/v1/plain", Topic: "a"},
		{Name: "bin", Path: "/v1/bin", Topic: "a", Key: "{header.X-Id}", ContentTypes: []string{"Application/Octet-Stream", "text/plain"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tbl.Route("plain").ContentTypes; !cmp.Equal(got, []string{MediaJSON}) {
		t.Errorf("default content_types = %v, want JSON only", got)
	}
	if r := tbl.Route("bin"); !r.Accepts(MediaOctetStream) || !r.Accepts(MediaText) || r.Accepts(MediaJSON) {
		t.Errorf("bin accepts %v", r.ContentTypes)
	}
	_, err = NewTable([]RouteConfig{
		{Name: "a", Path: "/v1/a", Topic: "a", ContentTypes: []string{"application/xml", "text/plain", "text/plain"}},
		{Name: "b", Path: "/v1/b", Topic: "a", Key: "{body./id}", ContentTypes: []string{"application/json", "application/octet-stream"}},
		{Name: "c", Path: "/v1/c", Topic: "a", Batch: &BatchConfig{}, ContentTypes: []string{"application/cloudevents+json"}},
	})
	if err == nil {
		t.Fatal("NewTable = nil error, want problems")
	}
	want := []string{
		`routes[0].content_types[0]: must be one of application/json, application/octet-stream, text/plain, application/cloudevents+json, not "application/xml"`,
		`routes[0].content_types[2]: text/plain is listed twice`,
		`routes[1].content_types[1]: application/octet-stream: this route reads its body as JSON (a {body.…} key or header, body, or batch): it accepts JSON only`,
		`routes[2].content_types[0]: application/cloudevents+json: this route reads its body as JSON (a {body.…} key or header, body, or batch): it accepts JSON only`,
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("NewTable errors (-want +got):\n%s", diff)
	}
}
