package ingress

import (
	"crypto/sha256"
	"strings"
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
	opts := cmp.AllowUnexported(policy{})
	tests := []struct {
		name string
		got  policy
		want policy
	}{
		{"route requires auth by default", routePolicy(table.Routes()[0]), policy{name: "a", auth: true}},
		{"route auth none", routePolicy(table.Routes()[1]), policy{name: "b", auth: false, limit: table.Routes()[1].RateLimit}},
		{"stream requires auth by default", streamPolicy(topics.StreamConfig{Name: "s", Scopes: []string{"orders:read"}}), policy{name: "stream:s", auth: true, scopes: []string{"orders:read"}}},
		{"stream auth none", streamPolicy(topics.StreamConfig{Name: "s", Auth: topics.AuthNone}), policy{name: "stream:s"}},
		{"replay defaults to admin", replayServer(nil).replayPolicy(), policy{name: "replay", auth: true, scopes: []string{"admin"}}},
		{"replay scopes", replayServer([]string{"ops"}).replayPolicy(), policy{name: "replay", auth: true, scopes: []string{"ops"}}},
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

func TestIdempotencyRecordRoundTrip(t *testing.T) {
	t.Parallel()
	fp := sha256.Sum256([]byte("x"))
	for _, resp := range []StoredResponse{
		{Status: 202, ContentType: "application/json", Location: "/v1/results/1", Body: []byte(`{"id":"1"}`)},
		{Status: 400, ContentType: "application/problem+json", Body: []byte{}},
		{Status: 204, Body: []byte{}},
	} {
		rec, err := decodeRecord(encodeResponse(fp, resp))
		if err != nil || !rec.Done || rec.Fingerprint != fp {
			t.Fatalf("decodeRecord(encodeResponse(%+v)) = %+v, %v", resp, rec, err)
		}
		if diff := cmp.Diff(resp, rec.Response); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	rec, err := decodeRecord([]byte(encodeClaim(IdempotencyClaim{Fingerprint: fp, Owner: "o"})))
	if err != nil || rec.Done || rec.Fingerprint != fp {
		t.Errorf("decodeRecord(claim) = %+v, %v; want in flight", rec, err)
	}
	for _, bad := range []string{"", "D", "X" + strings.Repeat("a", 40), "D" + strings.Repeat("a", 32) + "\x00", "D" + strings.Repeat("a", 32) + "\x00\xca\x05ab"} {
		if _, err := decodeRecord([]byte(bad)); err == nil {
			t.Errorf("decodeRecord(%q) = nil error", bad)
		}
	}
}

func TestParseIdempotencyKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`, "8e03978e-40d5-43e8-bc93-6894a57f9324", true},
		{`plain`, "plain", true},
		{`"with space"`, "with space", true},
		{`""`, "", false},
		{`"`, "", false},
		{`"a\"b"`, "", false},
		{`"a\\b"`, "", false},
		{"\"tab\there\"", "", false},
		{`"` + strings.Repeat("k", 255) + `"`, strings.Repeat("k", 255), true},
		{`"` + strings.Repeat("k", 256) + `"`, "", false},
	}
	for _, tt := range tests {
		got, ok := parseIdempotencyKey([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseIdempotencyKey(%.30q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
