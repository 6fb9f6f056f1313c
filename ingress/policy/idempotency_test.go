package policy

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func TestIdempotencyRecordRoundTrip(t *testing.T) {
	t.Parallel()
	fp := sha256.Sum256([]byte("x"))
	for _, resp := range []StoredResponse{
		{Status: 202, ContentType: "application/json", Location: "/v1/results/1", Body: []byte(`{"id":"1"}`)},
		{Status: 400, ContentType: "application/problem+json", Body: []byte{}},
		{Status: 204, Body: []byte{}},
	} {
		rec, err := decodeRecord(encodeResponse(fp, resp))
		if err != nil || !rec.Done || rec.Fingerprint != fp {
			t.Fatalf("decodeRecord(encodeResponse(%+v)) = %+v, %v", resp, rec, err)
		}
		if diff := cmp.Diff(resp, rec.Response); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	rec, err := decodeRecord([]byte(encodeClaim(IdempotencyClaim{Fingerprint: fp, Owner: "o"})))
	if err != nil || rec.Done || rec.Fingerprint != fp {
		t.Errorf("decodeRecord(claim) = %+v, %v; want in flight", rec, err)
	}
	for _, bad := range []string{"", "D", "X" + strings.Repeat("a", 40), "D" + strings.Repeat("a", 32) + "\x00", "D" + strings.Repeat("a", 32) + "\x00\xca\x05ab"} {
		if _, err := decodeRecord([]byte(bad)); err == nil {
			t.Errorf("decodeRecord(%q) = nil error", bad)
		}
	}
}

func TestParseIdempotencyKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`, "8e03978e-40d5-43e8-bc93-6894a57f9324", true},
		{`plain`, "plain", true},
		{`"with space"`, "with space", true},
		{`""`, "", false},
		{`"`, "", false},
		{`"a\"b"`, "", false},
		{`"a\\b"`, "", false},
		{"\"tab\there\"", "", false},
		{`"` + strings.Repeat("k", 255) + `"`, strings.Repeat("k", 255), true},
		{`"` + strings.Repeat("k", 256) + `"`, "", false},
	}
	for _, tt := range tests {
		got, ok := ParseIdempotencyKey([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseIdempotencyKey(%.30q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRedisIdempotencyStore drives the store directly: claims, the lock
// expiring (miniredis's clock), and a stale claim that cannot complete.
func TestRedisIdempotencyStore(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	s := NewRedisIdempotency(redis.NewClient(&redis.Options{Addr: mr.Addr()}))
	ctx := context.Background()
	fp := sha256.Sum256([]byte("request"))
	a := IdempotencyClaim{Fingerprint: fp, Owner: "a", LockTTL: time.Minute}
	b := IdempotencyClaim{Fingerprint: fp, Owner: "b", LockTTL: time.Minute}
	if held, err := s.Begin(ctx, "k", a); held != nil || err != nil {
		t.Fatalf("Begin(a) = %+v, %v; want the claim", held, err)
	}
	if held, err := s.Begin(ctx, "k", b); err != nil || held == nil || held.Done || held.Fingerprint != fp {
		t.Fatalf("Begin(b) while a holds = %+v, %v; want a's claim in flight", held, err)
	}
	mr.FastForward(2 * time.Minute) // a's instance died
	if held, err := s.Begin(ctx, "k", b); held != nil || err != nil {
		t.Fatalf("Begin(b) after a's lock expired = %+v, %v; want the claim", held, err)
	}
	resp := StoredResponse{Status: 202, ContentType: "application/json", Location: "/v1/results/x", Body: []byte(`{"id":"x"}`)}
	if err := s.Complete(ctx, "k", a, StoredResponse{Status: 500}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "k", a); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.Begin(ctx, "k", a); held == nil || held.Done {
		t.Fatalf("after a stale Complete and Release = %+v, want b's claim untouched", held)
	}
	if err := s.Complete(ctx, "k", b, resp, time.Hour); err != nil {
		t.Fatal(err)
	}
	held, err := s.Begin(ctx, "k", a)
	if err != nil || held == nil || !held.Done {
		t.Fatalf("after b completed = %+v, %v", held, err)
	}
	if diff := cmp.Diff(resp, held.Response); diff != "" {
		t.Errorf("stored response (-want +got):\n%s", diff)
	}
	if ttl := mr.TTL("ferry:idem:k"); ttl != time.Hour {
		t.Errorf("TTL of the stored response = %v, want 1h", ttl)
	}
}
