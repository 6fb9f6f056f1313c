package ingress

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
)

// Idempotency headers (IETF httpapi idempotency-key draft).
const (
	// HeaderIdempotencyKey carries the client's key for one operation.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on a response replayed from the
	// store instead of served anew.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// maxIdempotencyKey bounds a key's length.
	maxIdempotencyKey = 255
)

// IdempotencyClaim is one request's hold on an idempotency key.
type IdempotencyClaim struct {
	// Fingerprint is the SHA-256 of the request (method, target, body).
	Fingerprint [sha256.Size]byte
	// Owner identifies this request's claim, so that it completes or
	// releases only its own.
	Owner string
	// LockTTL bounds the claim, should the request never finish.
	LockTTL time.Duration
}

// IdempotencyRecord is what holds a key already.
type IdempotencyRecord struct {
	// Fingerprint is the first request's fingerprint.
	Fingerprint [sha256.Size]byte
	// Done is false while the first request is in flight.
	Done bool
	// Response is the first response, when Done.
	Response StoredResponse
}

// StoredResponse is a response kept for replay.
type StoredResponse struct {
	Status      int
	ContentType string
	Location    string
	Body        []byte
}

// RedisIdempotency is an IdempotencyStore in Redis. Each step is one Lua
// script, atomic on the key, that the embedded miniredis runs too. It is
// safe for concurrent use; the caller owns and closes the Redis client.
type RedisIdempotency struct {
	rdb    redis.Scripter
	prefix string
}

// IdempotencyOption configures NewRedisIdempotency.
type IdempotencyOption func(*RedisIdempotency)

// WithIdempotencyPrefix sets the prefix of the store's Redis keys,
// overriding the default "ferry:idem:".
func WithIdempotencyPrefix(p string) IdempotencyOption {
	return func(r *RedisIdempotency) { r.prefix = p }
}

// NewRedisIdempotency returns a store over rdb.
func NewRedisIdempotency(rdb redis.Scripter, opts ...IdempotencyOption) *RedisIdempotency {
	r := &RedisIdempotency{rdb: rdb, prefix: "ferry:idem:"}
	for _, o := range opts {
		o(r)
	}
	return r
}

var (
	// idemBegin returns the key's value, or sets it to ARGV[1] for ARGV[2]
	// milliseconds and returns false.
	idemBegin = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`)
	// idemComplete replaces the claim ARGV[1] by ARGV[2] for ARGV[3]
	// milliseconds, if the claim still holds the key.
	idemComplete = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)
	// idemRelease deletes the key if the claim ARGV[1] still holds it.
	idemRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// Begin claims key for the request of claim, unless the key is held: then
// it returns the holder, in flight or done. Errors wrap ErrRedisUnavailable.
func (r *RedisIdempotency) Begin(ctx context.Context, key string, claim IdempotencyClaim) (*IdempotencyRecord, error) {
	v, err := idemBegin.Run(ctx, r.rdb, []string{r.prefix + key}, encodeClaim(claim), claim.LockTTL.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency: %w: %w", ErrRedisUnavailable, err)
	}
	rec, err := decodeRecord([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("idempotency record %s: %w", key, err)
	}
	return rec, nil
}

// Complete stores resp under key for ttl, if claim still holds the key.
func (r *RedisIdempotency) Complete(ctx context.Context, key string, claim IdempotencyClaim, resp StoredResponse, ttl time.Duration) error {
	err := idemComplete.Run(ctx, r.rdb, []string{r.prefix + key}, encodeClaim(claim), encodeResponse(claim.Fingerprint, resp), ttl.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("idempotency: %w: %w", ErrRedisUnavailable, err)
	}
	return nil
}

// Release drops claim's hold on key, so that a retry runs anew.
func (r *RedisIdempotency) Release(ctx context.Context, key string, claim IdempotencyClaim) error {
	if err := idemRelease.Run(ctx, r.rdb, []string{r.prefix + key}, encodeClaim(claim)).Err(); err != nil {
		return fmt.Errorf("idempotency: %w: %w", ErrRedisUnavailable, err)
	}
	return nil
}

// Stored values: "P" fingerprint owner (a claim in flight) or "D"
// fingerprint status(uint16) len(ct) ct len(location) location body.
func encodeClaim(c IdempotencyClaim) string {
	b := make([]byte, 0, 1+len(c.Fingerprint)+len(c.Owner))
	b = append(b, 'P')
	b = append(b, c.Fingerprint[:]...)
	b = append(b, c.Owner...)
	return string(b)
}

func encodeResponse(fp [sha256.Size]byte, r StoredResponse) []byte {
	b := make([]byte, 0, 1+len(fp)+2+2*binary.MaxVarintLen16+len(r.ContentType)+len(r.Location)+len(r.Body))
	b = append(b, 'D')
	b = append(b, fp[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Status))
	b = binary.AppendUvarint(b, uint64(len(r.ContentType)))
	b = append(b, r.ContentType...)
	b = binary.AppendUvarint(b, uint64(len(r.Location)))
	b = append(b, r.Location...)
	return append(b, r.Body...)
}

var errBadRecord = errors.New("malformed idempotency record")

func decodeRecord(b []byte) (*IdempotencyRecord, error) {
	if len(b) < 1+sha256.Size {
		return nil, errBadRecord
	}
	rec := &IdempotencyRecord{}
	copy(rec.Fingerprint[:], b[1:])
	rest := b[1+sha256.Size:]
	switch b[0] {
	case 'P':
		return rec, nil
	case 'D':
	default:
		return nil, errBadRecord
	}
	rec.Done = true
	if len(rest) < 2 {
		return nil, errBadRecord
	}
	rec.Response.Status = int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	var fields [2]string
	for i := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return nil, errBadRecord
		}
		fields[i] = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	rec.Response.ContentType, rec.Response.Location = fields[0], fields[1]
	rec.Response.Body = rest
	return rec, nil
}

// parseIdempotencyKey accepts the draft's sf-string ("...") and, leniently,
// a bare key: 1 to 255 visible ASCII characters, no quote or backslash.
func parseIdempotencyKey(v []byte) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) == 0 || len(v) > maxIdempotencyKey {
		return "", false
	}
	for _, c := range v {
		if c < ' ' || c > '~' || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(v), true
}

// idempotencyScope names whose key space a request's Idempotency-Key lives
// in: its principal, or its client address for anonymous requests, so that
// no caller can see another's stored responses.
func (s *Server) idempotencyScope(c *fiber.Ctx, p *identity.Principal) string {
	if p == nil || p.Kind == identity.PrincipalAnonymous {
		return "ip\x00" + s.clientAddr(c)
	}
	return p.Kind + "\x00" + p.ID
}

// idempotency is the middleware of a route honouring Idempotency-Key: the
// first response for (principal, key) is stored; a repeat with the same
// request gets it again (same event id, nothing produced); the same key
// with another request is a 422, and a repeat while the first is in flight
// a 409. Responses of 500 and above are not stored, so that a retry runs
// anew. Without an IdempotencyStore the header is ignored.
func (s *Server) idempotency(c *fiber.Ctx) error {
	raw := c.Request().Header.Peek(HeaderIdempotencyKey)
	if len(raw) == 0 || s.deps.Idempotency == nil {
		return c.Next()
	}
	ikey, ok := parseIdempotencyKey(raw)
	if !ok {
		return problem.New(problem.BadRequest, "Idempotency-Key must be a quoted string of 1 to 255 visible ASCII characters")
	}
	ri := info(c)
	ctx := context.WithoutCancel(c.UserContext())
	key := hashKey(s.idempotencyScope(c, ri.principal), ikey)
	claim := IdempotencyClaim{Fingerprint: fingerprint(c), Owner: newOwner(), LockTTL: s.auth.Idempotency.LockTTL}
	held, err := s.deps.Idempotency.Begin(ctx, key, claim)
	if err != nil {
		if s.auth.Idempotency.OnRedisError == FailClosed {
			return &problem.Error{Type: problem.RedisUnavailable, Detail: "the Idempotency-Key cannot be checked; retry later", RetryAfter: 1, Cause: err}
		}
		s.metrics.IdempotencyFailOpen(ri.route)
		s.warnEvery(ctx, &s.idempotencyWarned, "Idempotency-Key is not enforced: redis failed (on_redis_error: open)", ri, err)
		return c.Next()
	}
	if held != nil {
		switch {
		case held.Fingerprint != claim.Fingerprint:
			return problem.New(problem.IdempotencyMismatch, "this Idempotency-Key was used for a different request; use a new key for a new request")
		case !held.Done:
			return &problem.Error{Type: problem.IdempotencyConflict, RetryAfter: 1, Detail: "the first request with this Idempotency-Key is still in progress; retry later"}
		}
		s.metrics.IdempotentReplay(ri.route)
		r := held.Response
		c.Status(r.Status)
		if r.ContentType != "" {
			c.Set(fiber.HeaderContentType, r.ContentType)
		}
		if r.Location != "" {
			c.Set(fiber.HeaderLocation, r.Location)
		}
		c.Set(HeaderIdempotentReplayed, "true")
		c.Response().SetBody(r.Body)
		return nil
	}

	if err := c.Next(); err != nil {
		// Render here, so that the problem is what gets stored.
		if herr := s.handleError(c, err); herr != nil {
			_ = s.deps.Idempotency.Release(ctx, key, claim)
			return herr
		}
	}
	resp := c.Response()
	if resp.StatusCode() >= 500 {
		err = s.deps.Idempotency.Release(ctx, key, claim)
	} else {
		err = s.deps.Idempotency.Complete(ctx, key, claim, StoredResponse{
			Status:      resp.StatusCode(),
			ContentType: string(resp.Header.ContentType()),
			Location:    string(resp.Header.Peek(fiber.HeaderLocation)),
			Body:        resp.Body(),
		}, s.auth.Idempotency.TTL)
	}
	if err != nil {
		// The answer stands; a retry after the lock expires runs anew.
		s.log.LogAttrs(ctx, slog.LevelWarn, "storing the idempotent response failed",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.Any("err", err))
	}
	return nil
}

// fingerprint hashes what makes two requests the same operation: method,
// target and body.
func fingerprint(c *fiber.Ctx) [sha256.Size]byte {
	h := sha256.New()
	h.Write(c.Request().Header.Method())
	h.Write([]byte{0})
	h.Write(c.Request().RequestURI())
	h.Write([]byte{0})
	h.Write(c.Body())
	var fp [sha256.Size]byte
	h.Sum(fp[:0])
	return fp
}

// hashKey is the store key of (scope, key): hashed, so that neither
// appears in Redis and no separator in them can collide.
func hashKey(scope, key string) string {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(scope))))
	h.Write([]byte{0})
	h.Write([]byte(scope))
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// newOwner returns a random claim owner id.
func newOwner() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
