package ingress_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestBadCredentials sends each kind of bad credential to a protected
// route: each is a 401 unauthenticated problem with an RFC 6750
// WWW-Authenticate challenge, never echoes the credential, and produces
// nothing.
func TestBadCredentials(t *testing.T) {
	t.Parallel()
	k := getKeys(t)
	g := startPolicyGateway(t, policyOpts{})
	expectNothingIn(t, g.cluster, "orders")

	good := claims("alice", "orders:write")
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		change(c)
		return c
	}
	valid := mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", good)
	parts := strings.Split(valid, ".")

	// alg none, as an attacker would write it (golang-jwt needs a magic
	// key to even produce one).
	none := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa", good)
	// HS256 with the RSA public key's PEM as the HMAC secret: the classic
	// key-confusion attack against libraries that let the token pick.
	der, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	confused := mint(t, jwt.SigningMethodHS256, rsaPubPEM, "rsa", good)
	confusedNoKID := mint(t, jwt.SigningMethodHS256, rsaPubPEM, "", good)
	// The payload of another subject, spliced with alice's signature.
	evil, _ := json.Marshal(with(func(c jwt.MapClaims) { c["sub"] = "mallory"; c["scope"] = "orders:write admin" }))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(evil) + "." + parts[2]
	// A header padded past ferry's token bound, under the server's header limit.
	bigHeader := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, good)
		tok.Header["kid"], tok.Header["pad"] = "rsa", strings.Repeat("x", 9000)
		s, _ := tok.SignedString(k.rsa)
		return s
	}()
	crit := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, good)
		tok.Header["kid"], tok.Header["crit"] = "rsa", []string{"exp"}
		s, _ := tok.SignedString(k.rsa)
		return s
	}()
	numericKID := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, good)
		tok.Header["kid"] = 42
		s, _ := tok.SignedString(k.rsa)
		return s
	}()

	tests := []struct {
		name   string
		hdr    []string
		code   string // RFC 6750 error code in WWW-Authenticate; "" for none
		secret string // must not appear in the answer
		reason string // in the problem's detail: refused for the right reason
	}{
		{"no credentials", nil, "", "", "requires credentials"},
		{"alg none", bearer(none), "invalid_token", none, "signature or algorithm is invalid"},
		{"HS256 signed with the RSA public key", bearer(confused), "invalid_token", confused, "not allowed for its key"},
		{"HS256 signed with the RSA public key, no kid", bearer(confusedNoKID), "invalid_token", confusedNoKID, "kid) is unknown"},
		{"PS256 with a key configured for RS256", bearer(mint(t, jwt.SigningMethodPS256, k.rsa, "rsa", good)), "invalid_token", "", "not allowed for its key"},
		{"RS256 with the EC key's kid", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "ec", good)), "invalid_token", "", "not allowed for its key"},
		{"signed by another RSA key", bearer(mint(t, jwt.SigningMethodRS256, k.otherRSA, "rsa", good)), "invalid_token", "", "signature or algorithm is invalid"},
		{"expired", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Minute).Unix() // past the 30s leeway
		}))), "invalid_token", "", "has expired"},
		{"not yet valid", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(func(c jwt.MapClaims) {
			// Far past the 30s leeway: this parallel subtest may start long
			// after the table is built (with nbf a minute on, it was once
			// accepted, 202, in a full test run).
			c["nbf"] = time.Now().Add(30 * time.Minute).Unix()
		}))), "invalid_token", "", "not valid yet"},
		{"no exp", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(func(c jwt.MapClaims) { delete(c, "exp") }))), "invalid_token", "", "required claim (exp)"},
		{"no sub", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(func(c jwt.MapClaims) { delete(c, "sub") }))), "invalid_token", "", "no subject"},
		{"wrong issuer", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }))), "invalid_token", "", "wrong issuer"},
		{"wrong audience", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(func(c jwt.MapClaims) { c["aud"] = "another-api" }))), "invalid_token", "", "wrong audience"},
		{"scope claim of the wrong type", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(func(c jwt.MapClaims) { c["scope"] = 7 }))), "invalid_token", "", "scope claim is malformed"},
		{"unknown kid", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rotated-away", good)), "invalid_token", "", "kid) is unknown"},
		{"kid not a string", bearer(numericKID), "invalid_token", "", "kid) is unknown"},
		{"crit header", bearer(crit), "invalid_token", "", "critical header"},
		{"tampered payload", bearer(tampered), "invalid_token", tampered, "signature or algorithm is invalid"},
		{"truncated token", bearer(valid[:len(valid)-20]), "invalid_token", valid[:len(valid)-20], "token"},
		{"signature dropped", bearer(parts[0] + "." + parts[1]), "invalid_token", parts[1], "malformed"},
		{"oversized header", bearer(bigHeader), "invalid_token", "", "too large"},
		{"empty bearer", []string{"Authorization", "Bearer "}, "invalid_request", "", "no credentials after its scheme"}, // trailing space trimmed in transit
		{"bearer without a space", []string{"Authorization", "Bearer"}, "invalid_request", "", "no credentials after its scheme"},
		{"bearer with inner spaces", []string{"Authorization", "Bearer " + parts[0] + " " + parts[1]}, "invalid_request", "", "empty or malformed"},
		{"basic auth", []string{"Authorization", "Basic YWxpY2U6c2VjcmV0"}, "invalid_request", "YWxpY2U6c2VjcmV0", "scheme is not supported"},
		{"wrong API key", []string{"X-API-Key", "not-a-configured-key"}, "invalid_token", "not-a-configured-key", "API key is invalid"},
		{"wrong API key in Authorization", []string{"Authorization", "ApiKey not-a-configured-key"}, "invalid_token", "not-a-configured-key", "API key is invalid"},
		{"API key in the wrong header", []string{"X-Api-Token", apiKeyWriter}, "", apiKeyWriter, "requires credentials"},
		{"API key sent as a bearer token", bearer(apiKeyWriter), "invalid_token", apiKeyWriter, "malformed"},
		{"empty API key scheme", []string{"Authorization", "ApiKey "}, "invalid_request", "", "no credentials after its scheme"},
		{"two credentials", append(bearer(valid), "X-API-Key", apiKeyWriter), "invalid_request", apiKeyWriter, "send one credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, tt.hdr...)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("POST = %d %s, want 401", resp.StatusCode, b)
			}
			p := problemOf(t, b)
			if p.Type != problem.Unauthenticated.URI || !strings.Contains(p.Detail, tt.reason) || p.RequestID == "" {
				t.Errorf("problem = %+v, want unauthenticated, a detail with %q, and a request id", p, tt.reason)
			}
			chal := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(chal, `Bearer realm="ferry"`) || !strings.Contains(chal, `ApiKey realm="ferry"`) {
				t.Errorf("WWW-Authenticate = %q, want Bearer and ApiKey challenges", chal)
			}
			if tt.code == "" && strings.Contains(chal, "error=") {
				t.Errorf("WWW-Authenticate = %q, want no error code without credentials (RFC 6750 3.1)", chal)
			}
			if tt.code != "" && !strings.Contains(chal, `error="`+tt.code+`"`) {
				t.Errorf("WWW-Authenticate = %q, want error=%q", chal, tt.code)
			}
			if tt.secret != "" && (strings.Contains(string(b), tt.secret) || strings.Contains(chal, tt.secret)) {
				t.Errorf("the answer echoes the credential: %s / %s", chal, b)
			}
		})
	}
}

// TestGoodCredentials posts with each accepted credential and checks the
// record's authcontext headers.
func TestGoodCredentials(t *testing.T) {
	t.Parallel()
	k := getKeys(t)
	g := startPolicyGateway(t, policyOpts{})
	// Minted when sent (hdr is then nil, see the loop): a token minted
	// with the table was past the 30s leeway by the time its request went
	// out once, on a loaded machine with the race detector.
	nearlyExpired := func() []string {
		c := claims("leeway", "orders:write")
		c["exp"] = time.Now().Add(-10 * time.Second).Unix() // inside the 30s leeway
		return bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", c))
	}
	arrayScope := claims("array", "")
	arrayScope["scope"] = []string{"orders:read", "orders:write"}

	tests := []struct {
		name             string
		hdr              []string
		authType, authID string
	}{
		{"RS256", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", claims("rs", "orders:write"))), identity.PrincipalJWT, "rs"},
		{"ES256", bearer(mint(t, jwt.SigningMethodES256, k.ec, "ec", claims("es", "orders:write"))), identity.PrincipalJWT, "es"},
		{"EdDSA", bearer(mint(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims("ed", "orders:write"))), identity.PrincipalJWT, "ed"},
		{"HS256 from the environment", bearer(mint(t, jwt.SigningMethodHS256, k.hmac, "hmac", claims("hs", "orders:write"))), identity.PrincipalJWT, "hs"},
		{"lower-case scheme", []string{"Authorization", "bearer " + mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", claims("lower", "orders:write"))}, identity.PrincipalJWT, "lower"},
		{"expired within the leeway", nil, identity.PrincipalJWT, "leeway"},
		{"scopes as an array", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", arrayScope)), identity.PrincipalJWT, "array"},
		{"API key header", []string{"X-API-Key", apiKeyWriter}, identity.PrincipalAPIKey, "writer-bot"},
		{"API key header, other case", []string{"x-api-key", apiKeyWriter}, identity.PrincipalAPIKey, "writer-bot"},
		{"Authorization ApiKey", []string{"Authorization", "ApiKey " + apiKeyWriter}, identity.PrincipalAPIKey, "writer-bot"},
	}
	type want struct{ name, authType, authID string }
	var mu sync.Mutex
	byID := make(map[string]want)
	t.Run("post", func(t *testing.T) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				cust := "c-" + string(rune('a'+i))
				hdr := tt.hdr
				if hdr == nil {
					hdr = nearlyExpired()
				}
				resp, b := g.post(t, "/v1/orders", `{"customer_id":"`+cust+`"}`, hdr...)
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("POST = %d %s, want 202", resp.StatusCode, b)
				}
				mu.Lock()
				byID[decodeAccepted(t, b).ID] = want{tt.name, tt.authType, tt.authID}
				mu.Unlock()
			})
		}
	})
	recs := topicstest.Read(t, g.cluster, "orders", len(byID), 5*time.Second)
	if len(recs) != len(tests) {
		t.Errorf("read %d records, want %d", len(recs), len(tests))
	}
	for _, r := range recs {
		h := recordHeaders(r)
		w, ok := byID[h["ce_id"]]
		if !ok {
			t.Errorf("record with unknown ce_id %q", h["ce_id"])
			continue
		}
		if h["ce_authtype"] != w.authType || h["ce_authid"] != w.authID {
			t.Errorf("%s: ce_authtype %q ce_authid %q, want %q %q", w.name, h["ce_authtype"], h["ce_authid"], w.authType, w.authID)
		}
	}
}

// TestAnonymousRoute checks that an auth: none route needs nothing and
// marks its records unauthenticated, even when credentials are sent.
func TestAnonymousRoute(t *testing.T) {
	t.Parallel()
	g := startPolicyGateway(t, policyOpts{})
	resp, b := g.post(t, "/v1/open", `{}`, bearer("garbage")...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/open = %d %s, want 202", resp.StatusCode, b)
	}
	recs := topicstest.Read(t, g.cluster, "open", 1, 5*time.Second)
	if len(recs) != 1 {
		t.Fatalf("read %d records, want 1", len(recs))
	}
	h := recordHeaders(recs[0])
	if h["ce_authtype"] != identity.PrincipalAnonymous || h["ce_authid"] != "" {
		t.Errorf("ce_authtype %q ce_authid %q, want unauthenticated and none", h["ce_authtype"], h["ce_authid"])
	}
}

// TestDenyByDefault: without an Authenticator every protected route is a
// 401, whatever the request carries.
func TestDenyByDefault(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	resp, b := g.do(t, "POST", "/v1/secured", "application/json", []byte(`{}`), "Authorization", "Bearer "+rsaToken(t, "alice", ""))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /v1/secured without an Authenticator = %d %s, want 401", resp.StatusCode, b)
	}
	if chal := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(chal, `Bearer realm="ferry"`) {
		t.Errorf("WWW-Authenticate = %q", chal)
	}
}

// TestInlineJWKS accepts tokens verified by an inline JWKS, each key bound
// to its JWK alg, or to its type's family when the JWK names none.
func TestInlineJWKS(t *testing.T) {
	t.Parallel()
	k := getKeys(t)
	jwks := jwksJSON(t, []jwksKey{{k.ec.Public(), "ec-1", ""}, {&k.rsa.PublicKey, "rsa-1", "RS384"}})
	ctx := context.Background()
	auth, err := identity.New(ctx, identity.Config{JWT: &identity.JWTConfig{JWKS: string(jwks)}})
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"ES256 by the EC key", mint(t, jwt.SigningMethodES256, k.ec, "ec-1", claims("a", "")), true},
		{"RS384 as the JWK says", mint(t, jwt.SigningMethodRS384, k.rsa, "rsa-1", claims("b", "")), true},
		{"RS256 where the JWK says RS384", mint(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims("c", "")), false},
		{"ES384 with a P-256 key", mint(t, jwt.SigningMethodES256, k.ec, "rsa-1", claims("d", "")), false},
		{"HS256 with the JWKS's kid", mint(t, jwt.SigningMethodHS256, []byte("guess"), "ec-1", claims("e", "")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := auth.Authenticate(ctx, identity.Credential{Scheme: identity.SchemeBearer, Value: tt.token})
			if (err == nil) != tt.ok {
				t.Fatalf("Authenticate = %+v, %v; want ok=%v", p, err, tt.ok)
			}
		})
	}
}

type jwksKey struct {
	pub any
	kid string
	alg string
}

func jwksJSON(tb testing.TB, keys []jwksKey) []byte {
	tb.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.UseSig}})
		if err != nil {
			tb.Fatalf("NewJWKFromKey: %v", err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// jwksServer serves a JWKS that a test can change, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int64
}

func newJWKSServer(tb testing.TB, body []byte) *jwksServer {
	tb.Helper()
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.body)
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// TestJWKSURL covers a JWKS fetched from a URL: the first fetch at start,
// a refetch when a token names a new kid (key rotation), no refetch for
// another unknown kid within jwks_min_refetch, and the background refresh
// dropping a removed key.
func TestJWKSURL(t *testing.T) {
	t.Parallel()
	k := getKeys(t)
	srv := newJWKSServer(t, jwksJSON(t, []jwksKey{{k.ec.Public(), "k1", "ES256"}}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auth, err := identity.New(ctx, identity.Config{JWT: &identity.JWTConfig{
		JWKSURL: srv.URL, JWKSRefresh: time.Hour, JWKSMinRefetch: time.Hour, CacheSize: -1,
	}}, identity.WithLogger(testLogger()))
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	if err := auth.Ready(ctx); err != nil {
		t.Fatalf("Ready after start = %v", err)
	}
	verify := func(token string) error {
		_, err := auth.Authenticate(ctx, identity.Credential{Scheme: identity.SchemeBearer, Value: token})
		return err
	}
	if err := verify(mint(t, jwt.SigningMethodES256, k.ec, "k1", claims("a", ""))); err != nil {
		t.Fatalf("token by k1: %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("%d fetches after start and a known kid, want 1", n)
	}

	// Rotation: the issuer adds k2 and signs with it.
	srv.set(jwksJSON(t, []jwksKey{{k.ec.Public(), "k1", "ES256"}, {k.ed.Public(), "k2", "EdDSA"}}))
	if err := verify(mint(t, jwt.SigningMethodEdDSA, k.ed, "k2", claims("b", ""))); err != nil {
		t.Fatalf("token by the new k2: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after a new kid, want 2", n)
	}
	// A flood of unknown kids costs no fetch until jwks_min_refetch passes.
	for i := range 20 {
		if err := verify(mint(t, jwt.SigningMethodEdDSA, k.ed, "bogus-"+string(rune('a'+i)), claims("c", ""))); err == nil {
			t.Fatal("token with an unknown kid accepted")
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after 20 unknown kids, want still 2", n)
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	t.Parallel()
	k := getKeys(t)
	srv := newJWKSServer(t, jwksJSON(t, []jwksKey{{k.ec.Public(), "k1", ""}}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auth, err := identity.New(ctx, identity.Config{JWT: &identity.JWTConfig{
		JWKSURL: srv.URL, JWKSRefresh: 20 * time.Millisecond, JWKSMinRefetch: time.Hour, CacheSize: -1,
	}}, identity.WithLogger(testLogger()))
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	token := mint(t, jwt.SigningMethodES256, k.ec, "k1", claims("a", ""))
	cred := identity.Credential{Scheme: identity.SchemeBearer, Value: token}
	if _, err := auth.Authenticate(ctx, cred); err != nil {
		t.Fatalf("token by k1: %v", err)
	}
	srv.set([]byte(`{"keys":[]}`)) // k1 revoked
	topicstest.Eventually(t, 2*time.Second, 10*time.Millisecond, func() error {
		if _, err := auth.Authenticate(ctx, cred); err == nil {
			return errStillAccepted
		}
		return nil
	})
}

var errStillAccepted = &stillAccepted{}

type stillAccepted struct{}

func (*stillAccepted) Error() string { return "token by a revoked key still accepted" }

// TestJWKSUnreachableAtStart: ferry starts, /readyz says why, and the keys
// arrive with the first token naming them.
func TestJWKSUnreachableAtStart(t *testing.T) {
	t.Parallel()
	k := getKeys(t)
	srv := newJWKSServer(t, nil)
	srv.set([]byte("not json"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auth, err := identity.New(ctx, identity.Config{JWT: &identity.JWTConfig{JWKSURL: srv.URL, JWKSMinRefetch: time.Nanosecond}},
		identity.WithLogger(testLogger()))
	if err != nil {
		t.Fatalf("identity.New with a broken JWKS = %v, want a start anyway", err)
	}
	if err := auth.Ready(ctx); err == nil {
		t.Error("Ready = nil without any key")
	}
	srv.set(jwksJSON(t, []jwksKey{{k.ed.Public(), "k1", ""}}))
	if _, err := auth.Authenticate(ctx, identity.Credential{Scheme: identity.SchemeBearer, Value: mint(t, jwt.SigningMethodEdDSA, k.ed, "k1", claims("a", ""))}); err != nil {
		t.Errorf("token after the JWKS recovered: %v", err)
	}
	if err := auth.Ready(ctx); err != nil {
		t.Errorf("Ready after a successful fetch = %v", err)
	}
}

// TestAuthErrorsWrapSentinel: every refusal wraps ErrInvalidCredentials.
func TestAuthErrorsWrapSentinel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	auth, err := identity.New(ctx, identity.Config{APIKeys: []identity.APIKeyConfig{{ID: "a", SHA256: sha256Hex("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, cred := range []identity.Credential{
		{Scheme: identity.SchemeAPIKey, Value: "y"},
		{Scheme: identity.SchemeAPIKey, Value: strings.Repeat("y", 1000)},
		{Scheme: identity.SchemeBearer, Value: "a.b.c"}, // no jwt configured
		{Scheme: "Basic", Value: "x"},
	} {
		if _, err := auth.Authenticate(ctx, cred); !errorsIs(err, identity.ErrInvalidCredentials) {
			t.Errorf("Authenticate(%s) = %v, want ErrInvalidCredentials", cred.Scheme, err)
		}
	}
}
