package policy

import (
	"testing"

	"github.com/ferry-gw/ferry/ingress/identity"
)

// TestLimitSubject: whose budget a request spends, and the fallbacks to
// the principal and then the client address, which is asked for only
// when it is the subject.
func TestLimitSubject(t *testing.T) {
	t.Parallel()
	jwtUser := &identity.Principal{ID: "alice", Kind: identity.PrincipalJWT, Claims: map[string]string{"tenant": "acme"}}
	bot := &identity.Principal{ID: "ci-bot", Kind: identity.PrincipalAPIKey}
	tests := []struct {
		by   string
		p    *identity.Principal
		want string
	}{
		{"principal", jwtUser, "sub:alice"},
		{"", bot, "key:ci-bot"},
		{"api_key", bot, "key:ci-bot"},
		{"api_key", jwtUser, "sub:alice"},
		{"claim:tenant", jwtUser, "claim:tenant=acme"},
		{"claim:tenant", bot, "key:ci-bot"},
		{"ip", jwtUser, "ip:192.0.2.1"},
		{"principal", identity.Anonymous, "ip:192.0.2.1"},
		{"claim:tenant", nil, "ip:192.0.2.1"},
	}
	for _, tt := range tests {
		asked := false
		addr := func() string { asked = true; return "192.0.2.1" }
		got := LimitSubject(tt.by, tt.p, addr)
		if got != tt.want {
			t.Errorf("LimitSubject(%q, %v) = %q, want %q", tt.by, tt.p, got, tt.want)
		}
		if wantAsked := got[:3] == "ip:"; asked != wantAsked {
			t.Errorf("LimitSubject(%q, %v) asked for the client address: %v, want %v", tt.by, tt.p, asked, wantAsked)
		}
	}
}
