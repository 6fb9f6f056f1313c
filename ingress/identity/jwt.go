package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes bounds a bearer token. Real tokens are far smaller; the
// bound keeps a hostile header from costing base64 and JSON work.
const maxTokenBytes = 8 << 10

// Algorithm families, bound to key types: a key is only ever used with the
// algorithms of its own type, so an RSA public key can never serve as an
// HMAC secret (the "HS256 signed with the RSA public key" attack), and
// "none" is accepted with no key at all.
var (
	rsaAlgs  = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	hmacAlgs = []string{"HS256", "HS384", "HS512"}
	// validAlgs is every algorithm the parser accepts before looking up a key.
	validAlgs = slices.Concat(rsaAlgs, []string{"ES256", "ES384", "ES512", "EdDSA"}, hmacAlgs)
)

// verifyKey is one key that may verify tokens, with the algorithms it may
// be used with.
type verifyKey struct {
	key  any // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte (HMAC)
	algs []string
}

// keyAlgs returns the algorithms a key of this type may be used with, or
// nil when ferry does not accept the type.
func keyAlgs(key any) []string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil
		}
		return rsaAlgs
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	case []byte:
		return hmacAlgs
	}
	return nil
}

// newVerifyKey binds a key to alg ("" for every algorithm of its type),
// after checking that alg fits the key's type.
func newVerifyKey(key any, alg string) (verifyKey, error) {
	key = publicKey(key)
	algs := keyAlgs(key)
	if algs == nil {
		return verifyKey{}, fmt.Errorf("unsupported key type %T (RSA keys need at least 2048 bits)", key)
	}
	if alg == "" {
		return verifyKey{key: key, algs: algs}, nil
	}
	if !slices.Contains(algs, alg) {
		return verifyKey{}, fmt.Errorf("alg %s does not fit this %s key (use %s)", alg, keyTypeName(key), strings.Join(algs, ", "))
	}
	return verifyKey{key: key, algs: []string{alg}}, nil
}

// publicKey returns the public half of a private key, else key itself.
func publicKey(key any) any {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case ed25519.PrivateKey:
		return k.Public()
	}
	return key
}

func keyTypeName(key any) string {
	switch key.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "EC"
	case ed25519.PublicKey:
		return "Ed25519"
	case []byte:
		return "HMAC"
	}
	return fmt.Sprintf("%T", key)
}

// keySet maps kids to keys. It is immutable after loadStaticKeys.
type keySet map[string][]verifyKey

// loadStaticKeys loads the PEM files, the inline JWKS and the HMAC secret,
// reporting every problem as "jwt.field: problem".
func loadStaticKeys(cfg JWTConfig) (keySet, error) {
	ks := make(keySet)
	var errs []error
	for i, k := range cfg.Keys {
		key, err := readPEMKey(k.File)
		if err == nil {
			var vk verifyKey
			if vk, err = newVerifyKey(key, k.Alg); err == nil {
				ks[k.KID] = append(ks[k.KID], vk)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("jwt.keys[%d].file: %w", i, err))
		}
	}
	if cfg.JWKS != "" {
		keys, err := parseJWKS([]byte(cfg.JWKS))
		if err != nil {
			errs = append(errs, fmt.Errorf("jwt.jwks: %w", err))
		}
		for kid, vks := range keys {
			ks[kid] = append(ks[kid], vks...)
		}
	}
	if cfg.HMACSecretEnv != "" {
		secret := os.Getenv(cfg.HMACSecretEnv)
		switch {
		case secret == "":
			errs = append(errs, fmt.Errorf("jwt.hmac_secret_env: environment variable %s is not set", cfg.HMACSecretEnv))
		case len(secret) < 32:
			errs = append(errs, fmt.Errorf("jwt.hmac_secret_env: the secret in %s must be at least 32 bytes", cfg.HMACSecretEnv))
		default:
			ks[cfg.HMACKID] = append(ks[cfg.HMACKID], verifyKey{key: []byte(secret), algs: hmacAlgs})
		}
	}
	return ks, errors.Join(errs...)
}

// readPEMKey reads a public key (or certificate) from a PEM file.
func readPEMKey(path string) (any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a public key or certificate (never configure a private key)", block.Type)
}

// parseJWKS parses a JSON Web Key Set into verify keys by kid. Symmetric
// (oct) keys are refused: an HMAC secret comes only from the environment.
func parseJWKS(raw []byte) (keySet, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	ks := make(keySet)
	var errs []error
	for i, m := range set.Keys {
		if m.KTY == jwkset.KtyOct {
			errs = append(errs, fmt.Errorf("keys[%d]: %w", i, errOctKey))
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		vk, err := jwkKey(jwk)
		if err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		ks[m.KID] = append(ks[m.KID], vk)
	}
	return ks, errors.Join(errs...)
}

// jwkKey turns one JWK into a verify key bound to its alg (or its type's
// family when the JWK names none).
func jwkKey(jwk jwkset.JWK) (verifyKey, error) {
	m := jwk.Marshal()
	if m.KTY == jwkset.KtyOct {
		return verifyKey{}, errOctKey
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return verifyKey{}, fmt.Errorf("key use %q is not sig", m.USE)
	}
	return newVerifyKey(jwk.Key(), m.ALG.String())
}

// remoteKeys is a JWKS fetched from a URL: refreshed in the background, and
// fetched again when a token names an unknown kid, at most once per
// minRefetch. It is safe for concurrent use.
type remoteKeys struct {
	url        string
	store      jwkset.Storage // shared by the background refresh and refetches
	client     *http.Client
	timeout    time.Duration
	minRefetch time.Duration
	lastFetch  atomic.Int64 // unix nanos of the last refetch for an unknown kid
	fetches    atomic.Int64 // refetches done for unknown kids, for tests
	now        func() time.Time
	log        *slog.Logger
}

// newRemoteKeys fetches url once (a failure is logged, not fatal: the keys
// may come later) and refreshes it every refresh until ctx ends.
func newRemoteKeys(ctx context.Context, cfg JWTConfig, client *http.Client, now func() time.Time, log *slog.Logger) (*remoteKeys, error) {
	r := &remoteKeys{
		url:        cfg.JWKSURL,
		store:      jwkset.NewMemoryStorage(),
		client:     client,
		timeout:    10 * time.Second,
		minRefetch: cfg.JWKSMinRefetch,
		now:        now,
		log:        log,
	}
	_, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               r.timeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			log.LogAttrs(ctx, slog.LevelWarn, "fetching the JWKS failed; keeping the keys already known",
				slog.String("url", cfg.JWKSURL), slog.Any("err", err))
		},
		RefreshInterval: cfg.JWKSRefresh,
		Storage:         r.store,
	})
	if err != nil {
		return nil, fmt.Errorf("jwt.jwks_url: %w", err)
	}
	return r, nil
}

// key returns the verify key for kid, fetching the JWKS again when kid is
// unknown and the last such fetch is older than minRefetch. It never waits
// for the rate limit: a refused refetch is an unknown kid.
func (r *remoteKeys) key(ctx context.Context, kid string) (verifyKey, error) {
	jwk, err := r.store.KeyRead(ctx, kid)
	if errors.Is(err, jwkset.ErrKeyNotFound) && r.mayRefetch() {
		r.fetches.Add(1)
		_, ferr := jwkset.NewStorageFromHTTP(r.url, jwkset.HTTPClientStorageOptions{
			Client: r.client, Ctx: context.WithoutCancel(ctx), HTTPTimeout: r.timeout, Storage: r.store,
		})
		if ferr != nil {
			r.log.LogAttrs(ctx, slog.LevelWarn, "fetching the JWKS for an unknown kid failed",
				slog.String("url", r.url), slog.Any("err", ferr))
		}
		jwk, err = r.store.KeyRead(ctx, kid)
	}
	if err != nil {
		return verifyKey{}, errUnknownKID
	}
	return jwkKey(jwk)
}

func (r *remoteKeys) mayRefetch() bool {
	now := r.now().UnixNano()
	last := r.lastFetch.Load()
	if last != 0 && now-last < int64(r.minRefetch) {
		return false
	}
	return r.lastFetch.CompareAndSwap(last, now)
}

// ready reports whether the JWKS has given at least one key.
func (r *remoteKeys) ready(ctx context.Context) error {
	keys, err := r.store.KeyReadAll(ctx)
	if err != nil || len(keys) == 0 {
		return fmt.Errorf("no keys fetched from %s yet", r.url)
	}
	return nil
}

// jwtVerifier verifies bearer tokens and turns their claims into a
// Principal. It is safe for concurrent use.
type jwtVerifier struct {
	parser     *jwt.Parser
	static     keySet
	remote     *remoteKeys // nil without jwks_url
	scopeClaim string
	claims     []string // nil: every scalar claim
}

var (
	errUnknownKID    = errors.New("unknown kid")
	errAlgNotAllowed = errors.New("alg not allowed for the key")
	errCritHeader    = errors.New("crit header")
	errNoSubject     = errors.New("no sub claim")
	errBadScopeClaim = errors.New("scope claim is neither a string nor an array of strings")
	errTokenTooLarge = errors.New("token too large")
	errOctKey        = errors.New("symmetric (oct) keys are not accepted from a JWKS; use hmac_secret_env")
)

func newJWTVerifier(cfg JWTConfig, static keySet, remote *remoteKeys, now func() time.Time) *jwtVerifier {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(validAlgs),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithJSONNumber(),
		jwt.WithTimeFunc(now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &jwtVerifier{
		parser:     jwt.NewParser(opts...),
		static:     static,
		remote:     remote,
		scopeClaim: cfg.ScopeClaim,
		claims:     cfg.Claims,
	}
}

// verify checks a token and returns its principal. Errors wrap
// ErrInvalidCredentials and say why in words safe to show the client.
func (v *jwtVerifier) verify(ctx context.Context, token string) (*Principal, error) {
	if len(token) > maxTokenBytes {
		return nil, Invalid("the token is too large", errTokenTooLarge)
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		return nil, Invalid(tokenErrorReason(err), err)
	}
	return v.principal(claims)
}

// keyFor selects the key by kid, then by the token's alg among that kid's
// keys: a key is used only with an algorithm of its own type.
func (v *jwtVerifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritHeader // no critical extension is understood
	}
	kid := ""
	if k, ok := t.Header["kid"]; ok {
		s, isString := k.(string)
		if !isString {
			return nil, errUnknownKID
		}
		kid = s
	}
	alg := t.Method.Alg()
	keys := v.static[kid]
	for _, k := range keys {
		if slices.Contains(k.algs, alg) {
			return k.key, nil
		}
	}
	if v.remote != nil && kid != "" && len(keys) == 0 {
		k, err := v.remote.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		if slices.Contains(k.algs, alg) {
			return k.key, nil
		}
		return nil, errAlgNotAllowed
	}
	if len(keys) > 0 {
		return nil, errAlgNotAllowed
	}
	return nil, errUnknownKID
}

// tokenErrorReason words a verification failure for the client
// (error_description). It never includes any part of the token.
// missingClaimRe finds the claim golang-jwt v5 says is missing.
var missingClaimRe = regexp.MustCompile(`\b(iss|aud|exp|nbf|iat|sub) claim is required`)

func tokenErrorReason(err error) string {
	switch {
	case errors.Is(err, errUnknownKID):
		return "the token's key id (kid) is unknown"
	case errors.Is(err, errAlgNotAllowed):
		return "the token's algorithm is not allowed for its key"
	case errors.Is(err, errCritHeader):
		return "the token has critical header parameters ferry does not understand"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token has the wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token has the wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// golang-jwt names the claim: "iss claim is required".
		if m := missingClaimRe.FindStringSubmatch(err.Error()); m != nil {
			return "the token lacks a required claim (" + m[1] + ")"
		}
		return "the token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature or algorithm is invalid"
	}
	return "the token cannot be verified"
}

// principal builds the principal of verified claims.
func (v *jwtVerifier) principal(claims jwt.MapClaims) (*Principal, error) {
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, Invalid("the token has no subject (sub)", errNoSubject)
	}
	p := &Principal{ID: sub, Kind: PrincipalJWT}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		p.Expires = exp.Time
	}
	switch s := claims[v.scopeClaim].(type) {
	case nil:
	case string:
		p.Scopes = strings.Fields(s)
	case []any:
		p.Scopes = make([]string, 0, len(s))
		for _, e := range s {
			str, ok := e.(string)
			if !ok {
				return nil, Invalid("the token's scope claim is malformed", errBadScopeClaim)
			}
			p.Scopes = append(p.Scopes, str)
		}
	default:
		return nil, Invalid("the token's scope claim is malformed", errBadScopeClaim)
	}
	if v.claims != nil {
		p.Claims = make(map[string]string, len(v.claims))
		for _, name := range v.claims {
			if s, ok := claimString(claims[name]); ok {
				p.Claims[name] = s
			}
		}
		return p, nil
	}
	p.Claims = make(map[string]string, len(claims))
	for name, val := range claims {
		if s, ok := claimString(val); ok {
			p.Claims[name] = s
		}
	}
	return p, nil
}

// claimString formats a scalar claim for key templates.
func claimString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
