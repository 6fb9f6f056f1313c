package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-gw/ferry/ingress/identity"
)

// TestTokenPassesQuickstartAuth mints a token the way the README does and
// checks that the quickstart config's auth section accepts it.
func TestTokenPassesQuickstartAuth(t *testing.T) {
	t.Parallel()
	var out, errOut strings.Builder
	args := []string{"token", "--key", "../../testdata/keys/dev-jwt.key", "--scope", "orders:write", "--scope", "orders:read admin", "--claim", "tenant=acme", "--ttl", "5m"}
	if code := run(t.Context(), args, &out, &errOut); code != 0 {
		t.Fatalf("ferry token exited %d: %s", code, errOut.String())
	}
	token := strings.TrimSpace(out.String())
	cfg, err := loadConfig("../../testdata/ferry.yaml")
	if err != nil {
		t.Fatalf("loadConfig:\n%s", formatErrors(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auth, err := identity.New(ctx, cfg.Auth.Config)
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	p, err := auth.Authenticate(ctx, identity.Credential{Scheme: identity.SchemeBearer, Value: token})
	if err != nil {
		t.Fatalf("Authenticate(ferry token) = %v", err)
	}
	if p.ID != "dev-user" || p.Kind != identity.PrincipalJWT || p.Claims["tenant"] != "acme" {
		t.Errorf("principal = %+v, want dev-user (app_user) with tenant acme", p)
	}
	if diff := cmp.Diff([]string{"orders:write", "orders:read", "admin"}, p.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}

	key, err := auth.Authenticate(ctx, identity.Credential{Scheme: identity.SchemeAPIKey, Value: "ferry-dev-only-api-key"})
	if err != nil || key.ID != "dev-orders-bot" {
		t.Errorf("Authenticate(the documented dev API key) = %+v, %v; want dev-orders-bot", key, err)
	}
}

func TestTokenUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"unknown flag", []string{"token", "--nope"}, 2},
		{"argument", []string{"token", "extra"}, 2},
		{"bad ttl", []string{"token", "--ttl", "-1s"}, 2},
		{"bad claim", []string{"token", "--key", "../../testdata/keys/dev-jwt.key", "--claim", "novalue"}, 2},
		{"missing key", []string{"token", "--key", "does-not-exist.pem"}, 1},
		{"public key", []string{"token", "--key", "../../testdata/keys/dev-jwt.pub"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut strings.Builder
			if code := run(t.Context(), tt.args, &out, &errOut); code != tt.code {
				t.Errorf("ferry %v exited %d, want %d (%s)", tt.args, code, tt.code, errOut.String())
			}
			if out.Len() != 0 {
				t.Errorf("ferry %v printed %q on a failure", tt.args, out.String())
			}
		})
	}
}
