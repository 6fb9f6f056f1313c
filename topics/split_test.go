package topics

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func splitRoute(t *testing.T, split ...SplitTarget) Route {
	t.Helper()
	table, err := NewTable([]RouteConfig{{Name: "r", Path: "/r", Split: split, Key: "{header.X-Key}"}})
	if err != nil {
		t.Fatal(err)
	}
	return table.Routes()[0]
}

// TestSplitShares sends 10,000 keys through a 90/10 split: each key goes
// to one target every time, and the shares are within ±2% of the weights.
func TestSplitShares(t *testing.T) {
	t.Parallel()
	r := splitRoute(t, SplitTarget{Topic: "a", Weight: 90}, SplitTarget{Topic: "b", Weight: 10})
	counts := map[string]int{}
	for i := range 10000 {
		key := []byte(fmt.Sprintf("customer-%d", i))
		first := r.ChooseTopic(key, nil)
		for range 3 {
			if again := r.ChooseTopic(key, nil); again != first {
				t.Fatalf("key %s went to %s, then %s", key, first, again)
			}
		}
		counts[first]++
	}
	if a := float64(counts["a"]) / 10000; math.Abs(a-0.9) > 0.02 {
		t.Errorf("shares %v: a has %.3f, want 0.90 ± 0.02", counts, a)
	}
	// Keyless records are spread by weight too.
	counts = map[string]int{}
	for range 10000 {
		counts[r.ChooseTopic(nil, nil)]++
	}
	if a := float64(counts["a"]) / 10000; math.Abs(a-0.9) > 0.02 {
		t.Errorf("keyless shares %v: a has %.3f, want 0.90 ± 0.02", counts, a)
	}
}

// TestSplitStable checks that the choice is a pure function of the key
// and the targets (the same on every instance and after restarts: pinned
// values), and that raising one target's weight only moves keys to it.
func TestSplitStable(t *testing.T) {
	t.Parallel()
	r := splitRoute(t, SplitTarget{Topic: "orders.commands", Weight: 90}, SplitTarget{Topic: "orders.commands.v2", Weight: 10})
	// Pinned: another instance, or this one after a restart or an
	// upgrade, must send these keys where they went before.
	for key, want := range map[string]string{"c-9": "orders.commands", "c-10": "orders.commands.v2", "c-11": "orders.commands"} {
		if got := r.ChooseTopic([]byte(key), nil); got != want {
			t.Errorf("key %s goes to %s; it went to %s before: the hash changed", key, got, want)
		}
	}
	pinned := map[string]string{}
	for i := range 40 {
		pinned[fmt.Sprint(i)] = r.ChooseTopic([]byte(fmt.Sprint(i)), nil)
	}
	var v2 []string
	for k, topic := range pinned {
		if topic == "orders.commands.v2" {
			v2 = append(v2, k)
		}
	}
	if len(v2) == 0 || len(v2) > 12 {
		t.Errorf("%d of 40 keys on the 10%% target", len(v2))
	}
	wider := splitRoute(t, SplitTarget{Topic: "orders.commands", Weight: 80}, SplitTarget{Topic: "orders.commands.v2", Weight: 20})
	moved := 0
	for i := range 10000 {
		key := []byte(fmt.Sprintf("k%d", i))
		before, after := r.ChooseTopic(key, nil), wider.ChooseTopic(key, nil)
		if before == "orders.commands.v2" && after != before {
			t.Fatalf("key %s left the target whose weight grew", key)
		}
		if before != after {
			moved++
		}
	}
	if share := float64(moved) / 10000; share < 0.08 || share > 0.12 {
		t.Errorf("10%% of the weight moved, but %.3f of the keys did", share)
	}
}

// TestSplitWhen forces matching requests to a target by header or claim.
func TestSplitWhen(t *testing.T) {
	t.Parallel()
	r := splitRoute(t,
		SplitTarget{Topic: "a", Weight: 100},
		SplitTarget{Topic: "b", Weight: 0, When: &SplitWhen{Header: map[string]string{"X-Canary": "always"}}},
		SplitTarget{Topic: "c", Weight: 0, When: &SplitWhen{Claim: map[string]string{"tier": "beta"}}},
	)
	for _, tt := range []struct {
		f    mapFields
		want string
	}{
		{mapFields{}, "a"},
		{mapFields{headers: map[string]string{"x-canary": "always"}}, "b"},
		{mapFields{headers: map[string]string{"x-canary": "sometimes"}}, "a"},
		{mapFields{claims: map[string]string{"tier": "beta"}}, "c"},
	} {
		if got := r.ChooseTopic([]byte("k"), tt.f); got != tt.want {
			t.Errorf("ChooseTopic with %+v = %s, want %s", tt.f, got, tt.want)
		}
	}
}

// TestSplitConfig checks the errors ferry check shows, by field.
func TestSplitConfig(t *testing.T) {
	t.Parallel()
	_, err := NewTable([]RouteConfig{
		{Name: "both", Path: "/a", Topic: "t", Split: []SplitTarget{{Topic: "u", Weight: 1}}},
		{Name: "zero", Path: "/b", Split: []SplitTarget{{Topic: "u", Weight: 0}, {Topic: "u", Weight: -1}}},
		{Name: "when", Path: "/c", Split: []SplitTarget{{Topic: "u", Weight: 1, When: &SplitWhen{}}, {Topic: "__x", Weight: 1}}},
		{Name: "reply", Path: "/d", Split: []SplitTarget{{Topic: "u", Weight: 1}, {Topic: "v", Weight: 1}},
			Reply: &ReplyConfig{Topic: "v"}},
	})
	if err == nil {
		t.Fatal("NewTable accepted bad splits")
	}
	for _, want := range []string{
		"routes[0].split: replaces topic",
		"routes[1].split[1].topic: duplicate of split[0].topic",
		"routes[1].split[1].weight: must be 0 or more",
		"routes[1].split: at least one target needs a weight above 0",
		"routes[2].split[0].when: needs a header or a claim",
		"routes[2].split[1].topic: internal topics",
		"routes[3].reply.topic: must differ from the request topic",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// TestReservedRecordHeaders checks that a route cannot set the headers
// that carry ferry's event contract, in any case: CloudEvents (ce_*),
// Spring (kafka_*), ferry's own (ferry-*), content-type and trace context.
func TestReservedRecordHeaders(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ce_source", "CE_ID", "kafka_replyTopic", "KAFKA_correlationId", "ferry-status",
		"Ferry-Final", "content-type", "traceparent", "TraceState"} {
		_, err := NewTable([]RouteConfig{{Name: "r", Path: "/r", Topic: "t", Headers: map[string]string{name: "{client.ip}"}}})
		if err == nil || !strings.Contains(err.Error(), "routes[0].headers."+name+": reserved header names") {
			t.Errorf("header %q: %v, want it refused as reserved", name, err)
		}
	}
	if _, err := NewTable([]RouteConfig{{Name: "r", Path: "/r", Topic: "t",
		Headers: map[string]string{"x-client-ip": "{client.ip}", "x-received": "{now}", "x-api-version": "2"}}}); err != nil {
		t.Errorf("headers from {client.ip}, {now} and a literal: %v", err)
	}
}

// TestResponseHeadersConfig checks response.headers: fixed headers by
// name, refusing the names ferry sets itself and control characters.
func TestResponseHeadersConfig(t *testing.T) {
	t.Parallel()
	table, err := NewTable([]RouteConfig{{Name: "r", Path: "/r", Topic: "t",
		Response: &ResponseConfig{Headers: map[string]string{"Cache-Control": "no-store", "X-Api-Version": "2"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := table.Routes()[0].ResponseHeaders; len(got) != 2 || got[0] != (ResponseHeader{"Cache-Control", "no-store"}) {
		t.Errorf("ResponseHeaders = %v", got)
	}
	_, err = NewTable([]RouteConfig{{Name: "r", Path: "/r", Topic: "t",
		Response: &ResponseConfig{Headers: map[string]string{"Content-Type": "text/plain", "X-Request-ID": "1", "X-Bad": "a\r\nb", "bad name": "x"}}}})
	for _, want := range []string{
		"routes[0].response.headers.Content-Type: ferry sets this header itself",
		"routes[0].response.headers.X-Request-ID: ferry sets this header itself",
		"routes[0].response.headers.X-Bad: control characters",
		"routes[0].response.headers.bad name: not a valid header name",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// TestKeyTemplateControlBytes: a value a template copies into a key or a
// record header may carry any byte but the C0 controls (0x00-0x1F) and
// DEL (0x7F): each of them, from a header, a claim, a path parameter or a
// body string (where JSON escapes can spell it), fails with ErrKeyInvalid.
func TestKeyTemplateControlBytes(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{"{header.X-Id}", "{claim.tenant}", "{path.id}", "k-{body./id}"} {
		k, err := ParseKeyTemplate(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 0x80; c++ {
			v := "a" + string(rune(c)) + "b"
			f := mapFields{params: map[string]string{"id": v}, headers: map[string]string{"x-id": v}, claims: map[string]string{"tenant": v}}
			lit, _ := json.Marshal(v)
			body := []byte(`{"id":` + string(lit) + `}`)
			_, err := k.Append(nil, f, NewBody(body))
			bad := c < 0x20 || c == 0x7f
			if bad != errors.Is(err, ErrKeyInvalid) {
				t.Errorf("%s with byte 0x%02x: %v, want ErrKeyInvalid %v", tmpl, c, err, bad)
			}
		}
	}
}
