package topics

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMessageRecord(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	m := &Message{
		Topic: "orders", Key: []byte("k"), Value: []byte(`{"a":1}`), ID: "01-id", Source: "/ferry/routes/r",
		Type: "com.example.t", Time: ts, ContentType: "application/json",
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		AuthType:    "app_user", AuthID: "alice",
		Extra: []Header{{Key: "x-tenant", Value: []byte("acme")}, {Key: "ce_id", Value: []byte("forged")}, {Key: "Kafka_replyTopic", Value: []byte("x")}},
	}
	r := m.Record()
	got := make([]string, 0, len(r.Headers))
	for _, h := range r.Headers {
		got = append(got, h.Key+"="+string(h.Value))
	}
	want := []string{
		"ce_specversion=1.0",
		"ce_id=01-id",
		"ce_source=/ferry/routes/r",
		"ce_type=com.example.t",
		"ce_time=2026-11-21T09:00:00.123456789Z",
		"content-type=application/json",
		"traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"ce_authtype=app_user",
		"ce_authid=alice",
		"x-tenant=acme",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Record().Headers mismatch (-want +got):\n%s", diff)
	}
	if r.Topic != "orders" || string(r.Key) != "k" || string(r.Value) != `{"a":1}` || !r.Timestamp.Equal(ts) {
		t.Errorf("Record() = topic %q key %q value %q ts %v", r.Topic, r.Key, r.Value, r.Timestamp)
	}
}

func TestValidTraceParent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false},
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		if got := ValidTraceParent(tt.in); got != tt.want {
			t.Errorf("ValidTraceParent(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for range 10 {
		if tp := NewTraceParent(); !ValidTraceParent(tp) {
			t.Fatalf("NewTraceParent() = %q, not valid", tp)
		}
	}
}

func TestNewEventIDSortsByTime(t *testing.T) {
	t.Parallel()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = NewEventID()
	}
	if !slices.IsSorted(ids) {
		t.Error("NewEventID() values are not increasing")
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Error("NewEventID() repeated a value")
	}
}

func TestIsReservedHeader(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"ce_id", "CE_TYPE", "content-type", "Content-Type", "traceparent", "tracestate", "kafka_correlationId", "ferry-status"} {
		if !IsReservedHeader(h) {
			t.Errorf("IsReservedHeader(%q) = false, want true", h)
		}
	}
	for _, h := range []string{"x-tenant", "cex", "kafka", "ferryman"} {
		if IsReservedHeader(h) {
			t.Errorf("IsReservedHeader(%q) = true, want false", h)
		}
	}
}

// BenchmarkRecord measures encoding a message into a record with headers.
// Run: go test -run '^$' -bench Record -benchmem ./topics
func BenchmarkRecord(b *testing.B) {
	m := &Message{Topic: "orders", Value: []byte(strings.Repeat("x", 1024)), ID: NewEventID(), Source: "/ferry/routes/r",
		Type: "t", Time: time.Now(), ContentType: "application/json", TraceParent: NewTraceParent()}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Record()
	}
}

func TestRecordReplyHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply *ReplyTo
		want  []kgo.RecordHeader // the request/reply headers only
	}{
		{name: "no reply", reply: nil, want: nil},
		{
			name:  "shared topic",
			reply: &ReplyTo{Topic: "quotes.replies", Partition: NoPartition},
			want: []kgo.RecordHeader{
				{Key: HeaderCorrelationID, Value: []byte("0190c0de-0000-7000-8000-000000000001")},
				{Key: HeaderReplyTopic, Value: []byte("quotes.replies")},
			},
		},
		{
			name:  "owned partition",
			reply: &ReplyTo{Topic: "quotes.replies", Partition: 258},
			want: []kgo.RecordHeader{
				{Key: HeaderCorrelationID, Value: []byte("0190c0de-0000-7000-8000-000000000001")},
				{Key: HeaderReplyTopic, Value: []byte("quotes.replies")},
				{Key: HeaderReplyPartition, Value: []byte{0, 0, 1, 2}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := &Message{
				Topic: "quotes.requests", ID: "0190c0de-0000-7000-8000-000000000001", Time: time.Unix(0, 0),
				Reply: tt.reply,
				// A client cannot smuggle its own correlation headers in.
				Extra: []Header{{Key: HeaderCorrelationID, Value: []byte("forged")}, {Key: "kafka_replyTopic", Value: []byte("evil")}},
			}
			var got []kgo.RecordHeader
			for _, h := range m.Record().Headers {
				if h.Key == HeaderCorrelationID || h.Key == HeaderReplyTopic || h.Key == HeaderReplyPartition {
					got = append(got, h)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Record() reply headers mismatch (-want +got):\n%s", diff)
			}
			id, to, ok := ReplyAddress(m.Record().Headers)
			if want := tt.reply != nil; ok != want {
				t.Fatalf("ReplyAddress() ok = %v, want %v", ok, want)
			}
			if ok && (string(id) != m.ID || to != *tt.reply) {
				t.Errorf("ReplyAddress() = %q, %+v, want %q, %+v", id, to, m.ID, *tt.reply)
			}
		})
	}
}

func TestParsePartition(t *testing.T) {
	t.Parallel()
	for _, p := range []int32{0, 1, 255, 256, 1 << 24, math.MaxInt32} {
		got, ok := ParsePartition(AppendPartition(nil, p))
		if !ok || got != p {
			t.Errorf("ParsePartition(AppendPartition(%d)) = %d, %v, want %d, true", p, got, ok, p)
		}
	}
	for _, b := range [][]byte{nil, {1}, {0, 0, 1}, {0, 0, 0, 1, 0}, {0xff, 0xff, 0xff, 0xff}} {
		if p, ok := ParsePartition(b); ok {
			t.Errorf("ParsePartition(%v) = %d, true, want false", b, p)
		}
	}
}
