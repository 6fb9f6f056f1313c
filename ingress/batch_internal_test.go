package ingress

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzSplitArray: for every valid JSON text, splitArray finds the same
// elements as decoding into []json.RawMessage (the way it replaced), and
// says "not an array" exactly when that decoding fails.
func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{
		`[]`, ` [ ] `, `[1]`, `[1,2 , 3 ]`, `[{"a":[1,{"b":"]"}]},"x,y",null,true,false,-1.5e3]`,
		`["\"],[", "\\", "\u005d"]`, `{"a":1}`, `"[1]"`, `[[],[[]],{}]`, "[\n\t{\"id\":\"a\"}\n,\n{\"id\":\"b\"}\n]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		got, ok := splitArray(b)
		var want []json.RawMessage
		err := json.Unmarshal(b, &want)
		if ok != (err == nil) {
			t.Fatalf("splitArray(%q) ok = %v; json.Unmarshal: %v", b, ok, err)
		}
		if len(got) != len(want) {
			t.Fatalf("splitArray(%q) = %d elements, want %d", b, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], bytes.TrimSpace(want[i])) {
				t.Fatalf("splitArray(%q)[%d] = %q, want %q", b, i, got[i], want[i])
			}
		}
	})
}
