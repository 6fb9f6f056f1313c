package ingress

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/topics"
)

func TestPolicies(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable([]topics.RouteConfig{
		{Name: "a", Path: "/a", Topic: "a"},
		{Name: "b", Path: "/b", Topic: "b", Auth: topics.AuthNone, RateLimit: &topics.RateLimitConfig{Rate: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := cmp.AllowUnexported(access{})
	tests := []struct {
		name string
		got  access
		want access
	}{
		{"route requires auth by default", routeAccess(table.Routes()[0]), access{name: "a", auth: true}},
		{"route auth none", routeAccess(table.Routes()[1]), access{name: "b", auth: false, limit: table.Routes()[1].RateLimit}},
		{"stream requires auth by default", streamAccess(topics.StreamConfig{Name: "s", Scopes: []string{"orders:read"}}), access{name: "stream:s", auth: true, scopes: []string{"orders:read"}}},
		{"stream auth none", streamAccess(topics.StreamConfig{Name: "s", Auth: topics.AuthNone}), access{name: "stream:s"}},
		{"replay defaults to admin", replayServer(nil).replayAccess(), access{name: "replay", auth: true, scopes: []string{"admin"}}},
		{"replay scopes", replayServer([]string{"ops"}).replayAccess(), access{name: "replay", auth: true, scopes: []string{"ops"}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got, opts); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		auth                    AuthConfig
		used, code, desc, scope string
		want                    string
	}{
		{"missing, both kinds", AuthConfig{Config: identity.Config{JWT: &identity.JWTConfig{}, APIKeys: []identity.APIKeyConfig{{}}}}, "", "", "no credentials", "",
			`Bearer realm="ferry", ApiKey realm="ferry"`},
		{"bad token", AuthConfig{Config: identity.Config{JWT: &identity.JWTConfig{}, APIKeys: []identity.APIKeyConfig{{}}}}, identity.SchemeBearer, "invalid_token", "the token has expired", "",
			`Bearer realm="ferry", error="invalid_token", error_description="the token has expired", ApiKey realm="ferry"`},
		{"bad key", AuthConfig{Config: identity.Config{JWT: &identity.JWTConfig{}, APIKeys: []identity.APIKeyConfig{{}}}}, identity.SchemeAPIKey, "invalid_token", "the API key is invalid", "",
			`Bearer realm="ferry", ApiKey realm="ferry", error="invalid_token", error_description="the API key is invalid"`},
		{"scope, API keys only", AuthConfig{Config: identity.Config{APIKeys: []identity.APIKeyConfig{{}}}}, identity.SchemeAPIKey, "insufficient_scope", "", "a b",
			`ApiKey realm="ferry", error="insufficient_scope", scope="a b"`},
		{"nothing configured", AuthConfig{}, "", "", "", "", `Bearer realm="ferry"`},
	}
	for _, tt := range tests {
		s := &Server{auth: tt.auth}
		if got := s.challenge(tt.used, tt.code, tt.desc, tt.scope); got != tt.want {
			t.Errorf("%s: challenge = %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// replayServer is a Server with the given replay scopes, as New sets them.
func replayServer(scopes []string) *Server {
	srv, err := New(Config{}, &topics.Table{}, Deps{Producer: nopProducer{}, ReplayScopes: scopes})
	if err != nil {
		panic(err)
	}
	return srv
}
