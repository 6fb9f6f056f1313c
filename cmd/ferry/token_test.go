package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

// authenticateQuickstart checks token against the quickstart config's auth
// section.
func authenticateQuickstart(t *testing.T, root, token string) (*identity.Principal, error) {
	t.Helper()
	cfg, err := loadConfig(filepath.Join(root, "testdata", "ferry.yaml"))
	if err != nil {
		t.Fatalf("loadConfig:\n%s", formatErrors(err))
	}
	auth, err := identity.New(t.Context(), cfg.Auth.Config)
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	return auth.Authenticate(t.Context(), identity.Credential{Scheme: identity.SchemeBearer, Value: token})
}

// repoRoot is the repository's root folder (tests run in cmd/ferry).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestTokenDefaultKeyOutsideRepoRoot (issue 16 item 14): without --key,
// ferry token finds the dev key from a folder below the repository root,
// takes $FERRY_DEV_KEY anywhere, and elsewhere says which paths it tried
// and what to pass.
func TestTokenDefaultKeyOutsideRepoRoot(t *testing.T) {
	root := repoRoot(t)
	t.Setenv("FERRY_DEV_KEY", "")
	t.Chdir(filepath.Join(root, "cmd", "ferry")) // below the root
	code, stdout, stderr := runCLI(t, "token", "--scope", "orders:write")
	if code != 0 {
		t.Fatalf("ferry token in cmd/ferry exited %d: %s", code, stderr)
	}
	if _, err := authenticateQuickstart(t, root, strings.TrimSpace(stdout)); err != nil {
		t.Errorf("the token minted in cmd/ferry is refused: %v", err)
	}

	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	code, stdout, stderr = runCLI(t, "token")
	if code != 1 || stdout != "" {
		t.Errorf("ferry token outside the repository = exit %d, stdout %q; want exit 1", code, stdout)
	}
	for _, want := range []string{filepath.Join(elsewhere, "testdata", "keys", "dev-jwt.key"), "--key FILE", "FERRY_DEV_KEY"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}

	t.Setenv("FERRY_DEV_KEY", filepath.Join(root, "testdata", "keys", "dev-jwt.key"))
	code, stdout, stderr = runCLI(t, "token")
	if code != 0 {
		t.Fatalf("ferry token with FERRY_DEV_KEY exited %d: %s", code, stderr)
	}
	if _, err := authenticateQuickstart(t, root, strings.TrimSpace(stdout)); err != nil {
		t.Errorf("the token minted with FERRY_DEV_KEY is refused: %v", err)
	}
	t.Setenv("FERRY_DEV_KEY", filepath.Join(elsewhere, "nope.key"))
	if code, _, stderr := runCLI(t, "token"); code != 1 || !strings.Contains(stderr, "FERRY_DEV_KEY") || !strings.Contains(stderr, "nope.key") {
		t.Errorf("ferry token with a missing FERRY_DEV_KEY = exit %d, stderr %q; want exit 1 naming the variable and the file", code, stderr)
	}
}

// TestTokenExpired (issue 16 item 14): --expired mints a token whose exp
// is past, beyond the default leeway, which the quickstart refuses as
// expired.
func TestTokenExpired(t *testing.T) {
	code, stdout, stderr := runCLI(t, "token", "--key", "../../testdata/keys/dev-jwt.key", "--scope", "orders:write", "--expired")
	if code != 0 {
		t.Fatalf("ferry token --expired exited %d: %s", code, stderr)
	}
	token := strings.TrimSpace(stdout)
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil || !exp.Before(time.Now().Add(-identity.DefaultLeeway)) {
		t.Errorf("exp = %v (%v), want before now - %v", exp, err, identity.DefaultLeeway)
	}
	if iat, _ := claims.GetIssuedAt(); iat == nil || !iat.Before(exp.Time) {
		t.Errorf("iat = %v, want before exp %v", iat, exp)
	}
	_, err = authenticateQuickstart(t, repoRoot(t), token)
	if !errors.Is(err, identity.ErrInvalidCredentials) || !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("Authenticate(--expired token) = %v, want an expired token", err)
	}
}
