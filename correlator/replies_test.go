package correlator

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// replyRecord builds a reply record; kv are header names and values.
func replyRecord(id string, body []byte, kv ...string) *kgo.Record {
	r := &kgo.Record{Topic: "quotes.replies", Partition: 2, Offset: 7, Value: body}
	if id != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: topics.HeaderCorrelationID, Value: []byte(id)})
	}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return r
}

func TestDecodeReply(t *testing.T) {
	t.Parallel()
	const id = "0190c0de-0000-7000-8000-000000000001"
	body := []byte(`{"price":12.5}`)
	base := Reply{Status: 200, Final: true, Body: body, Topic: "quotes.replies", Partition: 2, Offset: 7}
	with := func(f func(*Reply)) Reply { r := base; f(&r); return r }
	tests := []struct {
		name string
		kv   []string
		want Reply
	}{
		{name: "only the correlation id", want: base},
		{name: "status", kv: []string{"ferry-status", "201"}, want: with(func(r *Reply) { r.Status = 201 })},
		{name: "status out of range", kv: []string{"ferry-status", "102"},
			want: with(func(r *Reply) { r.Invalid = `ferry-status "102" is not an HTTP status from 200 to 599` })},
		{name: "status not a number", kv: []string{"ferry-status", "OK"},
			want: with(func(r *Reply) { r.Invalid = `ferry-status "OK" is not an HTTP status from 200 to 599` })},
		// Exactly three digits, as the AsyncAPI document's pattern says.
		{name: "status with a sign", kv: []string{"ferry-status", "+201"},
			want: with(func(r *Reply) { r.Invalid = `ferry-status "+201" is not an HTTP status from 200 to 599` })},
		{name: "status with a leading zero", kv: []string{"ferry-status", "0201"},
			want: with(func(r *Reply) { r.Invalid = `ferry-status "0201" is not an HTTP status from 200 to 599` })},
		{name: "progress", kv: []string{"ferry-final", "false"}, want: with(func(r *Reply) { r.Final = false })},
		{name: "progress any case", kv: []string{"ferry-final", " FALSE "}, want: with(func(r *Reply) { r.Final = false })},
		{name: "final explicit", kv: []string{"ferry-final", "true"}, want: base},
		{name: "content-type", kv: []string{"content-type", "text/plain"}, want: with(func(r *Reply) { r.ContentType = "text/plain" })},
		{name: "Spring contentType", kv: []string{"contentType", "application/json"}, want: with(func(r *Reply) { r.ContentType = "application/json" })},
		{
			name: "allowlisted headers keep the configured spelling",
			kv:   []string{"ferry-header-etag", `"v1"`, "ferry-header-Cache-Control", "no-store", "ferry-header-Set-Cookie", "a=b"},
			want: with(func(r *Reply) {
				r.Header = []HeaderField{{Name: "ETag", Value: `"v1"`}, {Name: "Cache-Control", Value: "no-store"}}
			}),
		},
		{name: "header value with a line break", kv: []string{"ferry-header-Location", "/x\r\nSet-Cookie: a=b"}, want: base},
		{name: "bare prefix", kv: []string{"ferry-header-", "x"}, want: base},
		{name: "traceparent", kv: []string{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			want: with(func(r *Reply) { r.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })},
		{name: "malformed traceparent", kv: []string{"traceparent", "00-nope"}, want: base},
		{name: "ce and spring headers ignored", kv: []string{"ce_id", "x", "kafka_replyTopic", "y", "__TypeId__", "z"}, want: base},
	}
	allow := Config{}.WithDefaults().allowlist()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gotID, got := decodeReply(replyRecord(id, body, tt.kv...), allow)
			if string(gotID) != id {
				t.Errorf("decodeReply() id = %q, want %q", gotID, id)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decodeReply() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
