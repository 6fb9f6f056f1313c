package ingress_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/topics"
)

// TestCookieCredentials: with auth.cookie set, a browser's cookie carries
// its bearer token on GET requests (an EventSource cannot set headers),
// and is ignored on routes that publish, so a cross-site form cannot
// publish with it.
func TestCookieCredentials(t *testing.T) {
	t.Parallel()
	cfg := testAuthConfig(t)
	cfg.Cookie = "ferry_token"
	auth, err := identity.New(t.Context(), cfg.Config, identity.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	table, err := topics.NewTable([]topics.RouteConfig{{Name: "secured", Path: "/v1/secured", Topic: "orders"}})
	if err != nil {
		t.Fatal(err)
	}
	// alice's result: readable with her token, 403 for anyone else.
	id := topics.NewEventID()
	corr, res := ingress.FakeReplyDeps(map[string]*correlator.Result{id: {ID: id, Owner: identity.PrincipalJWT + ":alice",
		Replies: []correlator.Reply{{Status: 200, Final: true, Body: []byte(`{"ok":true}`)}}}})
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{Producer: ackProducer{}, Authenticator: auth, Correlator: corr, Results: res},
		ingress.WithAuth(cfg.WithDefaults()), ingress.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	good := rsaToken(t, "alice", "")
	tests := []struct {
		name, method, path, cookie string
		want                       int
	}{
		{"GET with the owner's token cookie reads the result", "GET", "/v1/results/" + id, good, http.StatusOK},
		{"GET without the cookie is anonymous", "GET", "/v1/results/" + id, "", http.StatusForbidden},
		{"GET with a bad token cookie is refused", "GET", "/v1/results/" + id, "not-a-token", http.StatusUnauthorized},
		{"POST ignores the cookie", "POST", "/v1/secured", good, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "ferry_token", Value: tt.cookie})
			}
			resp, err := srv.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s with cookie = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
		})
	}
}
