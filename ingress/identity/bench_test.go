package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// benchAlg is one signing algorithm with a key pair.
type benchAlg struct {
	name   string
	method jwt.SigningMethod
	sign   any
	verify any
}

func benchAlgs(b *testing.B) []benchAlg {
	b.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	_, dk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte("a-benchmark-hmac-secret-of-32-bytes-or-more")
	return []benchAlg{
		{"HS256", jwt.SigningMethodHS256, secret, secret},
		{"RS256", jwt.SigningMethodRS256, rk, &rk.PublicKey},
		{"ES256", jwt.SigningMethodES256, ek, &ek.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, dk, dk.Public()},
	}
}

// benchAuth builds an Authenticator verifying alg's tokens (kid "k"), with a token
// cache of cacheSize entries (-1: none), and a realistic token for it.
func benchAuth(b *testing.B, alg benchAlg, cacheSize int) (*Authenticator, string) {
	b.Helper()
	vk, err := newVerifyKey(alg.verify, "")
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{JWT: &JWTConfig{Issuer: "https://issuer.example", Audience: "ferry", CacheSize: cacheSize}}.WithDefaults()
	a := &Authenticator{jwt: newJWTVerifier(*cfg.JWT, keySet{"k": {vk}}, nil, time.Now), now: time.Now}
	if cacheSize > 0 {
		a.cache = newTokenCache(cacheSize)
	}
	tok := jwt.NewWithClaims(alg.method, jwt.MapClaims{
		"sub": "user-1234567890", "iss": "https://issuer.example", "aud": "ferry",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		"scope": "orders:write orders:read", "tenant": "acme", "email": "user@example.com",
	})
	tok.Header["kid"] = "k"
	signed, err := tok.SignedString(alg.sign)
	if err != nil {
		b.Fatal(err)
	}
	return a, signed
}

// BenchmarkAuthenticate verifies one bearer token per iteration, without
// the verified-token cache (cache=off: signature, claims, principal) and
// with it (cache=hit: a hash, a map lookup and a constant-time compare).
//
// Run: go test -run '^$' -bench Authenticate -benchmem ./ingress/identity
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgs(b) {
		for _, cache := range []struct {
			name string
			size int
		}{{"off", -1}, {"hit", DefaultTokenCacheSize}} {
			b.Run(fmt.Sprintf("alg=%s/cache=%s", alg.name, cache.name), func(b *testing.B) {
				a, token := benchAuth(b, alg, cache.size)
				cred := Credential{Scheme: SchemeBearer, Value: token}
				if _, err := a.Authenticate(ctx, cred); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := a.Authenticate(ctx, cred); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
