package ingress_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestInsufficientScope: valid credentials without the route's scope get
// a 403 forbidden problem with an insufficient_scope challenge naming the
// scope, and produce nothing.
func TestInsufficientScope(t *testing.T) {
	t.Parallel()
	k := getKeys(t)
	g := startPolicyGateway(t, policyOpts{})
	expectNothingIn(t, g.cluster, "orders")
	arr := claims("arr", "")
	arr["scope"] = []string{"orders:read", "orders:writer"}
	tests := []struct {
		name   string
		hdr    []string
		scheme string
	}{
		{"token without scopes", bearer(rsaToken(t, "alice", "")), "Bearer"},
		{"token with another scope", bearer(rsaToken(t, "alice", "orders:read admin")), "Bearer"},
		{"token with a scope that only starts alike", bearer(rsaToken(t, "alice", "orders:write2 orders:")), "Bearer"},
		{"array of other scopes", bearer(mint(t, jwt.SigningMethodEdDSA, k.ed, "ed", arr)), "Bearer"},
		{"API key without the scope", []string{"X-API-Key", apiKeyReader}, "ApiKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, b := g.post(t, "/v1/orders", `{"customer_id":"c-1"}`, tt.hdr...)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("POST = %d %s, want 403", resp.StatusCode, b)
			}
			if p := problemOf(t, b); p.Type != problem.Forbidden.URI || !strings.Contains(p.Detail, "orders:write") {
				t.Errorf("problem = %+v, want forbidden naming orders:write", p)
			}
			chal := resp.Header.Get("WWW-Authenticate")
			want := tt.scheme + ` realm="ferry", error="insufficient_scope", scope="orders:write"`
			if !strings.Contains(chal, want) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", chal, want)
			}
		})
	}
}

// TestTenantIsolation: a route keyed by {claim.tenant} puts each tenant's
// records in its own key space, whatever the body says, and refuses a
// principal without the claim.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	g := startPolicyGateway(t, policyOpts{})
	acme := claims("alice", "orders:write")
	acme["tenant"] = "acme"
	globex := claims("bob", "orders:write")
	globex["tenant"] = "globex"
	k := getKeys(t)
	body := `{"customer_id":"c-1","tenant":"globex"}` // the body cannot choose
	for _, hdr := range [][]string{
		bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", acme)),
		bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", globex)),
		{"X-API-Key", apiKeyWriter}, // its config claims tenant: bots
	} {
		if resp, b := g.post(t, "/v1/tenant-orders", body, hdr...); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST = %d %s, want 202", resp.StatusCode, b)
		}
	}
	resp, b := g.post(t, "/v1/tenant-orders", body, bearer(rsaToken(t, "carol", "orders:write"))...)
	if p := problemOf(t, b); resp.StatusCode != http.StatusUnprocessableEntity || p.Type != problem.KeyUnresolved.URI {
		t.Errorf("POST without a tenant claim = %d %+v, want 422 key-unresolved", resp.StatusCode, p)
	}

	got := make(map[string]string)
	for _, r := range topicstest.Read(t, g.cluster, "tenants", 3, 5*time.Second) {
		got[string(r.Key)] = recordHeaders(r)["x-tenant"]
	}
	want := map[string]string{"acme/c-1": "acme", "globex/c-1": "globex", "bots/c-1": "bots"}
	for key, tenant := range want {
		if got[key] != tenant {
			t.Errorf("record %q has x-tenant %q, want %q (records: %v)", key, got[key], tenant, got)
		}
	}
	if n := topicstest.Count(t, g.cluster, "tenants"); n != 3 {
		t.Errorf("tenants holds %d records, want 3", n)
	}
}
