package topics

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
