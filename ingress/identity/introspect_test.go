package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// idp is a local identity provider's introspection endpoint.
type idp struct {
	*httptest.Server
	calls  atomic.Int32
	tokens map[string]map[string]any // token -> answer; others are inactive
}

func newIDP(t *testing.T, tokens map[string]map[string]any) *idp {
	t.Helper()
	p := &idp{tokens: tokens}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "ferry" || secret != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		ans, ok := p.tokens[r.PostFormValue("token")]
		if !ok {
			ans = map[string]any{"active": false}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(p.Close)
	return p
}

func introspectionAuth(t *testing.T, url string, now func() time.Time, issuers ...string) *Authenticator {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), Config{Introspection: &IntrospectionConfig{
		URL: url, ClientID: "ferry", ClientSecretFile: secret, CacheTTL: 30 * time.Second, Issuers: issuers,
	}}, WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestIntrospection checks opaque tokens against a real local endpoint:
// an active token is a principal with its scopes and claims, cached until
// cache_ttl or its exp, whichever comes first; an inactive one is
// invalid; an endpoint that fails makes the check fail closed with
// ErrAuthUnavailable.
func TestIntrospection(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	p := newIDP(t, map[string]map[string]any{
		"opaque-good":  {"active": true, "sub": "alice", "scope": "orders:write orders:read", "tenant": "acme", "exp": clock.Add(time.Hour).Unix()},
		"opaque-short": {"active": true, "client_id": "batch", "exp": clock.Add(40 * time.Second).Unix()},
	})
	a := introspectionAuth(t, p.URL, now)
	bearer := func(tok string) Credential { return Credential{Scheme: SchemeBearer, Value: tok} }

	pr, err := a.Authenticate(context.Background(), bearer("opaque-good"))
	if err != nil {
		t.Fatal(err)
	}
	if pr.ID != "alice" || !pr.HasScopes([]string{"orders:write"}) || pr.Claims["tenant"] != "acme" {
		t.Errorf("principal %+v", pr)
	}
	if _, err := a.Authenticate(context.Background(), bearer("opaque-good")); err != nil || p.calls.Load() != 1 {
		t.Errorf("second use: %v, %d calls to the endpoint, want 1 (cached)", err, p.calls.Load())
	}
	clock = clock.Add(31 * time.Second) // past cache_ttl
	if _, err := a.Authenticate(context.Background(), bearer("opaque-good")); err != nil || p.calls.Load() != 2 {
		t.Errorf("after cache_ttl: %v, %d calls, want 2", err, p.calls.Load())
	}

	pr, err = a.Authenticate(context.Background(), bearer("opaque-short"))
	if err != nil || pr.ID != "batch" {
		t.Fatalf("client credentials token: %v %+v", err, pr)
	}
	calls := p.calls.Load()
	clock = clock.Add(10 * time.Second) // past its exp, inside cache_ttl
	if _, err := a.Authenticate(context.Background(), bearer("opaque-short")); !errors.Is(err, ErrInvalidCredentials) || p.calls.Load() != calls+1 {
		t.Errorf("after exp: %v with %d new calls, want invalid after asking again", err, p.calls.Load()-calls)
	}

	if _, err := a.Authenticate(context.Background(), bearer("opaque-revoked")); !errors.Is(err, ErrInvalidCredentials) || Reason(err) != "the token is not active" {
		t.Errorf("inactive token: %v (%q), want invalid: not active", err, Reason(err))
	}

	p.Close()
	if _, err := a.Authenticate(context.Background(), bearer("opaque-other")); !errors.Is(err, ErrAuthUnavailable) || errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("endpoint down: %v, want ErrAuthUnavailable (fail closed, not invalid)", err)
	}
}

// TestIntrospectionWants routes opaque tokens and JWTs of listed issuers
// to the endpoint, and other JWTs to local verification.
func TestIntrospectionWants(t *testing.T) {
	t.Parallel()
	in := &introspector{cfg: IntrospectionConfig{Issuers: []string{"https://idp.example"}}}
	jwtOf := func(iss string) string {
		payload, _ := json.Marshal(map[string]string{"iss": iss, "sub": "x"})
		return "eyJhbGciOiJSUzI1NiJ9." + b64(payload) + ".c2ln"
	}
	for tok, want := range map[string]bool{
		"opaque-token":                     true,
		jwtOf("https://idp.example"):       true,
		jwtOf("https://elsewhere.example"): false,
		"a.b!.c":                           true,
	} {
		if got := in.wants(tok); got != want {
			t.Errorf("wants(%.40q) = %v, want %v", tok, got, want)
		}
	}
	// Without issuers to introspect, JWTs are verified locally, but an
	// opaque token with two dots is no JWT: it goes to the endpoint.
	local := &introspector{}
	for tok, want := range map[string]bool{
		"good.a.b":                   true,
		"opaque-token":               true,
		jwtOf("https://idp.example"): false,
	} {
		if got := local.wants(tok); got != want {
			t.Errorf("without issuers, wants(%.40q) = %v, want %v", tok, got, want)
		}
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestMissingClaimNamed: a token without iss, aud or exp, where each is
// required, is refused with a reason naming that claim (and no key
// material), as golang-jwt v5 reports it.
func TestMissingClaimNamed(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	full := jwt.MapClaims{"sub": "a", "iss": "https://idp", "aud": "ferry", "exp": time.Now().Add(time.Hour).Unix()}
	for _, claim := range []string{"iss", "aud", "exp"} {
		claims := jwt.MapClaims{}
		for k, v := range full {
			if k != claim {
				claims[k] = v
			}
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		_, err = jwt.NewParser(jwt.WithIssuer("https://idp"), jwt.WithAudience("ferry"), jwt.WithExpirationRequired(),
			jwt.WithValidMethods([]string{"HS256"})).Parse(tok, func(*jwt.Token) (any, error) { return secret, nil })
		if got, want := tokenErrorReason(err), "the token lacks a required claim ("+claim+")"; got != want {
			t.Errorf("without %s: %q, want %q", claim, got, want)
		}
	}
}
