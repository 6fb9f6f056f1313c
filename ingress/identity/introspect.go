package identity

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// IntrospectionConfig is `auth.introspection`: bearer tokens that are not
// JWTs (opaque tokens), and JWTs from the listed issuers, are checked with
// the identity provider's OAuth 2.0 token introspection endpoint (RFC 7662).
type IntrospectionConfig struct {
	// URL is the introspection endpoint. Required.
	URL string `yaml:"url"`
	// ClientID and the secret authenticate ferry to the endpoint (HTTP
	// Basic, RFC 7662 section 2.1).
	ClientID string `yaml:"client_id"`
	// ClientSecretFile holds the client secret, relative to the config
	// file; the secret is never written in the config itself.
	ClientSecretFile string `yaml:"client_secret_file"`
	// Issuers are JWT issuers whose tokens are introspected too, instead
	// of verified locally (revocable JWTs).
	Issuers []string `yaml:"issuers"`
	// CacheTTL bounds how long an active answer is trusted (and never past
	// the token's exp); default 30s.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// ScopeClaim names the member holding scopes; default "scope".
	ScopeClaim string `yaml:"scope_claim"`
	// Timeout bounds one call to the endpoint; default 2s.
	Timeout time.Duration `yaml:"timeout"`
}

// Defaults of IntrospectionConfig.
const (
	DefaultIntrospectionCacheTTL = 30 * time.Second
	DefaultIntrospectionTimeout  = 2 * time.Second
)

// ErrAuthUnavailable is wrapped by Authenticate's error when the token
// cannot be checked because the introspection endpoint failed: the request
// fails closed (503), it is neither accepted nor called invalid.
var ErrAuthUnavailable = errors.New("authentication unavailable")

// withDefaults fills in the defaults.
func (c IntrospectionConfig) withDefaults() IntrospectionConfig {
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultIntrospectionCacheTTL
	}
	if c.ScopeClaim == "" {
		c.ScopeClaim = DefaultScopeClaim
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultIntrospectionTimeout
	}
	return c
}

// validate reports the section's problems, naming the fields.
func (c IntrospectionConfig) validate() []error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("introspection.url: must be an http:// or https:// URL with a host"))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("introspection.client_id: required"))
	}
	if c.ClientSecretFile == "" {
		errs = append(errs, errors.New("introspection.client_secret_file: required (the secret is never written in the config)"))
	}
	for _, d := range []struct {
		at string
		d  time.Duration
	}{{"cache_ttl", c.CacheTTL}, {"timeout", c.Timeout}} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("introspection.%s: must be >= 0", d.at))
		}
	}
	return errs
}

// introspector calls the introspection endpoint and caches active answers.
type introspector struct {
	cfg    IntrospectionConfig
	auth   string // the Authorization header to the endpoint
	client *http.Client
	cache  *tokenCache
	now    func() time.Time
}

func newIntrospector(cfg IntrospectionConfig, client *http.Client, now func() time.Time) (*introspector, error) {
	cfg = cfg.withDefaults()
	secret, err := os.ReadFile(cfg.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("introspection.client_secret_file: %w", err)
	}
	s := strings.TrimSpace(string(secret))
	if s == "" {
		return nil, fmt.Errorf("introspection.client_secret_file: %s is empty", cfg.ClientSecretFile)
	}
	basic := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(s) // RFC 6749 2.3.1: form-encoded, then Basic
	return &introspector{
		cfg:    cfg,
		auth:   "Basic " + base64.StdEncoding.EncodeToString([]byte(basic)),
		client: client,
		cache:  newTokenCache(DefaultTokenCacheSize),
		now:    now,
	}, nil
}

// wants reports whether token goes to introspection: it is not a JWT, or
// it is a JWT whose (unverified) issuer is listed.
func (in *introspector) wants(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return true
	}
	// Three parts make a JWT only when its header and claims decode as
	// JSON objects: an opaque token may have dots too.
	var header struct {
		Alg string `json:"alg"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &header) != nil || header.Alg == "" {
		return true
	}
	raw, err = base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return true // not a JWT after all
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return true
	}
	return slices.Contains(in.cfg.Issuers, claims.Iss)
}

// authenticate returns the principal the endpoint vouches for, from the
// cache while it lasts. An inactive token is invalid (401); an endpoint
// that fails is ErrAuthUnavailable (503).
func (in *introspector) authenticate(ctx context.Context, token string) (*Principal, error) {
	now := in.now()
	if p := in.cache.get(token, now); p != nil {
		return p, nil
	}
	ans, err := in.call(ctx, token)
	if err != nil {
		return nil, err
	}
	if active, _ := ans["active"].(bool); !active {
		return nil, Invalid("the token is not active", errInactive)
	}
	p, err := in.principal(ans)
	if err != nil {
		return nil, err
	}
	expires := now.Add(in.cfg.CacheTTL)
	if !p.Expires.IsZero() {
		if !p.Expires.After(now) {
			return nil, Invalid("the token has expired", errInactive)
		}
		if p.Expires.Before(expires) {
			expires = p.Expires
		}
	}
	in.cache.put(token, p, expires, now)
	return p, nil
}

var errInactive = errors.New("token inactive")

// call posts the token to the endpoint and decodes its answer.
func (in *introspector) call(ctx context.Context, token string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, in.cfg.Timeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.cfg.URL, strings.NewReader(form))
	if err != nil {
		return nil, fmt.Errorf("%w: introspection request: %v", ErrAuthUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", in.auth)
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection endpoint: %v", ErrAuthUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: introspection endpoint: %v", ErrAuthUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: introspection endpoint answered %d", ErrAuthUnavailable, resp.StatusCode)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var ans map[string]any
	if err := d.Decode(&ans); err != nil {
		return nil, fmt.Errorf("%w: introspection endpoint: not a JSON object: %v", ErrAuthUnavailable, err)
	}
	return ans, nil
}

// principal builds the principal of an active answer: sub (else
// username, else client_id), the scopes, exp, and the string claims.
func (in *introspector) principal(ans map[string]any) (*Principal, error) {
	id := ""
	for _, k := range []string{"sub", "username", "client_id"} {
		if s, ok := ans[k].(string); ok && s != "" {
			id = s
			break
		}
	}
	if id == "" {
		return nil, Invalid("the introspected token names no subject (sub, username or client_id)", errNoSubject)
	}
	p := &Principal{ID: id, Kind: PrincipalJWT, Claims: make(map[string]string, len(ans))}
	if n, ok := ans["exp"].(json.Number); ok {
		if secs, err := n.Int64(); err == nil {
			p.Expires = time.Unix(secs, 0)
		}
	}
	switch s := ans[in.cfg.ScopeClaim].(type) {
	case nil:
	case string:
		p.Scopes = strings.Fields(s)
	case []any:
		for _, e := range s {
			if str, ok := e.(string); ok {
				p.Scopes = append(p.Scopes, str)
			}
		}
	}
	for k, v := range ans {
		if s, ok := claimString(v); ok {
			p.Claims[k] = s
		}
	}
	return p, nil
}
