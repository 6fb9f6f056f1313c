// Package identity turns what a request presents into who sent it:
// credentials (a JWT bearer token, an opaque token to introspect, an API
// key, a verified client certificate) into a Principal with its scopes and
// claims. It verifies JWTs (golang-jwt, with an algorithm allowlist bound
// to key types, static keys and JWKS), asks an OAuth2 introspection
// endpoint (RFC 7662) about opaque tokens, matches client certificates to
// auth.mtls entries (and verifies those the handshake took unverified),
// hashes and compares API keys in constant time, and caches verified
// tokens until they expire.
//
// It is plain Go: it may import golang-jwt, jwkset, golang-lru and the
// standard library, and never Fiber, fasthttp or another ferry package,
// so that it can be tested, and reused (by a WebSocket upgrade, by a console) without
// an HTTP server. The HTTP layer copies what a request presents into a
// Presented, and calls Authenticate with its Credential; it knows nothing
// of the handler chain.
//
// A new kind of credential adds a Scheme, its field in Presented, a case
// in Authenticate and a verifier file of its own beside jwt.go, apikey.go,
// introspect.go and mtls.go.
package identity

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Authenticator verifies JWT bearer tokens and API keys as a Config says.
// Build it with New; it is safe for concurrent use.
type Authenticator struct {
	jwt    *jwtVerifier  // nil without jwt
	remote *remoteKeys   // nil without jwt.jwks_url
	keys   *apiKeys      // nil without api_keys
	cache  *tokenCache   // nil when disabled
	intro  *introspector // nil without introspection
	mtls   []MTLSConfig
	now    func() time.Time
}

// Option configures New.
type Option func(*options)

type options struct {
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
}

// WithLogger sets the logger, overriding the default of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the time source used for exp, nbf and the token cache,
// overriding the default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithJWKSClient sets the HTTP client that fetches jwks_url, overriding the
// default of a client with a 10s timeout.
func WithJWKSClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// New loads the keys of cfg (PEM files, inline JWKS, HMAC secret from the
// environment) and, with a jwks_url, fetches it and keeps refreshing it in
// the background until ctx ends. A JWKS that cannot be fetched at start is
// logged, not fatal: its keys may come with a later fetch.
func New(ctx context.Context, cfg Config, opts ...Option) (*Authenticator, error) {
	o := options{log: slog.Default(), now: time.Now}
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
	a := &Authenticator{now: o.now, mtls: cfg.MTLS}
	if in := cfg.Introspection; in != nil {
		var err error
		if a.intro, err = newIntrospector(*in, o.client, o.now); err != nil {
			return nil, err
		}
	}
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
func (a *Authenticator) Authenticate(ctx context.Context, cred Credential) (*Principal, error) {
	switch cred.Scheme {
	case SchemeAPIKey:
		if a.keys == nil {
			return nil, Invalid("API keys are not accepted here", ErrSchemeNotAccepted)
		}
		return a.keys.lookup(cred.Value)
	case SchemeBearer:
		if a.intro != nil && (a.jwt == nil || a.intro.wants(cred.Value)) {
			return a.intro.authenticate(ctx, cred.Value)
		}
		if a.jwt == nil {
			return nil, Invalid("bearer tokens are not accepted here", ErrSchemeNotAccepted)
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
	return nil, Invalid("unsupported credential scheme", ErrMalformedCredentials)
}

// Ready reports whether the keys are usable: with a jwks_url, whether it
// has given at least one key. It suits a /readyz check.
func (a *Authenticator) Ready(ctx context.Context) error {
	if a.remote == nil {
		return nil
	}
	return a.remote.ready(ctx)
}
