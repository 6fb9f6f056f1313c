package ingress

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// AuthConfig is the `auth` section of ferry.yaml.
type AuthConfig struct {
	// JWT configures bearer tokens.
	JWT *JWTConfig `yaml:"jwt"`
	// APIKeys lists the accepted API keys by the SHA-256 of their value.
	APIKeys []APIKeyConfig `yaml:"api_keys"`
}

// JWTConfig configures JWT bearer tokens.
type JWTConfig struct {
	// Issuer is the required iss claim; empty accepts any.
	Issuer string `yaml:"issuer"`
	// Audience is the required aud claim; empty accepts any.
	Audience string `yaml:"audience"`
	// JWKSURL is fetched at start and refreshed in the background.
	JWKSURL string `yaml:"jwks_url"`
	// JWKS is an inline JSON Web Key Set.
	JWKS string `yaml:"jwks"`
	// Keys are public keys from PEM files.
	Keys []JWTKeyConfig `yaml:"keys"`
	// HMACSecretEnv names the environment variable holding an HMAC secret.
	HMACSecretEnv string `yaml:"hmac_secret_env"`
	// Leeway is the clock skew allowed on exp and nbf; default 30s.
	Leeway time.Duration `yaml:"leeway"`
	// ScopeClaim names the claim holding scopes; default "scope".
	ScopeClaim string `yaml:"scope_claim"`
}

// JWTKeyConfig is one public key from a PEM file.
type JWTKeyConfig struct {
	// File is the PEM file, relative to the config file.
	File string `yaml:"file"`
	// Alg is the only algorithm accepted with this key, e.g. RS256.
	Alg string `yaml:"alg"`
	// KID is the key id tokens name in their header; empty matches tokens
	// without a kid.
	KID string `yaml:"kid"`
}

// APIKeyConfig is one API key. The config holds only its SHA-256.
type APIKeyConfig struct {
	// ID names the key in logs and in ce_authid. Required.
	ID string `yaml:"id"`
	// SHA256 is the hex SHA-256 of the key's value. Required.
	SHA256 string `yaml:"sha256"`
	// Scopes the key grants.
	Scopes []string `yaml:"scopes"`
}

// Configured reports whether any credential kind is configured.
func (c AuthConfig) Configured() bool { return c.JWT != nil || len(c.APIKeys) > 0 }

// Validate reports every problem of the section, each as "field: problem".
func (c AuthConfig) Validate() error {
	var errs []error
	ids := make(map[string]bool)
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
		}
	}
	if j := c.JWT; j != nil {
		if j.JWKSURL == "" && j.JWKS == "" && len(j.Keys) == 0 && j.HMACSecretEnv == "" {
			errs = append(errs, errors.New("jwt: needs keys, jwks, jwks_url or hmac_secret_env"))
		}
		if j.Leeway < 0 {
			errs = append(errs, errors.New("jwt.leeway: must be >= 0"))
		}
		for i, k := range j.Keys {
			if k.File == "" {
				errs = append(errs, fmt.Errorf("jwt.keys[%d].file: required", i))
			}
			switch k.Alg {
			case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
			default:
				errs = append(errs, fmt.Errorf("jwt.keys[%d].alg: must be an asymmetric algorithm (RS256, PS256, ES256, EdDSA, ...), not %q", i, k.Alg))
			}
		}
	}
	return errors.Join(errs...)
}
