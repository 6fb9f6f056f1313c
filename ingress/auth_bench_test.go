package ingress

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
)

// benchAuth returns an Authenticator taking EdDSA tokens from an inline
// JWKS (kid "k"), with a token cache of cacheSize entries (-1: none), and
// a token it accepts. BenchmarkAuthenticate (ingress/identity) compares
// the algorithms.
func benchAuth(b *testing.B, cacheSize int) (*identity.Authenticator, string) {
	b.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k"}})
	if err != nil {
		b.Fatal(err)
	}
	set, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	a, err := identity.New(context.Background(), identity.Config{JWT: &identity.JWTConfig{JWKS: string(set), CacheSize: cacheSize}})
	if err != nil {
		b.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "user-1", "scope": "orders:write",
		"tenant": "acme", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k"
	signed, err := tok.SignedString(priv)
	if err != nil {
		b.Fatal(err)
	}
	return a, signed
}

// memLimiter is an in-memory GCRA with redis_rate's arithmetic, so that a
// benchmark measures the limiter decision without the Redis round trip.
type memLimiter struct {
	mu  sync.Mutex
	tat map[string]time.Time
}

func (l *memLimiter) Allow(_ context.Context, key string, rl topics.RateLimitConfig) (policy.LimitResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	interval := rl.Per / time.Duration(rl.Rate)
	tat := l.tat[key]
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-interval * time.Duration(rl.Burst))
	if now.Before(allowAt) {
		return policy.LimitResult{Limit: rl.Burst, RetryAfter: allowAt.Sub(now), ResetAfter: tat.Sub(now)}, nil
	}
	l.tat[key] = newTAT
	return policy.LimitResult{Allowed: true, Limit: rl.Burst, Remaining: int(now.Sub(allowAt) / interval), ResetAfter: newTAT.Sub(now)}, nil
}

// memIdempotency claims every key and forgets it, so that each request
// takes the first-request path: parse the key, fingerprint the request,
// look it up, claim it, complete it.
type memIdempotency struct{}

func (memIdempotency) Begin(context.Context, string, policy.IdempotencyClaim) (*policy.IdempotencyRecord, error) {
	return nil, nil
}

func (memIdempotency) Complete(context.Context, string, policy.IdempotencyClaim, policy.StoredResponse, time.Duration) error {
	return nil
}

func (memIdempotency) Release(context.Context, string, policy.IdempotencyClaim) error { return nil }

type ackProducer struct{}

func (ackProducer) Produce(_ context.Context, m *topics.Message) (topics.Position, error) {
	return topics.Position{Topic: m.Topic, Partition: 1, Offset: 42, Timestamp: m.Time}, nil
}

// BenchmarkMiddlewareChain drives requests through app.Handler() with a
// reused fasthttp.RequestCtx:
//   - chain: request context, authenticate + authorize, the rate-limit
//     decision (in-memory GCRA) and the Idempotency-Key lookup (in-memory
//     store), then a 204. No Redis round trip and no access log.
//   - publish: the whole configured route (the chain, then body checks,
//     the record and the 202) with a producer that acknowledges at once.
//
// Run: go test -run '^$' -bench MiddlewareChain -benchmem ./ingress
func BenchmarkMiddlewareChain(b *testing.B) {
	body := []byte(`{"customer_id":"c-42","items":[{"sku":"BOOK-1","qty":1,"price":12.5}]}`)
	rl := &topics.RateLimitConfig{Rate: 1_000_000, Per: time.Second, Burst: 1_000_000, By: "principal"}
	table, err := topics.NewTable([]topics.RouteConfig{{Name: "orders", Path: "/v1/orders", Topic: "orders",
		Key: "{claim.tenant}/{body./customer_id}", Scopes: []string{"orders:write"}, RateLimit: rl}})
	if err != nil {
		b.Fatal(err)
	}
	off := false
	bench := func(b *testing.B, handler fasthttp.RequestHandler, status int, token string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/v1/orders")
		ctx.Request.Header.SetContentType("application/json")
		ctx.Request.Header.Set("Authorization", "Bearer "+token)
		ctx.Request.Header.Set("Idempotency-Key", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`)
		ctx.Request.SetBody(body)
		b.ReportAllocs()
		for b.Loop() {
			handler(&ctx)
			if code := ctx.Response.StatusCode(); code != status {
				b.Fatalf("status %d: %s", code, ctx.Response.Body())
			}
			ctx.Response.Reset()
			ctx.ResetUserValues() // as fasthttp does between requests
		}
	}
	// baseline: the request-context middleware and a 204, without the
	// policy chain, to tell the chain's own cost.
	b.Run("baseline", func(b *testing.B) {
		srv, err := New(Config{AccessLog: &off}, table, Deps{Producer: ackProducer{}, Limiter: &memLimiter{}}, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			b.Fatal(err)
		}
		app := fiber.New(fiber.Config{ErrorHandler: srv.handleError})
		app.Post("/v1/orders", srv.requestContext, func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) })
		bench(b, app.Handler(), 204, "x")
	})
	for _, alg := range []string{"EdDSA"} {
		for _, cache := range []struct {
			name string
			size int
		}{{"off", -1}, {"hit", identity.DefaultTokenCacheSize}} {
			a, token := benchAuth(b, cache.size)
			deps := Deps{Producer: ackProducer{}, Authenticator: a, Limiter: &memLimiter{tat: map[string]time.Time{}}, Idempotency: memIdempotency{}}
			srv, err := New(Config{AccessLog: &off}, table, deps, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				b.Fatal(err)
			}
			chain := fiber.New(fiber.Config{ErrorHandler: srv.handleError})
			// The route's chain up to idempotency, then a 204 instead of
			// validate, publish and wait.
			hs := srv.chain(table.Routes()[0])
			hs[len(hs)-1] = func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) }
			chain.Post("/v1/orders", append([]fiber.Handler{srv.requestContext}, hs...)...)
			for _, h := range []struct {
				name    string
				handler fasthttp.RequestHandler
				status  int
			}{{"chain", chain.Handler(), 204}, {"publish", srv.App().Handler(), 202}} {
				b.Run(fmt.Sprintf("%s/alg=%s/cache=%s", h.name, alg, cache.name), func(b *testing.B) {
					bench(b, h.handler, h.status, token)
				})
			}
		}
	}
}
