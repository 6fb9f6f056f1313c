package topics

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func bodyEdit(t testing.TB, bc BodyConfig) *BodyEdit {
	t.Helper()
	table, err := NewTable([]RouteConfig{{Name: "r", Path: "/r", Topic: "t", Body: &bc}})
	if err != nil {
		t.Fatal(err)
	}
	return table.Routes()[0].BodyEdit
}

// TestBodyEdit sets members from templates (creating objects on the way),
// removes others, and keeps every other value's text, numbers included.
func TestBodyEdit(t *testing.T) {
	t.Parallel()
	e := bodyEdit(t, BodyConfig{
		Set:    map[string]string{"/meta/tenant": "{claim.tenant}", "/meta/received_at": "{now}", "/items/0/by": "{client.ip}"},
		Remove: []string{"/debug", "/nothing/here"},
	})
	f := mapFields{claims: map[string]string{"tenant": "acme"}, ip: "192.0.2.1", now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	raw := []byte(`{"debug":{"x":1},"price":12.50,"big":123456789012345678901234567890,"items":[{"sku":"A"}],"s":"<&>"}`)
	got, err := e.Apply(raw, f, checkedBody(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"big":123456789012345678901234567890,"items":[{"by":"192.0.2.1","sku":"A"}],"meta":{"received_at":"2026-01-02T03:04:05.000Z","tenant":"acme"},"price":12.50,"s":"<&>"}`
	if string(got) != want {
		t.Errorf("Apply =\n  %s\nwant\n  %s", got, want)
	}
	for _, tt := range []struct {
		raw  string
		want error
	}{
		{`{"meta":"a string"}`, ErrBodyEdit},
		{`{"items":[]}`, ErrBodyEdit},
		{`[1,2]`, ErrBodyEdit},
	} {
		if _, err := e.Apply([]byte(tt.raw), f, checkedBody([]byte(tt.raw))); !errors.Is(err, tt.want) {
			t.Errorf("Apply(%s) = %v, want %v", tt.raw, err, tt.want)
		}
	}
	if _, err := e.Apply(raw, mapFields{ip: "x"}, checkedBody(raw)); !errors.Is(err, ErrKeyUnresolved) {
		t.Errorf("a missing claim: %v, want ErrKeyUnresolved", err)
	}
	_, err = NewTable([]RouteConfig{
		{Name: "a", Path: "/a", Topic: "t", Body: &BodyConfig{Set: map[string]string{"meta": "x", "/ok": "{nope}"}, Remove: []string{"/"}}},
		{Name: "b", Path: "/b", Topic: "t", Body: &BodyConfig{}},
	})
	for _, w := range []string{"routes[0].body.set.meta: \"meta\": want a JSON pointer", "routes[0].body.set./ok: {nope}",
		"routes[0].body.remove[0]", "routes[1].body: needs set or remove"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("config error does not say %q:\n%v", w, err)
		}
	}
}

// BenchmarkBodyEdit measures the edit of the quickstart order: one parse,
// two sets, one remove and one write. Routes without a body section never
// run it.
//
// Run: go test -run '^$' -bench BodyEdit -benchmem ./topics
func BenchmarkBodyEdit(b *testing.B) {
	e := bodyEdit(b, BodyConfig{Set: map[string]string{"/meta/tenant": "{claim.tenant}", "/meta/received_at": "{now}"}, Remove: []string{"/note"}})
	raw, err := os.ReadFile("../testdata/payloads/order.json")
	if err != nil {
		b.Fatal(err)
	}
	f := mapFields{claims: map[string]string{"tenant": "acme"}, now: time.Now()}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Apply(raw, f, checkedBody(raw)); err != nil {
			b.Fatal(err)
		}
	}
}
