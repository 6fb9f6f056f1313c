package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// decodedPointer is how key templates read the body before lookupPointer:
// decode it all with encoding/json (UseNumber), then walk the tree. It is
// the reference FuzzLookupPointer compares with.
func decodedPointer(raw []byte, p part) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, errors.New("not JSON")
	}
	for _, tok := range p.ptr {
		switch n := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = n[tok]; !ok {
				return nil, errors.New("missing")
			}
		case []any:
			i, err := atoiStrict(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil, errors.New("missing")
			}
			v = n[i]
		default:
			return nil, errors.New("missing")
		}
	}
	switch s := v.(type) {
	case string:
		if s != "" {
			return []byte(s), nil
		}
	case json.Number:
		return []byte(s), nil
	case bool:
		if s {
			return []byte("true"), nil
		}
		return []byte("false"), nil
	}
	return nil, errors.New("wrong type")
}

// atoiStrict reads an array index as key templates always have.
func atoiStrict(tok string) (int, error) {
	if len(tok) > 1 && tok[0] == '0' {
		return 0, errors.New("leading zero")
	}
	return strconv.Atoi(tok)
}

func TestLookupPointer(t *testing.T) {
	t.Parallel()
	body := []byte(` { "a" : [ {"b": "x"}, {"b": "y\u00e9", "c": [1, 2.5e3, true]} ],
		"dup": 1, "dup": "last", "e\u0073c": "escaped key", "s/l~a": 7, "": "empty key",
		"nested": {"deep": {"er": false}}, "n": null, "o": {}, "str": "" } `)
	tests := []struct {
		ptr, want string
		err       bool
	}{
		{"/a/0/b", "x", false},
		{"/a/1/b", "yé", false},
		{"/a/1/c/1", "2.5e3", false},
		{"/a/1/c/2", "true", false},
		{"/dup", "last", false},
		{"/esc", "escaped key", false},
		{"/s~1l~0a", "7", false},
		{"/", "empty key", false},
		{"/nested/deep/er", "false", false},
		{"/a/2/b", "", true},
		{"/a/01/b", "", true},
		{"/a/x", "", true},
		{"/n", "", true},
		{"/o", "", true},
		{"/str", "", true},
		{"/a", "", true},
		{"/nested/deep/er/x", "", true},
		{"/missing", "", true},
	}
	for _, tt := range tests {
		k, err := ParseKeyTemplate("{body." + tt.ptr + "}")
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Append(nil, mapFields{}, NewBody(body))
		if tt.err {
			if !errors.Is(err, ErrKeyUnresolved) {
				t.Errorf("{body.%s} = %q, %v; want ErrKeyUnresolved", tt.ptr, got, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("{body.%s} = %q, %v; want %q", tt.ptr, got, err, tt.want)
		}
	}
}

// FuzzLookupPointer checks that key templates read a body the same way as
// decoding it with encoding/json does.
//
// Invariants: for a valid JSON body and any pointer, {body./pointer}
// resolves exactly when the decoded tree has a non-empty string, a number
// or a boolean there, and to the same text; an invalid body never
// resolves; nothing panics.
//
// Run: go test -run '^$' -fuzz FuzzLookupPointer -fuzztime 30s ./topics
func FuzzLookupPointer(f *testing.F) {
	f.Add(`{"a":[{"b":"x"}],"dup":1,"dup":"y"}`, "/a/0/b")
	f.Add(`{"e\u0073c":"v","s/l~a":[true,false,0.5]}`, "/s~1l~0a/2")
	f.Add(`{"k":"\ud800","\u00e9":"\u00e9"}`, "/é")
	f.Add(" [ 1 , [ 2 , { \"x\" : \"\\\"q\\\"\" } ] ] ", "/1/1/x")
	f.Add(`{"a":1} trailing`, "/a")
	f.Fuzz(func(t *testing.T, body, ptr string) {
		if !strings.HasPrefix(ptr, "/") || strings.ContainsAny(ptr, "{}") {
			return
		}
		k, err := ParseKeyTemplate("{body." + ptr + "}")
		if err != nil {
			return
		}
		got, err := k.Append(nil, mapFields{}, NewBody([]byte(body)))
		if err != nil && !errors.Is(err, ErrKeyUnresolved) {
			t.Fatalf("Append = %v, want nil or ErrKeyUnresolved", err)
		}
		if !json.Valid([]byte(body)) {
			if err == nil {
				t.Fatalf("{body.%s} on invalid JSON %q = %q, want ErrKeyUnresolved", ptr, body, got)
			}
			return
		}
		want, werr := decodedPointer([]byte(body), k.parts[0])
		if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("{body.%s} on %q = %q, %v; decoding gives %q, %v", ptr, body, got, err, want, werr)
		}
	})
}
