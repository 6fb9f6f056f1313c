package ingress

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"hash/maphash"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/topics"
)

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in   string
		want       Credential
		wantErr    bool
		wantReason string
	}{
		{name: "bearer", in: "Bearer abc.def-_~+/.ghi==", want: Credential{SchemeBearer, "abc.def-_~+/.ghi=="}},
		{name: "scheme case-insensitive", in: "bEaReR abc", want: Credential{SchemeBearer, "abc"}},
		{name: "several spaces", in: "Bearer   abc", want: Credential{SchemeBearer, "abc"}},
		{name: "api key", in: "ApiKey k!#$%&'*+-.^_`|~3", want: Credential{SchemeAPIKey, "k!#$%&'*+-.^_`|~3"}},
		{name: "apikey lower", in: "apikey k", want: Credential{SchemeAPIKey, "k"}},
		{name: "empty", in: "", wantErr: true, wantReason: "malformed"},
		{name: "scheme only", in: "Bearer", wantErr: true, wantReason: "no credentials after its scheme"},
		{name: "empty token", in: "Bearer ", wantErr: true, wantReason: "empty or malformed"},
		{name: "only padding", in: "Bearer ==", wantErr: true, wantReason: "empty or malformed"},
		{name: "padding inside", in: "Bearer a=b", wantErr: true, wantReason: "empty or malformed"},
		{name: "trailing space", in: "Bearer abc ", wantErr: true, wantReason: "empty or malformed"},
		{name: "tab", in: "Bearer\tabc", wantErr: true, wantReason: "malformed"},
		{name: "quote in token", in: `Bearer a"b`, wantErr: true, wantReason: "empty or malformed"},
		{name: "control in key", in: "ApiKey a\x01b", wantErr: true, wantReason: "empty or malformed"},
		{name: "non-ASCII", in: "Bearer aé", wantErr: true, wantReason: "empty or malformed"},
		{name: "basic", in: "Basic dXNlcjpwYXNz", wantErr: true, wantReason: "not supported"},
		{name: "bearerx", in: "Bearerx abc", wantErr: true, wantReason: "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseAuthorization(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, errMalformedAuthorization) || !strings.Contains(credentialReason(err), tt.wantReason) {
					t.Errorf("parseAuthorization(%q) = %+v, %v; want a malformed-credentials error saying %q", tt.in, got, err, tt.wantReason)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseAuthorization(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestTokenCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tc := newTokenCache(3)
	alice := &Principal{ID: "alice"}
	tc.put("token-a", alice, now.Add(time.Minute), now)
	if got := tc.get("token-a", now); got != alice {
		t.Errorf("get(token-a) = %v, want alice", got)
	}
	if got := tc.get("token-a", now.Add(time.Minute)); got != nil {
		t.Errorf("get(token-a) at its expiry = %v, want nil", got)
	}
	// A long-lived token is trusted for at most maxCacheTTL.
	tc.put("token-long", alice, now.Add(24*time.Hour), now)
	if tc.get("token-long", now.Add(maxCacheTTL-time.Second)) == nil || tc.get("token-long", now.Add(maxCacheTTL)) != nil {
		t.Errorf("a day-long token is cached for other than maxCacheTTL (%v)", maxCacheTTL)
	}
	// An expired token is not cached.
	tc.put("token-old", alice, now.Add(-time.Second), now)
	if tc.get("token-old", now.Add(-2*time.Second)) != nil {
		t.Error("an already expired token was cached")
	}
	// A colliding entry never lends its principal to another token.
	tc.mu.Lock()
	tc.entries[hashOf(tc, "token-b")] = cacheEntry{token: "token-x", p: alice, expires: now.Add(time.Minute).UnixNano()}
	tc.mu.Unlock()
	if got := tc.get("token-b", now); got != nil {
		t.Errorf("get(token-b) over an entry of token-x = %v, want nil", got)
	}
	// Bounded: never more than size entries.
	for i := range 50 {
		tc.put("t"+strconv.Itoa(i), alice, now.Add(time.Minute), now)
		if n := tc.len(); n > 3 {
			t.Fatalf("cache holds %d entries, want at most 3", n)
		}
	}
}

func hashOf(tc *tokenCache, token string) uint64 { return maphash.String(tc.seed, token) }

// TestAuthCacheExpiresWithToken: a cached token is served from the cache
// (the same principal) until its exp, then verified again, and refused.
func TestAuthCacheExpiresWithToken(t *testing.T) {
	t.Parallel()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	var clock atomic.Int64
	t0 := time.Now().Truncate(time.Second)
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a, err := NewAuth(context.Background(), AuthConfig{JWT: &JWTConfig{JWKS: string(set), Leeway: time.Second}}, WithAuthClock(now))
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "alice", "exp": t0.Add(time.Minute).Unix()})
	tok.Header["kid"] = "k"
	signed, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	cred := Credential{Scheme: SchemeBearer, Value: signed}
	p1, err := a.Authenticate(context.Background(), cred)
	if err != nil {
		t.Fatalf("Authenticate = %v", err)
	}
	if p2, err := a.Authenticate(context.Background(), cred); err != nil || p2 != p1 {
		t.Errorf("second Authenticate = %p, %v; want the cached %p", p2, err, p1)
	}
	if a.cache.len() != 1 {
		t.Errorf("cache holds %d entries, want 1", a.cache.len())
	}
	clock.Store(t0.Add(2 * time.Minute).UnixNano())
	if _, err := a.Authenticate(context.Background(), cred); !errors.Is(err, ErrInvalidCredentials) || !strings.Contains(credentialReason(err), "expired") {
		t.Errorf("Authenticate after exp = %v, want expired", err)
	}
}

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

func TestMissingScopes(t *testing.T) {
	t.Parallel()
	p := &Principal{Scopes: []string{"a", "b"}}
	tests := []struct {
		p        *Principal
		required []string
		want     []string
	}{
		{p, nil, nil},
		{p, []string{"a"}, nil},
		{p, []string{"a", "b"}, nil},
		{p, []string{"a", "c", "d"}, []string{"c", "d"}},
		{nil, []string{"a"}, []string{"a"}},
		{anonymous, []string{"a"}, []string{"a"}},
	}
	for _, tt := range tests {
		if got := missingScopes(tt.p, tt.required); !cmp.Equal(got, tt.want) {
			t.Errorf("missingScopes(%v, %q) = %q, want %q", tt.p, tt.required, got, tt.want)
		}
	}
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

func TestChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		auth                    AuthConfig
		used, code, desc, scope string
		want                    string
	}{
		{"missing, both kinds", AuthConfig{JWT: &JWTConfig{}, APIKeys: []APIKeyConfig{{}}}, "", "", "no credentials", "",
			`Bearer realm="ferry", ApiKey realm="ferry"`},
		{"bad token", AuthConfig{JWT: &JWTConfig{}, APIKeys: []APIKeyConfig{{}}}, SchemeBearer, "invalid_token", "the token has expired", "",
			`Bearer realm="ferry", error="invalid_token", error_description="the token has expired", ApiKey realm="ferry"`},
		{"bad key", AuthConfig{JWT: &JWTConfig{}, APIKeys: []APIKeyConfig{{}}}, SchemeAPIKey, "invalid_token", "the API key is invalid", "",
			`Bearer realm="ferry", ApiKey realm="ferry", error="invalid_token", error_description="the API key is invalid"`},
		{"scope, API keys only", AuthConfig{APIKeys: []APIKeyConfig{{}}}, SchemeAPIKey, "insufficient_scope", "", "a b",
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

// TestRedisImportsConfined enforces STYLE: go-redis (and redis_rate) may be
// imported by ingress only in ratelimit.go and idempotency.go.
func TestRedisImportsConfined(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"ratelimit.go": true, "idempotency.go": true}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || allowed[f] {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.Contains(p, "redis") {
				t.Errorf("%s imports %s; only ratelimit.go and idempotency.go may (STYLE)", f, p)
			}
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
