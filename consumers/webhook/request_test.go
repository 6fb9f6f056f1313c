package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

func testSecret(t testing.TB) []Secret {
	t.Helper()
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	return []Secret{s}
}

// TestRequestHeaderFerryEvent: a record ferry produced carries its
// CloudEvents attributes over as ce-* headers (binary content mode), its
// content-type and traceparent, the key as ce-partitionkey, and the
// Standard Webhooks headers; other record headers stay behind.
func TestRequestHeaderFerryEvent(t *testing.T) {
	t.Parallel()
	rec := &kgo.Record{
		Topic: "orders.events", Partition: 1, Offset: 7, Key: []byte("c-42"), Value: []byte(`{"total":3}`),
		Timestamp: time.Date(2026, 11, 21, 10, 46, 52, 0, time.UTC),
		Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: []byte("01a1fdb7-5238-798c-a1b2-0123456789ab")},
			{Key: "ce_source", Value: []byte("/ferry/routes/create-order")},
			{Key: "ce_type", Value: []byte("com.example.order.created")},
			{Key: "ce_time", Value: []byte("2026-11-21T10:46:52.216Z")},
			{Key: "ce_authid", Value: []byte("Zoë \"admin\" 100%")},
			{Key: "content-type", Value: []byte("application/json")},
			{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
			{Key: "kafka_correlationId", Value: []byte("secret-ish")},
			{Key: "x-internal", Value: []byte("stays")},
		},
	}
	id := MessageID(rec)
	if id != "01a1fdb7-5238-798c-a1b2-0123456789ab" {
		t.Errorf("MessageID = %q, want the record's ce_id", id)
	}
	now := time.Unix(1614265330, 0)
	got := requestHeader(rec, id, now, testSecret(t))
	want := http.Header{
		"ce-specversion":    {"1.0"},
		"ce-id":             {"01a1fdb7-5238-798c-a1b2-0123456789ab"},
		"ce-source":         {"/ferry/routes/create-order"},
		"ce-type":           {"com.example.order.created"},
		"ce-time":           {"2026-11-21T10:46:52.216Z"},
		"ce-authid":         {"Zo%C3%AB%20%22admin%22%20100%25"},
		"ce-partitionkey":   {"c-42"},
		"Content-Type":      {"application/json"},
		"Traceparent":       {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"webhook-id":        {id},
		"webhook-timestamp": {"1614265330"},
		"webhook-signature": {Sign(testSecret(t), id, 1614265330, rec.Value)},
		"User-Agent":        {userAgent},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requestHeader (-want +got):\n%s", diff)
	}
}

// TestRequestHeaderForeignRecord: a record from another producer, without
// CloudEvents headers, gets the required attributes filled in, and an id
// derived from its position that is stable across attempts and free of
// '.', which the signed content must not contain.
func TestRequestHeaderForeignRecord(t *testing.T) {
	t.Parallel()
	rec := &kgo.Record{Topic: "legacy.events", Partition: 2, Offset: 99, Value: []byte("raw"),
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Headers:   []kgo.RecordHeader{{Key: "ce_id", Value: []byte("has.a.dot")}, {Key: "content-type", Value: []byte("text/plain\r\nX-Evil: 1")}}}
	id := MessageID(rec)
	if !strings.HasPrefix(id, "ferry_") || strings.Contains(id, ".") || id != MessageID(rec) {
		t.Errorf("MessageID = %q, want a stable ferry_ id without dots", id)
	}
	other := *rec
	other.Offset++
	if MessageID(&other) == id {
		t.Error("two offsets got the same MessageID")
	}
	got := requestHeader(rec, id, time.Unix(1, 0), testSecret(t))
	for k, v := range map[string]string{
		"ce-specversion": "1.0", "ce-id": "has.a.dot", "ce-source": "/ferry/topics/legacy.events",
		"ce-type": DefaultType, "ce-time": "2026-01-02T03:04:05Z", "webhook-id": id,
	} {
		if g := raw(got, k); len(g) != 1 || g[0] != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if raw(got, "ce-partitionkey") != nil {
		t.Error("a null key got a ce-partitionkey")
	}
	if _, ok := got["Content-Type"]; ok {
		t.Error("a content-type with a line break was sent")
	}
}

// raw reads a header as sent: ferry writes the CloudEvents and Standard
// Webhooks names in lower case, as their specifications do, not in Go's
// canonical form.
func raw(h http.Header, name string) []string { return h[name] }

func TestPercentEncode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain-value_1.0": "plain-value_1.0",
		"a b":             "a%20b",
		`"%`:              "%22%25",
		"€":               "%E2%82%AC",
		"\x00\x7f":        "%00%7F",
	} {
		if got := percentEncode([]byte(in)); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
