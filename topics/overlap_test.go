package topics

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTableOverlaps (issue 16 item 15): routes of one method whose paths
// match a common request path are reported, naming the route that loses
// the requests; so are routes whose parameters match an endpoint ferry
// serves itself for every method. Different methods, different segment
// counts and disjoint literals are not overlaps.
func TestTableOverlaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		routes []RouteConfig
		want   []string
	}{
		{"none", []RouteConfig{
			{Name: "a", Path: "/v1/orders", Topic: "a"},
			{Name: "b", Path: "/v1/orders/{id}", Topic: "b"},
			{Name: "c", Method: "PUT", Path: "/v2/{kind}", Topic: "c"},
			{Name: "d", Path: "/v1/customers/{id}/events", Topic: "d"},
		}, nil},
		{"literal first", []RouteConfig{
			{Name: "orders", Path: "/v2/orders", Topic: "a"},
			{Name: "kinds", Path: "/v2/{kind}", Topic: "b"},
		}, []string{
			`routes[1].path: POST /v2/{kind} overlaps routes[0] (POST /v2/orders): routes[0] is listed first and answers POST /v2/orders`,
		}},
		{"parameter first", []RouteConfig{
			{Name: "kinds", Path: "/v2/{kind}", Topic: "b"},
			{Name: "orders", Path: "/v2/orders", Topic: "a"},
		}, []string{
			`routes[1].path: POST /v2/orders overlaps routes[0] (POST /v2/{kind}): routes[0] is listed first and answers POST /v2/orders, so routes[1] never receives a request; list it first`,
		}},
		{"crossed parameters", []RouteConfig{
			{Name: "a", Method: "DELETE", Path: "/v2/{a}/items", Topic: "a", Key: "{path.a}"},
			{Name: "b", Method: "DELETE", Path: "/v2/orders/{b}", Topic: "b", Key: "{path.b}"},
		}, []string{
			`routes[1].path: DELETE /v2/orders/{b} overlaps routes[0] (DELETE /v2/{a}/items): routes[0] is listed first and answers DELETE /v2/orders/items`,
		}},
		{"built-in endpoints", []RouteConfig{
			{Name: "kinds", Path: "/v1/{kind}", Topic: "a"},
			{Name: "pairs", Method: "PUT", Path: "/{a}/{b}/{c}", Topic: "b"},
		}, []string{
			`routes[0].path: POST /v1/{kind} also matches /v1/topics, which ferry serves itself (GET; other methods get 405): POST /v1/topics never reaches the route`,
			`routes[1].path: PUT /{a}/{b}/{c} also matches /v1/topics/{topic}, which ferry serves itself (GET; other methods get 405): PUT /v1/topics/{c} never reaches the route`,
			`routes[1].path: PUT /{a}/{b}/{c} also matches /v1/replay/{topic}, which ferry serves itself (GET; other methods get 405): PUT /v1/replay/{c} never reaches the route`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb, err := NewTable(tt.routes)
			if err != nil {
				t.Fatalf("NewTable: %v", err)
			}
			if diff := cmp.Diff(tt.want, tb.Overlaps()); diff != "" {
				t.Errorf("Overlaps() (-want +got):\n%s", diff)
			}
		})
	}
}
