package policy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/ingress/identity"
)

// maxIdempotencyKey bounds a key's length.
const maxIdempotencyKey = 255

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

// ParseIdempotencyKey accepts the draft's sf-string ("...") and, leniently,
// a bare key: 1 to 255 visible ASCII characters, no quote or backslash.
func ParseIdempotencyKey(v []byte) (string, bool) {
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

// IdempotencyScope names whose key space a request's Idempotency-Key lives
// in: its principal, or its client address for anonymous requests, so that
// no caller can see another's stored responses.
func IdempotencyScope(p *identity.Principal, clientAddr func() string) string {
	if p == nil || p.Kind == identity.PrincipalAnonymous {
		return "ip\x00" + clientAddr()
	}
	return p.Kind + "\x00" + p.ID
}

// Fingerprint hashes what makes two requests the same operation: method,
// target and body.
func Fingerprint(method, target, body []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(method)
	h.Write([]byte{0})
	h.Write(target)
	h.Write([]byte{0})
	h.Write(body)
	var fp [sha256.Size]byte
	h.Sum(fp[:0])
	return fp
}

// StoreKey is the store key of (scope, key): hashed, so that
// neither appears in Redis and no separator in them can collide.
func StoreKey(scope, key string) string {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(scope))))
	h.Write([]byte{0})
	h.Write([]byte(scope))
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// NewOwner returns a random claim owner id.
func NewOwner() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
