package consumers_test

import (
	"errors"
	"testing"

	"github.com/ferry-gw/ferry/consumers"
)

func TestParseWhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		ok       bool
		want     string // the condition's String()
	}{
		{"string", `/status="failed"`, true, `/status = "failed"`},
		{"spaces", ` /status = "failed" `, true, `/status = "failed"`},
		{"number", `/amount>100`, true, `/amount > 100`},
		{"not equal null", `/a/b != null`, true, `/a/b != null`},
		{"at most", `/n<=2.5`, true, `/n <= 2.5`},
		{"at least", `/n>=-1`, true, `/n >= -1`},
		{"escaped pointer", `/a~1b/c~0d="x"`, true, `/a~1b/c~0d = "x"`},
		{"whole value", `="x"`, true, ` = "x"`},
		{"object", `/o={"a":1}`, true, `/o = {"a":1}`},
		{"no operator", `/status`, false, ""},
		{"not a pointer", `status="x"`, false, ""},
		{"unquoted string", `/status=failed`, false, ""},
		{"two values", `/a=1 2`, false, ""},
		{"empty value", `/a=`, false, ""},
		{"bad escape", `/a~2="x"`, false, ""},
		{"order of a bool", `/a>true`, false, ""},
		{"double operator", `/a==1`, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := consumers.ParseWhere(tt.in)
			if !tt.ok {
				if !errors.Is(err, consumers.ErrBadWhere) {
					t.Errorf("ParseWhere(%q) = %v, %v; want ErrBadWhere", tt.in, w, err)
				}
				return
			}
			if err != nil || w.String() != tt.want {
				t.Errorf("ParseWhere(%q) = %q, %v; want %q", tt.in, w.String(), err, tt.want)
			}
		})
	}
}

func TestWhereMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		where, value string
		want         bool
	}{
		{`/status="failed"`, `{"status":"failed"}`, true},
		{`/status="failed"`, `{"status":"ok"}`, false},
		{`/status="failed"`, `{"other":"failed"}`, false},
		{`/status!="failed"`, `{"status":"ok"}`, true},
		{`/status!="failed"`, `{"other":1}`, false}, // a missing value matches nothing
		{`/amount>100`, `{"amount":100.5}`, true},
		{`/amount>100`, `{"amount":100}`, false},
		{`/amount>=100`, `{"amount":1e2}`, true},
		{`/amount=100`, `{"amount":100.0}`, true},
		{`/amount<100`, `{"amount":"99"}`, false}, // a string is not below a number
		{`/time<"2026-02"`, `{"time":"2026-01-31T00:00:00Z"}`, true},
		{`/items/1/sku="B"`, `{"items":[{"sku":"A"},{"sku":"B"}]}`, true},
		{`/items/2/sku="B"`, `{"items":[{"sku":"A"},{"sku":"B"}]}`, false},
		{`/items/01="x"`, `{"items":["y","x"]}`, false}, // no leading zeros in indexes
		{`/a~1b="x"`, `{"a/b":"x"}`, true},
		{`/a~0b="x"`, `{"a~b":"x"}`, true},
		{`/o={"b":[1,2],"a":true}`, `{"o":{"a":true,"b":[1,2.0]}}`, true},
		{`/ok=true`, `{"ok":true}`, true},
		{`/gone=null`, `{"gone":null}`, true},
		{`="x"`, `"x"`, true},
		{`/status="failed"`, `<img src=x onerror=alert(1)>`, false}, // not JSON
		{`/status="failed"`, ``, false},                             // a tombstone
	}
	for _, tt := range tests {
		t.Run(tt.where+" "+tt.value, func(t *testing.T) {
			t.Parallel()
			w, err := consumers.ParseWhere(tt.where)
			if err != nil {
				t.Fatal(err)
			}
			if got := consumers.MatchWhere([]consumers.Where{w}, []byte(tt.value)); got != tt.want {
				t.Errorf("MatchWhere(%s, %s) = %v, want %v", tt.where, tt.value, got, tt.want)
			}
		})
	}
}

// TestWhereAll: every condition must hold (AND), and none is none.
func TestWhereAll(t *testing.T) {
	t.Parallel()
	a, _ := consumers.ParseWhere(`/status="failed"`)
	b, _ := consumers.ParseWhere(`/amount>100`)
	for _, tt := range []struct {
		value string
		want  bool
	}{
		{`{"status":"failed","amount":101}`, true},
		{`{"status":"failed","amount":99}`, false},
		{`{"status":"ok","amount":101}`, false},
	} {
		if got := consumers.MatchWhere([]consumers.Where{a, b}, []byte(tt.value)); got != tt.want {
			t.Errorf("MatchWhere(a AND b, %s) = %v, want %v", tt.value, got, tt.want)
		}
	}
	if !consumers.MatchWhere(nil, []byte("not json")) {
		t.Error("MatchWhere(none, not json) = false, want true: no condition holds for every record")
	}
}

// FuzzWhere: ParseWhere never panics on any input, a condition it accepts
// is read back the same from its String(), and MatchWhere never panics
// on any record value.
func FuzzWhere(f *testing.F) {
	for _, s := range []string{`/status="failed"`, `/amount > 100`, `/a~1b/0 != null`, `="x"`, `/o={"a":[1]}`, `/a<"z"`} {
		f.Add(s, []byte(`{"status":"failed","amount":101,"a/b":[1],"o":{"a":[1]}}`))
	}
	f.Fuzz(func(t *testing.T, s string, value []byte) {
		w, err := consumers.ParseWhere(s)
		if err != nil {
			if !errors.Is(err, consumers.ErrBadWhere) {
				t.Fatalf("ParseWhere(%q) = %v, not an ErrBadWhere", s, err)
			}
			return
		}
		again, err := consumers.ParseWhere(w.String())
		if err != nil || again.String() != w.String() {
			t.Fatalf("ParseWhere(%q).String() = %q reads back as %q, %v", s, w.String(), again.String(), err)
		}
		consumers.MatchWhere([]consumers.Where{w}, value)
	})
}
