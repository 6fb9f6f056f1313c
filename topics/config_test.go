package topics

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewTableDefaults(t *testing.T) {
	t.Parallel()
	tb, err := NewTable([]RouteConfig{{
		Name: "create-order", Path: "/v1/orders/{id}", Topic: "orders", Key: "{path.id}",
		Reply: &ReplyConfig{Topic: "orders.replies"}, RateLimit: &RateLimitConfig{Rate: 10},
	}})
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	r := tb.Routes()[0]
	if r.Method != "POST" || r.EventType != "create-order" || r.Source != "/ferry/routes/create-order" ||
		r.Auth != AuthRequired || r.BodyLimit != DefaultBodyLimit {
		t.Errorf("defaults not applied: %+v", r)
	}
	if diff := cmp.Diff([]string{"id"}, r.Params); diff != "" {
		t.Errorf("Params (-want +got):\n%s", diff)
	}
	if r.Reply.Timeout != DefaultReplyTimeout || r.Reply.OnTimeout != "accept" || r.Reply.MaxWait != DefaultReplyMaxWait {
		t.Errorf("reply defaults not applied: %+v", *r.Reply)
	}
	if r.RateLimit.Per != time.Second || r.RateLimit.Burst != 10 || r.RateLimit.By != "principal" {
		t.Errorf("rate limit defaults not applied: %+v", *r.RateLimit)
	}
}

// TestNewTableErrors checks that every problem is reported at once, each
// with its field path.
func TestNewTableErrors(t *testing.T) {
	t.Parallel()
	_, err := NewTable([]RouteConfig{
		{Name: "ok", Path: "/v1/a", Topic: "a"},
		{Name: "bad name!", Method: "HEAD", Path: "v1/b", Topic: "__consumer_offsets"},
		{Name: "ok", Path: "/v1/a/{id}/{id}", Topic: "a", Key: "{path.nope}"},
		{Name: "c", Path: "/healthz", Topic: "c", Auth: "maybe", Headers: map[string]string{"ce_id": "x", "x-ok": "{query.x}"}},
		{Name: "d", Path: "/v1/d", Topic: "d", Reply: &ReplyConfig{Topic: "d", OnTimeout: "retry"}, RateLimit: &RateLimitConfig{By: "moon"}},
		{Name: "e", Path: "/v1/a", Topic: "a"},
		{},
	})
	if err == nil {
		t.Fatal("NewTable = nil error, want problems")
	}
	want := []string{
		`routes[1].name: must be letters, digits, '.', '_' or '-'`,
		`routes[1].method: must be GET, POST, PUT, PATCH or DELETE, not "HEAD"`,
		`routes[1].path: must start with /`,
		`routes[1].topic: internal topics (__*) are not allowed`,
		`routes[2].path: parameter {id} appears twice`,
		`routes[2].key: {path.nope} is not a parameter of the route's path`,
		`routes[2].name: duplicate of routes[0].name "ok"`,
		`routes[3].path: /healthz is served by ferry itself`,
		`routes[3].headers.ce_id: reserved header names cannot be set by routes`,
		`routes[3].headers.x-ok: {query.x}: unknown reference kind "query"`,
		`routes[3].auth: must be "required" or "none", not "maybe"`,
		`routes[4].rate_limit.rate: must be > 0`,
		`routes[4].rate_limit.by: must be principal, api_key, ip or claim:NAME, not "moon"`,
		`routes[4].reply.topic: must differ from the request topic`,
		`routes[4].reply.on_timeout: must be "accept" or "fail", not "retry"`,
		`routes[5].path: POST /v1/a is already served by routes[0]`,
		`routes[6].name: required`,
		`routes[6].path: required`,
		`routes[6].topic: required`,
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("NewTable errors (-want +got):\n%s", diff)
	}
}

// TestGetRouteConfig: a GET route reads its topic: it takes a view
// section and a key (or key_prefix) from path, headers or claims, and
// none of the sections that shape a record.
func TestGetRouteConfig(t *testing.T) {
	tbl, err := NewTable([]RouteConfig{
		{Name: "get-order", Method: "get", Path: "/v1/orders/{id}", Topic: "orders.state", Key: "{path.id}"},
		{Name: "list-orders", Method: "GET", Path: "/v1/orders", Topic: "orders.state", KeyPrefix: "{claim.tenant}:", View: &ViewConfig{MaxKeys: 10}},
	})
	if err != nil {
		t.Fatal(err)
	}
	get, list := tbl.Route("get-order"), tbl.Route("list-orders")
	if !get.IsView() || get.View.MaxKeys != DefaultViewMaxKeys || get.Key == nil || get.KeyPrefix != nil {
		t.Errorf("get-order = %+v", get)
	}
	if !list.IsView() || list.View.MaxKeys != 10 || list.Key != nil || list.KeyPrefix == nil {
		t.Errorf("list-orders = %+v", list)
	}
	_, err = NewTable([]RouteConfig{
		{Name: "a", Method: "GET", Path: "/v1/a", Topic: "t", Key: "{body./id}", Schema: "s", Reply: &ReplyConfig{Topic: "r"}},
		{Name: "b", Method: "GET", Path: "/v1/b", Topic: "t", Key: "k", KeyPrefix: "p", View: &ViewConfig{MaxKeys: -1}},
		{Name: "c", Method: "POST", Path: "/v1/c", Topic: "t", KeyPrefix: "p"},
	})
	for _, want := range []string{"routes[0].key: a GET has no body", "routes[0].schema: a GET route reads", "routes[0].reply: a GET route reads",
		"routes[1].key_prefix: a route with a key reads one key", "routes[1].view.max_keys: must be > 0", "routes[2].view: view and key_prefix belong to GET routes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewTable error %v lacks %q", err, want)
		}
	}
}
