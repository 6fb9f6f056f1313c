package identity

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"time"
)

// Config is the part of ferry.yaml's `auth` section that says who may call
// ferry: JWT bearer tokens, API keys, and where requests carry them. (The
// section's traffic policy, rate_limits and idempotency, is
// ingress/policy's.)
type Config struct {
	// JWT configures bearer tokens.
	JWT *JWTConfig `yaml:"jwt"`
	// APIKeys lists the accepted API keys by the SHA-256 of their value.
	APIKeys []APIKeyConfig `yaml:"api_keys"`
	// APIKeyHeader is the request header that carries an API key; default
	// "X-API-Key". "Authorization: ApiKey <key>" is always accepted too.
	APIKeyHeader string `yaml:"api_key_header"`
	// Cookie names a cookie that carries a bearer token (a JWT) for
	// browsers, whose EventSource cannot set headers; empty (the default)
	// turns cookie authentication off. The cookie is read only on GET and
	// HEAD requests (streams, results, replay), never on routes that
	// publish, so that a cross-site form cannot publish with it. Tokens
	// in query strings are never accepted.
	Cookie string `yaml:"cookie"`
	// Introspection checks opaque bearer tokens (and JWTs of the listed
	// issuers) with the identity provider (RFC 7662).
	Introspection *IntrospectionConfig `yaml:"introspection"`
	// MTLS maps verified client certificates (tls.client_ca_file) to
	// principals with scopes.
	MTLS []MTLSConfig `yaml:"mtls"`
}

// JWTConfig configures JWT bearer tokens.
type JWTConfig struct {
	// Issuer is the required iss claim; empty accepts any.
	Issuer string `yaml:"issuer"`
	// Audience is the required aud claim; empty accepts any.
	Audience string `yaml:"audience"`
	// JWKSURL is fetched at start and refreshed in the background.
	JWKSURL string `yaml:"jwks_url"`
	// JWKSRefresh is how often JWKSURL is fetched again; default 1h.
	JWKSRefresh time.Duration `yaml:"jwks_refresh"`
	// JWKSMinRefetch is the least time between two fetches of JWKSURL
	// caused by tokens naming an unknown kid; default 5m. A token with an
	// unknown kid inside that window is refused without a fetch.
	JWKSMinRefetch time.Duration `yaml:"jwks_min_refetch"`
	// JWKS is an inline JSON Web Key Set (public keys only).
	JWKS string `yaml:"jwks"`
	// Keys are public keys from PEM files.
	Keys []JWTKeyConfig `yaml:"keys"`
	// HMACSecretEnv names the environment variable holding an HMAC secret
	// (HS256, HS384, HS512) of at least 32 bytes. HMAC secrets are never
	// read from the config file itself.
	HMACSecretEnv string `yaml:"hmac_secret_env"`
	// HMACKID is the kid of tokens signed with the HMAC secret; default ""
	// (tokens without a kid).
	HMACKID string `yaml:"hmac_kid"`
	// Leeway is the clock skew allowed on exp and nbf; default 30s.
	Leeway time.Duration `yaml:"leeway"`
	// ScopeClaim names the claim holding scopes, either a space-separated
	// string or an array of strings; default "scope".
	ScopeClaim string `yaml:"scope_claim"`
	// Claims lists the claims a principal carries for key templates
	// ({claim.tenant}) and rate limits (by: claim:tenant). Empty (the
	// default) carries every top-level string, number or boolean claim.
	Claims []string `yaml:"claims"`
	// CacheSize bounds the cache of verified tokens (keyed by a hash of the
	// token; an entry lives until the token expires, at most 5 minutes);
	// default 10000, -1 disables the cache.
	CacheSize int `yaml:"cache_size"`
}

// JWTKeyConfig is one public key from a PEM file.
type JWTKeyConfig struct {
	// File is the PEM file (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE),
	// relative to the config file.
	File string `yaml:"file"`
	// Alg is the only algorithm accepted with this key, e.g. RS256. It must
	// fit the key's type.
	Alg string `yaml:"alg"`
	// KID is the key id tokens name in their header; empty matches tokens
	// without a kid.
	KID string `yaml:"kid"`
}

// APIKeyConfig is one API key. The config holds only its SHA-256.
type APIKeyConfig struct {
	// ID names the key in logs, rate limits and ce_authid. Required.
	ID string `yaml:"id"`
	// SHA256 is the hex SHA-256 of the key's value. Required.
	SHA256 string `yaml:"sha256"`
	// Scopes the key grants.
	Scopes []string `yaml:"scopes"`
	// Claims are fixed claims of the key's principal, for key templates
	// and rate limits, e.g. {tenant: acme}.
	Claims map[string]string `yaml:"claims"`
}

// Defaults of the auth section.
const (
	DefaultAPIKeyHeader   = "X-API-Key"
	DefaultLeeway         = 30 * time.Second
	DefaultScopeClaim     = "scope"
	DefaultTokenCacheSize = 10000
	DefaultJWKSRefresh    = time.Hour
	DefaultJWKSMinRefetch = 5 * time.Minute
)

// Configured reports whether any credential kind is configured.
func (c Config) Configured() bool {
	return c.JWT != nil || len(c.APIKeys) > 0 || c.Introspection != nil || len(c.MTLS) > 0
}

// WithDefaults returns c with every unset field at its documented default.
func (c Config) WithDefaults() Config {
	if c.APIKeyHeader == "" {
		c.APIKeyHeader = DefaultAPIKeyHeader
	}
	c.APIKeyHeader = textproto.CanonicalMIMEHeaderKey(c.APIKeyHeader)
	if j := c.JWT; j != nil {
		jc := *j
		if jc.Leeway == 0 {
			jc.Leeway = DefaultLeeway
		}
		if jc.ScopeClaim == "" {
			jc.ScopeClaim = DefaultScopeClaim
		}
		if jc.CacheSize == 0 {
			jc.CacheSize = DefaultTokenCacheSize
		}
		if jc.JWKSRefresh == 0 {
			jc.JWKSRefresh = DefaultJWKSRefresh
		}
		if jc.JWKSMinRefetch == 0 {
			jc.JWKSMinRefetch = DefaultJWKSMinRefetch
		}
		c.JWT = &jc
	}
	return c
}

// Validate reports every problem of the section, each as "field: problem".
// It reads no files and no environment; Check does.
func (c Config) Validate() error {
	var errs []error
	ids := make(map[string]bool)
	hashes := make(map[string]bool)
	for i, k := range c.APIKeys {
		at := fmt.Sprintf("api_keys[%d]", i)
		if k.ID == "" {
			errs = append(errs, fmt.Errorf("%s.id: required", at))
		} else if ids[k.ID] {
			errs = append(errs, fmt.Errorf("%s.id: duplicate %q", at, k.ID))
		}
		ids[k.ID] = true
		if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("%s.sha256: must be 64 hex digits (the SHA-256 of the key)", at))
		} else if h := strings.ToLower(k.SHA256); hashes[h] {
			errs = append(errs, fmt.Errorf("%s.sha256: the same key is listed twice", at))
		} else {
			hashes[h] = true
		}
		errs = append(errs, checkScopes(at+".scopes", k.Scopes)...)
	}
	if c.APIKeyHeader != "" && !validHeaderName(c.APIKeyHeader) {
		errs = append(errs, fmt.Errorf("api_key_header: %q is not a header name", c.APIKeyHeader))
	}
	if strings.EqualFold(c.APIKeyHeader, "Authorization") {
		errs = append(errs, errors.New(`api_key_header: must not be Authorization (send "Authorization: ApiKey <key>" instead)`))
	}
	if c.Introspection != nil {
		errs = append(errs, c.Introspection.validate()...)
	}
	errs = append(errs, validateMTLS(c.MTLS)...)
	if j := c.JWT; j != nil {
		if j.JWKSURL == "" && j.JWKS == "" && len(j.Keys) == 0 && j.HMACSecretEnv == "" {
			errs = append(errs, errors.New("jwt: needs keys, jwks, jwks_url or hmac_secret_env"))
		}
		if j.JWKSURL != "" && !strings.HasPrefix(j.JWKSURL, "https://") && !strings.HasPrefix(j.JWKSURL, "http://") {
			errs = append(errs, errors.New("jwt.jwks_url: must be an http:// or https:// URL"))
		}
		for _, d := range []struct {
			at string
			d  time.Duration
		}{{"leeway", j.Leeway}, {"jwks_refresh", j.JWKSRefresh}, {"jwks_min_refetch", j.JWKSMinRefetch}} {
			if d.d < 0 {
				errs = append(errs, fmt.Errorf("jwt.%s: must be >= 0", d.at))
			}
		}
		if j.CacheSize < -1 {
			errs = append(errs, errors.New("jwt.cache_size: must be > 0, or -1 to disable the cache"))
		}
		kids := make(map[string]bool)
		for i, k := range j.Keys {
			if k.File == "" {
				errs = append(errs, fmt.Errorf("jwt.keys[%d].file: required", i))
			}
			if !asymmetricAlg(k.Alg) {
				errs = append(errs, fmt.Errorf("jwt.keys[%d].alg: must be an asymmetric algorithm (RS256, PS256, ES256, EdDSA, ...), not %q", i, k.Alg))
			}
			if kids[k.KID+"\x00"+k.Alg] {
				errs = append(errs, fmt.Errorf("jwt.keys[%d].kid: another key has kid %q and alg %s", i, k.KID, k.Alg))
			}
			kids[k.KID+"\x00"+k.Alg] = true
		}
		if j.HMACSecretEnv == "" && j.HMACKID != "" {
			errs = append(errs, errors.New("jwt.hmac_kid: needs hmac_secret_env"))
		}
		for i, name := range j.Claims {
			if name == "" {
				errs = append(errs, fmt.Errorf("jwt.claims[%d]: empty", i))
			}
		}
	}
	return errors.Join(errs...)
}

// Check loads what Validate cannot see: the PEM files, the inline JWKS and
// the HMAC secret's environment variable. It reports every problem, each as
// "field: problem". c must have passed Validate.
func (c Config) Check() error {
	var errs []error
	if c.JWT != nil {
		if _, err := loadStaticKeys(*c.JWT); err != nil {
			errs = append(errs, err)
		}
	}
	if in := c.Introspection; in != nil && in.ClientSecretFile != "" {
		if _, err := newIntrospector(*in, nil, time.Now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func asymmetricAlg(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

func checkScopes(at string, scopes []string) []error {
	var errs []error
	for i, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\"\\") {
			errs = append(errs, fmt.Errorf("%s[%d]: must be a non-empty word", at, i))
		}
	}
	return errs
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}
