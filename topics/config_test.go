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
		{Name: "bad name!", Method: "GET", Path: "v1/b", Topic: "__consumer_offsets"},
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
		`routes[1].method: must be POST, PUT, PATCH or DELETE, not "GET"`,
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
