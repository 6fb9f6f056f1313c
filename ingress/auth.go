package ingress

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ferry-gw/ferry/ingress/problem"
)

// Credential schemes.
const (
	// SchemeBearer is a JWT in "Authorization: Bearer <token>".
	SchemeBearer = "Bearer"
	// SchemeAPIKey is an API key in the API key header or in
	// "Authorization: ApiKey <key>".
	SchemeAPIKey = "ApiKey"
)

// Credential is what a request presents to prove who sent it. Value is
// only valid during the call that receives it: it may point into the
// request's buffers.
type Credential struct {
	Scheme string // SchemeBearer or SchemeAPIKey
	Value  string
}

// Auth verifies JWT bearer tokens and API keys as an AuthConfig says. Build
// it with NewAuth; it is safe for concurrent use. It implements
// Authenticator.
type Auth struct {
	jwt    *jwtVerifier // nil without auth.jwt
	remote *remoteKeys  // nil without auth.jwt.jwks_url
	keys   *apiKeys     // nil without auth.api_keys
	cache  *tokenCache  // nil when disabled
	now    func() time.Time
}

// AuthOption configures NewAuth.
type AuthOption func(*authOptions)

type authOptions struct {
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
}

// WithAuthLogger sets the logger, overriding the default of slog.Default().
func WithAuthLogger(l *slog.Logger) AuthOption { return func(o *authOptions) { o.log = l } }

// WithAuthClock sets the time source used for exp, nbf and the token
// cache, overriding the default time.Now.
func WithAuthClock(now func() time.Time) AuthOption { return func(o *authOptions) { o.now = now } }

// WithJWKSClient sets the HTTP client that fetches jwks_url, overriding the
// default of a client with a 10s timeout.
func WithJWKSClient(c *http.Client) AuthOption { return func(o *authOptions) { o.client = c } }

// NewAuth loads the keys of cfg (PEM files, inline JWKS, HMAC secret from
// the environment) and, with a jwks_url, fetches it and keeps refreshing it
// in the background until ctx ends. A JWKS that cannot be fetched at start
// is logged, not fatal: its keys may come with a later fetch.
func NewAuth(ctx context.Context, cfg AuthConfig, opts ...AuthOption) (*Auth, error) {
	o := authOptions{log: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: 10 * time.Second}
	}
	log := o.log.With("component", "auth")
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Auth{now: o.now}
	if len(cfg.APIKeys) > 0 {
		a.keys = newAPIKeys(cfg.APIKeys)
	}
	if j := cfg.JWT; j != nil {
		static, err := loadStaticKeys(*j)
		if err != nil {
			return nil, err
		}
		if j.JWKSURL != "" {
			if a.remote, err = newRemoteKeys(ctx, *j, o.client, o.now, log); err != nil {
				return nil, err
			}
		}
		a.jwt = newJWTVerifier(*j, static, a.remote, o.now)
		if j.CacheSize > 0 {
			a.cache = newTokenCache(j.CacheSize)
		}
	}
	return a, nil
}

// Authenticate returns the principal of a credential, or an error wrapping
// ErrInvalidCredentials. Verified tokens are cached until they expire.
func (a *Auth) Authenticate(ctx context.Context, cred Credential) (*Principal, error) {
	switch cred.Scheme {
	case SchemeAPIKey:
		if a.keys == nil {
			return nil, invalid("API keys are not accepted here", errAPIKeysDisabled)
		}
		return a.keys.lookup(cred.Value)
	case SchemeBearer:
		if a.jwt == nil {
			return nil, invalid("bearer tokens are not accepted here", errBearerDisabled)
		}
		if a.cache == nil {
			return a.jwt.verify(ctx, cred.Value)
		}
		now := a.now()
		if p := a.cache.get(cred.Value, now); p != nil {
			return p, nil
		}
		p, err := a.jwt.verify(ctx, cred.Value)
		if err != nil {
			return nil, err
		}
		a.cache.put(cred.Value, p, p.Expires, now)
		return p, nil
	}
	return nil, invalid("unsupported credential scheme", errMalformedAuthorization)
}

// Ready reports whether the keys are usable: with a jwks_url, whether it
// has given at least one key. It suits a /readyz Check.
func (a *Auth) Ready(ctx context.Context) error {
	if a.remote == nil {
		return nil
	}
	return a.remote.ready(ctx)
}

var errMalformedAuthorization = errors.New("malformed credentials")

// parseAuthorization parses an Authorization header value: "Bearer
// <token68>" or "ApiKey <key>", the scheme case-insensitive (RFC 9110
// 11.1), separated by one or more spaces. It never returns the value in an
// error.
func parseAuthorization(h string) (Credential, error) {
	i := strings.IndexByte(h, ' ')
	if i < 0 {
		if strings.EqualFold(h, SchemeBearer) || strings.EqualFold(h, SchemeAPIKey) {
			return Credential{}, invalid("the Authorization header has no credentials after its scheme", errMalformedAuthorization)
		}
		return Credential{}, invalid("the Authorization header is malformed; send Bearer <token> or ApiKey <key>", errMalformedAuthorization)
	}
	scheme, value := h[:i], strings.TrimLeft(h[i+1:], " ")
	var cred Credential
	switch {
	case strings.EqualFold(scheme, SchemeBearer):
		cred.Scheme = SchemeBearer
		if !isToken68(value) {
			return Credential{}, invalid("the bearer token is empty or malformed", errMalformedAuthorization)
		}
	case strings.EqualFold(scheme, SchemeAPIKey):
		cred.Scheme = SchemeAPIKey
		if !isVisibleASCII(value) {
			return Credential{}, invalid("the API key is empty or malformed", errMalformedAuthorization)
		}
	default:
		return Credential{}, invalid("the Authorization scheme is not supported; send Bearer <token> or ApiKey <key>", errMalformedAuthorization)
	}
	cred.Value = value
	return cred, nil
}

// isToken68 reports whether s is an RFC 9110 token68: 1*( ALPHA / DIGIT /
// "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	n := len(s)
	for n > 0 && s[n-1] == '=' {
		n--
	}
	if n == 0 {
		return false
	}
	for i := 0; i < n; i++ {
		if !token68Chars[s[i]] {
			return false
		}
	}
	return true
}

// token68Chars are the characters of a token68 before its padding.
var token68Chars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", byte(c)) >= 0
	}
	return t
}()

// isVisibleASCII reports whether s is non-empty and only visible ASCII.
func isVisibleASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// credential extracts the request's credential: the API key header, or
// the Authorization header. Both at once is refused as ambiguous.
func (s *Server) credential(c *fiber.Ctx) (Credential, error) {
	authz := c.Get(fiber.HeaderAuthorization)
	key := c.Get(s.auth.APIKeyHeader)
	switch {
	case authz != "" && key != "":
		return Credential{}, invalid("send one credential, not both an Authorization and an "+s.auth.APIKeyHeader+" header", errMalformedAuthorization)
	case key != "":
		if !isVisibleASCII(key) {
			return Credential{}, invalid("the API key is malformed", errMalformedAuthorization)
		}
		return Credential{Scheme: SchemeAPIKey, Value: key}, nil
	case authz == "":
		if tok := s.cookieToken(c); tok != "" {
			return Credential{Scheme: SchemeBearer, Value: tok}, nil
		}
		return Credential{}, ErrNoCredentials
	}
	return parseAuthorization(authz)
}

// cookieToken returns the bearer token of the auth.cookie cookie on GET
// and HEAD requests, or "" (see AuthConfig.Cookie).
func (s *Server) cookieToken(c *fiber.Ctx) string {
	if s.auth.Cookie == "" || (c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead) {
		return ""
	}
	tok := c.Cookies(s.auth.Cookie)
	if tok == "" || !isVisibleASCII(tok) {
		return ""
	}
	return strings.Clone(tok)
}

// authenticate is the first middleware of every protected endpoint: it
// establishes the principal (anonymous on auth: none), then checks the
// endpoint's scopes. A request failing here reaches no handler, so it
// produces nothing. Without an Authenticator every protected endpoint
// answers 401: deny by default.
func (s *Server) authenticate(p policy) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.authorize(c, p); err != nil {
			return err
		}
		return c.Next()
	}
}

// authorize establishes the request's principal under policy p: the
// anonymous principal where p needs no credentials, else the verified
// principal holding p's scopes. It returns the 401 or 403 problem
// otherwise. Handlers whose policy depends on the request (a stream's
// name) call it directly; everyone else goes through authenticate.
func (s *Server) authorize(c *fiber.Ctx, p policy) error {
	ri := info(c)
	ri.route = p.name
	if s.principalOf != nil {
		// Tests only (withPrincipals): the principal is given.
		if pr := s.principalOf(c); pr != nil {
			if !pr.Expires.IsZero() && !time.Now().Before(pr.Expires) {
				return s.unauthenticated(c, ri, "", invalid("the token has expired", jwt.ErrTokenExpired))
			}
			if missing := missingScopes(pr, p.scopes); p.auth && missing != nil {
				return s.forbidden(c, ri, pr, "", p.scopes, missing)
			}
			ri.principal = pr
			return nil
		}
	}
	if !p.auth {
		ri.principal = anonymous
		return nil
	}
	var pr *Principal
	cred, err := s.credential(c)
	if p.optional && errors.Is(err, ErrNoCredentials) {
		ri.principal = anonymous
		return nil
	}
	if err == nil {
		if s.deps.Authenticator == nil {
			err = invalid("no credentials are accepted here", errBearerDisabled)
		} else {
			pr, err = s.deps.Authenticator.Authenticate(c.UserContext(), cred)
		}
	}
	if err != nil {
		return s.unauthenticated(c, ri, cred.Scheme, err)
	}
	if missing := missingScopes(pr, p.scopes); missing != nil {
		return s.forbidden(c, ri, pr, cred.Scheme, p.scopes, missing)
	}
	ri.principal = pr
	c.SetUserContext(withPrincipal(c.UserContext(), pr))
	return nil
}

// unauthenticated answers 401 with an RFC 6750 challenge: no error code
// for missing credentials, invalid_request for a malformed header, else
// invalid_token.
func (s *Server) unauthenticated(c *fiber.Ctx, ri *reqInfo, scheme string, err error) error {
	s.metrics.AuthFailure(failureReason(err))
	detail, code := "this endpoint requires credentials", ""
	if !errors.Is(err, ErrNoCredentials) {
		detail, code = credentialReason(err), "invalid_token"
		if errors.Is(err, errMalformedAuthorization) {
			code = "invalid_request"
		}
	}
	if s.log.Enabled(c.UserContext(), slog.LevelDebug) {
		s.log.LogAttrs(c.UserContext(), slog.LevelDebug, "authentication failed",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.String("reason", detail), slog.Any("err", err))
	}
	pe := problem.New(problem.Unauthenticated, detail)
	pe.WWWAuthenticate = s.challenge(scheme, code, detail, "")
	return pe
}

// forbidden answers 403 insufficient_scope, naming the scopes required.
func (s *Server) forbidden(c *fiber.Ctx, ri *reqInfo, pr *Principal, scheme string, required, missing []string) error {
	s.metrics.AuthFailure("insufficient_scope")
	if s.log.Enabled(c.UserContext(), slog.LevelDebug) {
		s.log.LogAttrs(c.UserContext(), slog.LevelDebug, "scope check failed",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.String("principal", pr.ID),
			slog.String("missing", strings.Join(missing, " ")))
	}
	pe := problem.New(problem.Forbidden, "the credentials lack the scope(s) "+strings.Join(missing, " ")+" that this endpoint requires")
	pe.WWWAuthenticate = s.challenge(scheme, "insufficient_scope", "", strings.Join(required, " "))
	return pe
}

// challenge builds WWW-Authenticate: one challenge per accepted scheme,
// the error parameters on the scheme the client used (Bearer when none).
func (s *Server) challenge(used, code, desc, scope string) string {
	schemes := make([]string, 0, 2)
	if s.auth.JWT != nil || !s.auth.Configured() {
		schemes = append(schemes, SchemeBearer)
	}
	if len(s.auth.APIKeys) > 0 {
		schemes = append(schemes, SchemeAPIKey)
	}
	if used == "" {
		used = schemes[0]
	}
	var b strings.Builder
	for i, sc := range schemes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(sc)
		b.WriteString(` realm="ferry"`)
		if sc != used {
			continue
		}
		if code == "" {
			continue // RFC 6750 3.1: no error code without credentials
		}
		b.WriteString(`, error="` + code + `"`)
		if desc != "" {
			b.WriteString(`, error_description="` + desc + `"`)
		}
		if scope != "" {
			b.WriteString(`, scope="` + scope + `"`)
		}
	}
	return b.String()
}

// failureReason is the bounded metric label of an authentication failure.
func failureReason(err error) string {
	switch {
	case errors.Is(err, ErrNoCredentials):
		return "missing"
	case errors.Is(err, errMalformedAuthorization):
		return "malformed"
	case errors.Is(err, errUnknownAPIKey):
		return "unknown_api_key"
	case errors.Is(err, errAPIKeysDisabled), errors.Is(err, errBearerDisabled):
		return "scheme_not_accepted"
	case errors.Is(err, errTokenTooLarge):
		return "token_too_large"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token_expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token_not_yet_valid"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad_signature"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong_issuer_or_audience"
	}
	return "invalid_token"
}
