package ingress

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferry-gw/ferry/topics"
)

// TestBatchProduce: a batch route takes a JSON array or NDJSON; each record
// is validated and keyed on its own; the valid ones are produced, the
// invalid ones answered with their problem, in order, under 207.
func TestBatchProduce(t *testing.T) {
	t.Parallel()
	set := orderIDSchema(t)
	prod := &fakeProducer{}
	_, h := newTestServer(t, []topics.RouteConfig{{Name: "orders", Path: "/v1/orders/batch", Topic: "orders", Auth: topics.AuthNone,
		Key: "{body./id}", Schema: "https://example.com/o.json", Batch: &topics.BatchConfig{MaxRecords: 3}}},
		Deps{Producer: prod, Validator: set})

	r := handle(h, "POST", "/v1/orders/batch", "application/json", `[{"id":"a"}, {"nope":1}, {"id":"c"}]`)
	var ans batchAnswer
	if err := json.Unmarshal([]byte(r.body), &ans); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	if r.status != 207 || ans.Produced != 2 || ans.Failed != 1 || len(ans.Records) != 3 ||
		ans.Records[1].Status != 422 || ans.Records[1].Problem == nil || ans.Records[0].Offset == nil || ans.Records[2].ID == "" {
		t.Errorf("mixed batch: %d %s", r.status, r.body)
	}
	r = handle(h, "POST", "/v1/orders/batch", "application/x-ndjson", "{\"id\":\"d\"}\n\n{\"id\":\"e\"}\n")
	if err := json.Unmarshal([]byte(r.body), &ans); err != nil || r.status != 200 || ans.Produced != 2 {
		t.Errorf("NDJSON batch: %d %s", r.status, r.body)
	}
	for _, tt := range []struct{ ct, body, typ string }{
		{"application/json", `[{"id":"1"},{"id":"2"},{"id":"3"},{"id":"4"}]`, "bad-request"},
		{"application/json", `[]`, "bad-request"},
		{"application/json", `{"id":"x"}`, "malformed-json"},
		{"application/json", `[{"id":`, "malformed-json"},
		{"application/x-ndjson", "{\"id\":\"x\"}\n{oops\n", "malformed-json"},
		{"application/json", "[{\"id\":\"x\xff\"}]", "malformed-json"},
		{"application/x-ndjson", "{\"id\":\"x\"}\n{\"id\":\"\xc3\"}\n", "malformed-json"},
		{"application/json; charset=latin1", `[{"id":"x"}]`, "unsupported-media-type"},
		{"text/plain", `[]`, "unsupported-media-type"},
	} {
		if r := handle(h, "POST", "/v1/orders/batch", tt.ct, tt.body); r.status < 300 || !strings.HasSuffix(r.typ, tt.typ) {
			t.Errorf("%s %q: %d %s, want %s", tt.ct, tt.body, r.status, r.typ, tt.typ)
		}
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	keys := map[string]bool{}
	for _, m := range prod.msgs {
		keys[string(m.Key)] = true
	}
	if len(prod.msgs) != 4 || !keys["a"] || !keys["c"] || !keys["d"] || !keys["e"] {
		t.Errorf("produced %d records with keys %v, want a, c, d, e", len(prod.msgs), keys)
	}
}
