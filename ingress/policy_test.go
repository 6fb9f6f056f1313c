package ingress_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// This file holds what the auth, authorize, rate-limit and idempotency
// tests share: test keys, token minting, and a gateway with the whole
// policy chain over kfake and Redis.

// testKeys are keys of every kind ferry verifies, generated once.
type testKeys struct {
	rsa, otherRSA *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
	hmac          []byte
}

const (
	testIssuer   = "https://issuer.test"
	testAudience = "ferry-test"
	hmacEnv      = "FERRY_TEST_HMAC_SECRET"
	// apiKeyWriter and apiKeyReader are the plaintexts of the test API keys.
	apiKeyWriter = "test-writer-key-0123456789"
	apiKeyReader = "test-reader-key-0123456789"
)

var (
	keysOnce sync.Once
	keys     testKeys
)

func getKeys(tb testing.TB) *testKeys {
	tb.Helper()
	keysOnce.Do(func() {
		var err error
		keys.rsa, keys.otherRSA = readRSAKey("testdata/keys/test-rsa-1.key"), readRSAKey("testdata/keys/test-rsa-2.key")
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, keys.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
		keys.hmac = []byte("an-hmac-secret-of-more-than-32-bytes!")
		// Process-wide: parallel tests cannot use t.Setenv.
		os.Setenv(hmacEnv, string(keys.hmac))
	})
	return &keys
}

// readRSAKey reads a PKCS#8 RSA private key (a test fixture: generating
// RSA keys is slow under the race detector).
func readRSAKey(path string) *rsa.PrivateKey {
	raw, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		panic(path + ": no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		panic(err)
	}
	return k.(*rsa.PrivateKey)
}

// writePEM writes a public key as a PEM file in dir and returns its path.
func writePEM(tb testing.TB, dir, name string, pub any) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// testAuthConfig accepts tokens from every test key (kids rsa, ec, ed,
// hmac) and the two test API keys.
func testAuthConfig(tb testing.TB) ingress.AuthConfig {
	tb.Helper()
	k := getKeys(tb)
	dir := tb.TempDir()
	return ingress.AuthConfig{Config: identity.Config{
		JWT: &identity.JWTConfig{
			Issuer:   testIssuer,
			Audience: testAudience,
			Keys: []identity.JWTKeyConfig{
				{File: writePEM(tb, dir, "rsa.pub", &k.rsa.PublicKey), Alg: "RS256", KID: "rsa"},
				{File: writePEM(tb, dir, "ec.pub", &k.ec.PublicKey), Alg: "ES256", KID: "ec"},
				{File: writePEM(tb, dir, "ed.pub", k.ed.Public()), Alg: "EdDSA", KID: "ed"},
			},
			HMACSecretEnv: hmacEnv,
			HMACKID:       "hmac",
		},
		APIKeys: []identity.APIKeyConfig{
			{ID: "writer-bot", SHA256: sha256Hex(apiKeyWriter), Scopes: []string{"orders:write"}, Claims: map[string]string{"tenant": "bots"}},
			{ID: "reader-bot", SHA256: sha256Hex(apiKeyReader), Scopes: []string{"orders:read"}},
		},
	}}
}

// claims returns valid claims for sub with scope, to be changed by tests.
func claims(sub, scope string) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub": sub,
		"iss": testIssuer,
		"aud": testAudience,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	if scope != "" {
		c["scope"] = scope
	}
	return c
}

// mint signs c with method and key, naming kid (none when "").
func mint(tb testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// rsaToken is a valid RS256 token for sub with scope.
func rsaToken(tb testing.TB, sub, scope string) string {
	tb.Helper()
	return mint(tb, jwt.SigningMethodRS256, getKeys(tb).rsa, "rsa", claims(sub, scope))
}

// policyRoutes exercise every part of the policy chain.
var policyRoutes = []topics.RouteConfig{
	{Name: "orders", Path: "/v1/orders", Topic: "orders", Key: "{body./customer_id}", Scopes: []string{"orders:write"}},
	{Name: "tenant-orders", Path: "/v1/tenant-orders", Topic: "tenants", Key: "{claim.tenant}/{body./customer_id}",
		Headers: map[string]string{"x-tenant": "{claim.tenant}"}, Scopes: []string{"orders:write"}},
	{Name: "open", Path: "/v1/open", Topic: "open", Auth: topics.AuthNone},
	{Name: "limited", Path: "/v1/limited", Topic: "limited", RateLimit: &topics.RateLimitConfig{Rate: 1, Per: time.Hour, Burst: 3}},
	{Name: "limited-ip", Path: "/v1/limited-ip", Topic: "limited", Auth: topics.AuthNone, RateLimit: &topics.RateLimitConfig{Rate: 1, Per: time.Hour, Burst: 2, By: "ip"}},
	{Name: "limited-tenant", Path: "/v1/limited-tenant", Topic: "limited", RateLimit: &topics.RateLimitConfig{Rate: 1, Per: time.Hour, Burst: 2, By: "claim:tenant"}},
	{Name: "limited-key", Path: "/v1/limited-key", Topic: "limited", RateLimit: &topics.RateLimitConfig{Rate: 1, Per: time.Hour, Burst: 2, By: "api_key"}},
}

var policyTopics = []string{"orders", "tenants", "open", "limited"}

// policyGateway is a real listener serving policyRoutes with the whole
// chain: Auth, a RedisLimiter and a RedisIdempotency.
type policyGateway struct {
	*gateway
	auth *identity.Authenticator
}

// policyOpts vary a policyGateway.
type policyOpts struct {
	auth     ingress.AuthConfig // zero: testAuthConfig
	rdb      redis.UniversalClient
	prefix   string // Redis key prefix; default a fresh one
	cluster  *kfake.Cluster
	producer ingress.Producer
	authOpts []identity.Option
	routes   []topics.RouteConfig // zero: policyRoutes
}

func startPolicyGateway(tb testing.TB, o policyOpts) *policyGateway {
	tb.Helper()
	if !o.auth.Configured() {
		o.auth = testAuthConfig(tb)
	}
	if o.rdb == nil {
		o.rdb = miniRedis(tb)
	}
	if o.prefix == "" {
		o.prefix = testPrefix()
	}
	if o.cluster == nil {
		o.cluster = topicstest.Cluster(tb, 3, policyTopics...)
	}
	if o.producer == nil {
		o.producer = topics.NewProducer(topicstest.Client(tb, o.cluster, kgo.ProducerLinger(0)), 2*time.Second)
	}
	if o.routes == nil {
		o.routes = policyRoutes
	}
	table, err := topics.NewTable(o.routes)
	if err != nil {
		tb.Fatalf("NewTable: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	corr, results := ingress.FakeReplyDeps(nil)
	auth, err := identity.New(ctx, o.auth.Config, append([]identity.Option{identity.WithLogger(testLogger())}, o.authOpts...)...)
	if err != nil {
		tb.Fatalf("identity.New: %v", err)
	}
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{
		Producer:      o.producer,
		Authenticator: auth,
		Limiter:       policy.NewRedisLimiter(o.rdb, policy.WithLimiterPrefix(o.prefix)),
		Idempotency:   policy.NewRedisIdempotency(o.rdb, policy.WithIdempotencyPrefix(o.prefix+"idem:")),
		Correlator:    corr,
		Results:       results,
	}, ingress.WithLogger(testLogger()), ingress.WithAuth(o.auth), ingress.WithMetrics(mustMetrics(tb)))
	if err != nil {
		tb.Fatalf("ingress.New: %v", err)
	}
	return &policyGateway{gateway: serveGateway(tb, srv, o.cluster), auth: auth}
}

// serveGateway serves srv on a loopback port until the test ends.
func serveGateway(tb testing.TB, srv *ingress.Server, c *kfake.Cluster) *gateway {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	g := &gateway{url: "http://" + ln.Addr().String(), client: newHTTPClient(tb), srv: srv, cluster: c, served: make(chan error, 1)}
	go func() { g.served <- srv.Serve(ln) }()
	srv.SetReady(true)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-g.served; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return g
}

// post sends a JSON body with the given headers (name, value pairs).
func (g *policyGateway) post(tb testing.TB, path, body string, hdr ...string) (*http.Response, []byte) {
	tb.Helper()
	return g.do(tb, "POST", path, "application/json", []byte(body), hdr...)
}

// bearer is the Authorization header pair of a token.
func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// miniRedis starts a miniredis for one test and returns a client of it.
func miniRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	return redisClient(tb, miniredis.RunT(tb).Addr())
}

func redisClient(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// realRedisAddr is the Redis that the integration variants use.
const realRedisAddr = "127.0.0.1:6379"

// realRedis returns a client of the real Redis at 127.0.0.1:6379, or skips
// the test with the reason when it does not answer. Keys the test writes
// under prefix are deleted when it ends, since other test runs may share
// that Redis.
func realRedis(tb testing.TB, prefix string) *redis.Client {
	tb.Helper()
	rdb := redisClient(tb, realRedisAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Skipf("no real Redis at %s (%v); the miniredis variant covers the same code", realRedisAddr, err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		for _, pattern := range []string{"rate:" + prefix + "*", prefix + "*"} {
			keys, _ := rdb.Keys(ctx, pattern).Result()
			if len(keys) > 0 {
				rdb.Del(ctx, keys...)
			}
		}
	})
	return rdb
}

// testPrefix is a fresh Redis key prefix, so that tests sharing a Redis do
// not share budgets or keys.
func testPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "ferry-test:" + hex.EncodeToString(b[:]) + ":"
}

// problemOf decodes a problem body.
func problemOf(tb testing.TB, b []byte) problem.Details {
	tb.Helper()
	var p problem.Details
	if err := json.Unmarshal(b, &p); err != nil {
		tb.Fatalf("problem body %s: %v", b, err)
	}
	return p
}

// expectNothingIn checks, when the test ends, that topics hold no record.
func expectNothingIn(tb testing.TB, c *kfake.Cluster, topics ...string) {
	tb.Helper()
	tb.Cleanup(func() {
		for _, topic := range topics {
			if n := topicstest.Count(tb, c, topic); n != 0 {
				tb.Errorf("topic %s holds %d records after only refused requests, want 0", topic, n)
			}
		}
	})
}

// recordHeaders returns a record's headers as a map.
func recordHeaders(r *kgo.Record) map[string]string { return headerMap(r) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// mustMetrics returns metrics on a registry of their own.
func mustMetrics(tb testing.TB) *metrics.Recorder {
	tb.Helper()
	m, err := metrics.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		tb.Fatalf("NewMetrics: %v", err)
	}
	return m
}

// counterSum adds the series of a counter whose labels start with prefix.
func (g *gateway) counterSum(tb testing.TB, name, prefix string) float64 {
	tb.Helper()
	var sum float64
	for labels, v := range series(g.scrape(tb), name) {
		if strings.HasPrefix(labels, prefix) {
			sum += v
		}
	}
	return sum
}

// counter returns one series of a counter scraped from g's /metrics.
func (g *gateway) counter(tb testing.TB, name, labels string) float64 {
	tb.Helper()
	return series(g.scrape(tb), name)[labels]
}
