package topics

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// mapFields is a Fields backed by maps.
type mapFields struct {
	params, headers, claims map[string]string
	ip                      string
	now                     time.Time
}

func (f mapFields) Param(n string) string  { return f.params[n] }
func (f mapFields) Header(n string) string { return f.headers[strings.ToLower(n)] }
func (f mapFields) Claim(n string) (string, bool) {
	v, ok := f.claims[n]
	return v, ok
}
func (f mapFields) ClientIP() string { return f.ip }
func (f mapFields) Now() time.Time   { return f.now }

func TestKeyTemplate(t *testing.T) {
	t.Parallel()
	f := mapFields{
		params:  map[string]string{"id": "42"},
		headers: map[string]string{"x-tenant": "acme"},
		claims:  map[string]string{"tenant": "t1"},
		ip:      "203.0.113.7",
		now:     time.Date(2026, 12, 3, 23, 59, 1, 234567890, time.FixedZone("CET", 3600)),
	}
	body := `{"customer":{"id":"c-7","n":12.50,"vip":true,"a/b":"slash","t~x":"tilde","empty":"","obj":{}},"items":[{"sku":"A"},{"sku":"B"}]}`
	tests := []struct {
		name, tmpl, want string
		wantErr          error
	}{
		{name: "literal only", tmpl: "fixed", want: "fixed"},
		{name: "client address", tmpl: "ip={client.ip}", want: "ip=203.0.113.7"},
		{name: "receive time in UTC", tmpl: "{now}", want: "2026-12-03T22:59:01.234Z"},
		{name: "path", tmpl: "{path.id}", want: "42"},
		{name: "header any case", tmpl: "{header.X-Tenant}", want: "acme"},
		{name: "claim", tmpl: "{claim.tenant}", want: "t1"},
		{name: "body string", tmpl: "{body./customer/id}", want: "c-7"},
		{name: "body number keeps its text", tmpl: "{body./customer/n}", want: "12.50"},
		{name: "body bool", tmpl: "{body./customer/vip}", want: "true"},
		{name: "body array index", tmpl: "{body./items/1/sku}", want: "B"},
		{name: "pointer escapes", tmpl: "{body./customer/a~1b}-{body./customer/t~0x}", want: "slash-tilde"},
		{name: "text around refs", tmpl: "tenant={header.X-Tenant}/order-{path.id}:{body./customer/id}", want: "tenant=acme/order-42:c-7"},
		{name: "literal braces", tmpl: "{{{path.id}}}", want: "{42}"},
		{name: "missing param", tmpl: "{path.nope}", wantErr: ErrKeyUnresolved},
		{name: "missing header", tmpl: "{header.X-None}", wantErr: ErrKeyUnresolved},
		{name: "missing claim", tmpl: "{claim.none}", wantErr: ErrKeyUnresolved},
		{name: "missing body field", tmpl: "{body./customer/none}", wantErr: ErrKeyUnresolved},
		{name: "empty body string", tmpl: "{body./customer/empty}", wantErr: ErrKeyUnresolved},
		{name: "object is not a key", tmpl: "{body./customer/obj}", wantErr: ErrKeyUnresolved},
		{name: "index out of range", tmpl: "{body./items/2/sku}", wantErr: ErrKeyUnresolved},
		{name: "leading zero index", tmpl: "{body./items/01/sku}", wantErr: ErrKeyUnresolved},
		{name: "through a scalar", tmpl: "{body./customer/id/x}", wantErr: ErrKeyUnresolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParseKeyTemplate(tt.tmpl)
			if err != nil {
				t.Fatalf("ParseKeyTemplate(%q) = %v", tt.tmpl, err)
			}
			// A body the caller already checked reads the same.
			for _, b := range []*Body{NewBody([]byte(body)), checkedBody([]byte(body))} {
				got, err := k.Append(nil, f, b)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Append(%q) error = %v, want %v", tt.tmpl, err, tt.wantErr)
				}
				if err == nil && string(got) != tt.want {
					t.Errorf("Append(%q) = %q, want %q", tt.tmpl, got, tt.want)
				}
			}
		})
	}
}

func TestKeyTemplateBodyNotJSON(t *testing.T) {
	t.Parallel()
	k, _ := ParseKeyTemplate("{body./id}")
	if _, err := k.Append(nil, mapFields{}, NewBody([]byte("{not json"))); !errors.Is(err, ErrKeyUnresolved) {
		t.Fatalf("Append on invalid JSON = %v, want ErrKeyUnresolved", err)
	}
}

func TestParseKeyTemplateErrors(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{
		"{path.id", "id}", "{}", "{path}", "{path.}", "{query.x}", "{body.id}", "{body./a~2}", "{header.bad name}",
	} {
		if _, err := ParseKeyTemplate(tmpl); err == nil {
			t.Errorf("ParseKeyTemplate(%q) = nil error, want one", tmpl)
		}
	}
}

// FuzzKeyTemplate checks that parsing and evaluating any template on any
// body never panics, that a parsed template evaluates either to a value or
// to an error wrapping ErrKeyUnresolved, and that a template without
// references evaluates to its literal text.
func FuzzKeyTemplate(f *testing.F) {
	f.Add("{path.id}-{header.X-T}", `{"a":1}`)
	f.Add("{body./a/0/b}", `{"a":[{"b":"x"}]}`)
	f.Add("{{lit}}", ``)
	f.Fuzz(func(t *testing.T, tmpl, body string) {
		k, err := ParseKeyTemplate(tmpl)
		if err != nil {
			return
		}
		fields := mapFields{params: map[string]string{"id": "1"}, headers: map[string]string{"x-t": "v"}}
		got, err := k.Append(nil, fields, NewBody([]byte(body)))
		if err != nil && !errors.Is(err, ErrKeyUnresolved) {
			t.Fatalf("Append(%q) = %v, want nil or ErrKeyUnresolved", tmpl, err)
		}
		if !strings.ContainsAny(tmpl, "{}") && string(got) != tmpl {
			t.Fatalf("Append(%q) = %q, want the literal", tmpl, got)
		}
	})
}

// BenchmarkKeyTemplate measures key evaluation per reference kind.
// Run: go test -run '^$' -bench KeyTemplate -benchmem ./topics
func BenchmarkKeyTemplate(b *testing.B) {
	f := mapFields{params: map[string]string{"id": "42"}, headers: map[string]string{"x-tenant": "acme"}}
	for _, tc := range []struct{ name, tmpl string }{
		{"path", "order-{path.id}"},
		{"header", "{header.X-Tenant}/{path.id}"},
		{"body", "{body./customer_id}"},
	} {
		k, err := ParseKeyTemplate(tc.tmpl)
		if err != nil {
			b.Fatal(err)
		}
		body := []byte(fmt.Sprintf(`{"customer_id":"c-42","items":[%s{"sku":"X","qty":1}]}`, strings.Repeat(`{"sku":"A-1","qty":2},`, 20)))
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 64)
			for b.Loop() {
				if _, err := k.Append(buf[:0], f, NewBody(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestKeyTemplateHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tmpl string
		want []string
	}{
		{"{body./customer_id}", nil},
		{"{header.X-Tenant}", []string{"X-Tenant"}},
		{"{header.X-Tenant}-{path.id}-{header.X-Region}/{header.X-Tenant}{{header.nope}}", []string{"X-Tenant", "X-Region"}},
	}
	for _, tt := range tests {
		k, err := ParseKeyTemplate(tt.tmpl)
		if err != nil {
			t.Fatalf("ParseKeyTemplate(%q) = %v", tt.tmpl, err)
		}
		if got := k.Headers(); !slices.Equal(got, tt.want) {
			t.Errorf("ParseKeyTemplate(%q).Headers() = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}

func TestKeyTemplateBodyMember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tmpl, want string
		ok         bool
	}{
		{"{body./customer_id}", "customer_id", true},
		{"k-{body./a}-{path.id}-{body./a}", "a", true},
		{"{body./a~1b}", "a/b", true},
		{"{body./a}{body./b}", "", false},
		{"{body./a/b}", "", false},
		{"{body./0}", "0", true},
		{"{path.id}", "", false},
	}
	for _, tt := range tests {
		k, err := ParseKeyTemplate(tt.tmpl)
		if err != nil {
			t.Fatalf("ParseKeyTemplate(%q): %v", tt.tmpl, err)
		}
		if got, ok := k.BodyMember(); got != tt.want || ok != tt.ok {
			t.Errorf("%q.BodyMember() = %q, %v; want %q, %v", tt.tmpl, got, ok, tt.want, tt.ok)
		}
	}
	var none *KeyTemplate
	if _, ok := none.BodyMember(); ok {
		t.Error("a nil template names a body member")
	}
}

// TestValidatedBody: a body whose member's value was handed over gives it
// to {body./name} as it is, without reading the body for it, and looks
// up every other reference; a nil value hands over nothing.
func TestValidatedBody(t *testing.T) {
	t.Parallel()
	raw := []byte(`{"customer_id": "from-body", "n": 7}`)
	for _, tc := range []struct {
		tmpl  string
		value []byte
		want  string
	}{
		{"{body./customer_id}", []byte(`"handed-over"`), "handed-over"},
		{"{body./customer_id}", nil, "from-body"},
		{"{body./customer_id}-{body./n}", []byte(`"c"`), "c-7"},
		{"{body./n}", []byte(`42`), "7"}, // handed over for another member
	} {
		k, err := ParseKeyTemplate(tc.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		b := NewValidatedBody(raw, "customer_id", tc.value)
		got, err := k.Append(nil, mapFields{}, &b)
		if err != nil || string(got) != tc.want {
			t.Errorf("%q with %q handed over = %q, %v; want %q", tc.tmpl, tc.value, got, err, tc.want)
		}
	}
}

// checkedBody is a Body already found to be JSON, with no member handed
// over.
func checkedBody(raw []byte) *Body {
	b := NewValidatedBody(raw, "", nil)
	return &b
}
