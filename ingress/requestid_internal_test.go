package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/topics"
)

// TestAccessLogPrincipal: the access line names the authenticated
// principal by id, and only by id.
func TestAccessLogPrincipal(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	s, err := New(Config{}, table, Deps{Producer: nopProducer{}}, WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	if err != nil {
		t.Fatal(err)
	}
	var fctx fasthttp.RequestCtx
	fctx.Request.Header.SetMethod("POST")
	fctx.Request.SetRequestURI("/v1/orders")
	c := s.app.AcquireCtx(&fctx)
	defer s.app.ReleaseCtx(c)
	for _, p := range []*identity.Principal{nil, {ID: "ci-bot", Kind: identity.PrincipalAPIKey, Scopes: []string{"orders:write"}, Claims: map[string]string{"email": "x@example.com"}}} {
		buf.Reset()
		s.logAccess(c, &reqInfo{id: "r1", route: "create-order", principal: p}, time.Millisecond)
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("access line %q: %v", buf.Bytes(), err)
		}
		if dup := duplicateKey(buf.Bytes()); dup != "" {
			t.Errorf("access line names %q twice: %s", dup, buf.Bytes())
		}
		got, present := line["principal"]
		switch {
		case p == nil && present:
			t.Errorf("principal = %v without one, want no key", got)
		case p != nil && got != p.ID:
			t.Errorf("principal = %v, want %q", got, p.ID)
		}
		if bytes.Contains(buf.Bytes(), []byte("x@example.com")) || bytes.Contains(buf.Bytes(), []byte("orders:write")) {
			t.Errorf("access line holds claims or scopes: %s", buf.Bytes())
		}
	}
}

// duplicateKey returns a key that a JSON object line holds more than once
// at its top level ("" when none does): encoding/json would keep the last
// silently, log pipelines may keep either.
func duplicateKey(line []byte) string {
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := tok.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

type nopProducer struct{}

func (nopProducer) Produce(context.Context, *topics.Message) (topics.Position, error) {
	return topics.Position{}, nil
}

// TestNewRequestIDs: the request id and traceparent made together are
// what newRequestID and topics.NewTraceParent make apart: 32 hex digits,
// a valid traceparent of version 00, not sampled, never repeating.
func TestNewRequestIDs(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id, tp := newRequestIDs()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("request id %q is not 32 lowercase hex digits", id)
		}
		if !topics.ValidTraceParent(tp) || !strings.HasPrefix(tp, "00-") || !strings.HasSuffix(tp, "-00") {
			t.Fatalf("traceparent %q", tp)
		}
		if seen[id] || seen[tp] {
			t.Fatalf("repeated: %s %s", id, tp)
		}
		seen[id], seen[tp] = true, true
	}
}
