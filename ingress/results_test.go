package ingress

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

func newResultsServer(t *testing.T, results map[string]*correlator.Result) (*Server, *fakeProducer, *fakeCorrelator) {
	t.Helper()
	table, err := topics.NewTable([]topics.RouteConfig{{
		Name: "quote", Path: "/v1/quotes", Topic: "quotes.requests", Auth: topics.AuthNone,
		Reply: &topics.ReplyConfig{Topic: "quotes.replies", Timeout: time.Second, OnTimeout: "accept"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	p, c := &fakeProducer{}, newFakeCorrelator()
	f := false
	s, err := New(Config{AccessLog: &f}, table, Deps{Producer: p, Correlator: c, Results: &fakeResults{results}}, withPrincipals(), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return s, p, c
}

func TestRequestOwnerAndHeaders(t *testing.T) {
	t.Parallel()
	s, p, c := newResultsServer(t, nil)
	req := httptest.NewRequest("POST", "/v1/quotes", strings.NewReader(`{"q":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "respond-async")
	req.Header.Set("X-Test-identity.Principal", "app_user:alice")
	resp, err := s.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 202 {
		t.Fatalf("POST with respond-async = %d, want 202", resp.StatusCode)
	}
	if len(p.msgs) != 1 {
		t.Fatalf("produced %d messages, want 1", len(p.msgs))
	}
	m := p.msgs[0]
	if m.Reply == nil || m.Reply.Topic != "quotes.replies" {
		t.Errorf("produced Reply = %+v, want quotes.replies", m.Reply)
	}
	if got := c.owners[m.ID]; got != "app_user:alice" {
		t.Errorf("Register owner = %q, want app_user:alice", got)
	}
	if len(c.detached) != 1 || c.detached[0] != m.ID {
		t.Errorf("detached %v, want [%s]", c.detached, m.ID)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/results/"+m.ID {
		t.Errorf("Location = %q, want /v1/results/%s", loc, m.ID)
	}
}

func TestResultAccess(t *testing.T) {
	t.Parallel()
	done, pending, bad := topics.NewEventID(), topics.NewEventID(), topics.NewEventID()
	s, _, _ := newResultsServer(t, map[string]*correlator.Result{
		done: {ID: done, Owner: "app_user:alice", Replies: []correlator.Reply{
			{Status: 200, Final: false, Body: []byte(`{"step":1}`)},
			{Status: 201, Final: true, Body: []byte(`{"ok":true}`), ContentType: "application/json", Header: []correlator.HeaderField{{Name: "ETag", Value: `"3"`}}},
		}},
		pending: {ID: pending, Owner: "anonymous"},
		bad:     {ID: bad, Owner: "anonymous", Replies: []correlator.Reply{{Final: true, Invalid: `ferry-status "x" is not an HTTP status from 200 to 599`}}},
	})
	tests := []struct {
		name      string
		id        string
		principal string
		prefer    string
		status    int
		problem   string
		body      string
	}{
		{name: "owner", id: done, principal: "app_user:alice", status: 201, body: `{"ok":true}`},
		{name: "another principal", id: done, principal: "app_user:bob", status: 403, problem: problem.ForbiddenResult.URI},
		{name: "same id other kind", id: done, principal: "service_account:alice", status: 403, problem: problem.ForbiddenResult.URI},
		{name: "anonymous", id: done, status: 403, problem: problem.ForbiddenResult.URI},
		{name: "admin", id: done, principal: "app_user:root:orders:read,admin", status: 201, body: `{"ok":true}`},
		{name: "pending", id: pending, status: 202, body: `{"id":"` + pending + `","status":"pending","progress":0}`},
		{name: "pending after a long poll", id: pending, prefer: "wait=1", status: 202},
		{name: "bad reply", id: bad, status: 502, problem: problem.BadReply.URI},
		{name: "unknown", id: topics.NewEventID(), status: 404, problem: problem.ResultNotFound.URI},
		{name: "not an id", id: "..%2f..%2fadmin", status: 404, problem: problem.ResultNotFound.URI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("GET", "/v1/results/"+tt.id, nil)
			if tt.principal != "" {
				req.Header.Set("X-Test-identity.Principal", tt.principal)
			}
			if tt.prefer != "" {
				req.Header.Set("Prefer", tt.prefer)
			}
			resp, err := s.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("GET = %d %s, want %d", resp.StatusCode, b, tt.status)
			}
			if tt.problem != "" {
				var p problem.Details
				if err := json.Unmarshal(b, &p); err != nil || p.Type != tt.problem {
					t.Errorf("GET = %s, want problem %s", b, tt.problem)
				}
			}
			if tt.body != "" && string(b) != tt.body {
				t.Errorf("GET body = %s, want %s", b, tt.body)
			}
			if tt.status == 201 && resp.Header.Get("ETag") != `"3"` {
				t.Errorf("ETag = %q, want the reply's", resp.Header.Get("ETag"))
			}
			if tt.status == 202 && (resp.Header.Get("Retry-After") == "" || resp.Header.Get("Location") != "/v1/results/"+tt.id) {
				t.Errorf("202 headers = %v, want Retry-After and Location", resp.Header)
			}
		})
	}
}
