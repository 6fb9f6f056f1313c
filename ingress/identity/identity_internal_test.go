package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"hash/maphash"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
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
			got, err := ParseAuthorization(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, ErrMalformedCredentials) || !strings.Contains(Reason(err), tt.wantReason) {
					t.Errorf("ParseAuthorization(%q) = %+v, %v; want a malformed-credentials error saying %q", tt.in, got, err, tt.wantReason)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseAuthorization(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
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
	a, err := New(context.Background(), Config{JWT: &JWTConfig{JWKS: string(set), Leeway: time.Second}}, WithClock(now))
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
	if _, err := a.Authenticate(context.Background(), cred); !errors.Is(err, ErrInvalidCredentials) || !strings.Contains(Reason(err), "expired") {
		t.Errorf("Authenticate after exp = %v, want expired", err)
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
		{Anonymous, []string{"a"}, []string{"a"}},
	}
	for _, tt := range tests {
		if got := tt.p.Missing(tt.required); !cmp.Equal(got, tt.want) {
			t.Errorf("%v.Missing(%q) = %q, want %q", tt.p, tt.required, got, tt.want)
		}
	}
}
