package ingress

import (
	"testing"
	"time"
)

func TestParsePrefer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   preferences
	}{
		{name: "none", values: nil, want: preferences{}},
		{name: "respond-async", values: []string{"respond-async"}, want: preferences{async: true}},
		{name: "case and spaces", values: []string{"  Respond-Async  "}, want: preferences{async: true}},
		{name: "wait", values: []string{"wait=10"}, want: preferences{wait: 10 * time.Second, hasWait: true}},
		{name: "quoted wait", values: []string{`wait="3"`}, want: preferences{wait: 3 * time.Second, hasWait: true}},
		{name: "both", values: []string{"respond-async, wait=5"}, want: preferences{async: true, wait: 5 * time.Second, hasWait: true}},
		{name: "two headers", values: []string{"handling=lenient", "wait=0"}, want: preferences{hasWait: true}},
		{name: "first wait wins", values: []string{"wait=2, wait=9"}, want: preferences{wait: 2 * time.Second, hasWait: true}},
		{name: "parameters ignored", values: []string{"wait=4; foo=bar, respond-async;x"}, want: preferences{async: true, wait: 4 * time.Second, hasWait: true}},
		{name: "comma in a quoted value", values: []string{`foo="a,wait=1", wait=7`}, want: preferences{wait: 7 * time.Second, hasWait: true}},
		{name: "malformed waits", values: []string{"wait=-1, wait=1.5, wait=, wait=abc"}, want: preferences{}},
		{name: "huge wait capped", values: []string{"wait=4294967295"}, want: preferences{wait: maxPreferWait, hasWait: true}},
		{name: "respond-async with a value is not it", values: []string{"respond-async=no"}, want: preferences{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var vs [][]byte
			for _, v := range tt.values {
				vs = append(vs, []byte(v))
			}
			if got := parsePrefer(vs); got != tt.want {
				t.Errorf("parsePrefer(%q) = %+v, want %+v", tt.values, got, tt.want)
			}
		})
	}
}

// FuzzPrefer parses arbitrary Prefer headers.
//
// Invariants:
//   - parsePrefer never panics;
//   - a wait is never negative nor above maxPreferWait, and is whole seconds;
//   - without hasWait the wait is zero;
//   - appending an unrelated preference changes nothing that was found.
//
// Run: go test -run=^$ -fuzz=FuzzPrefer -fuzztime=30s ./ingress/
func FuzzPrefer(f *testing.F) {
	for _, s := range []string{"respond-async, wait=10", `wait="5"; x=y`, `a="\",wait=3", wait=1`, "wait=99999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		p := parsePrefer([][]byte{v})
		if p.wait < 0 || p.wait > maxPreferWait || p.wait%time.Second != 0 || (!p.hasWait && p.wait != 0) {
			t.Fatalf("parsePrefer(%q) = %+v", v, p)
		}
		if q := parsePrefer([][]byte{v, []byte("handling=strict")}); q != p {
			t.Fatalf("parsePrefer(%q, handling=strict) = %+v, want %+v", v, q, p)
		}
	})
}
