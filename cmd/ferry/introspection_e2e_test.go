package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestIntrospectionServe runs serve with auth.introspection against a
// local identity provider: an active opaque token with the route's scope
// publishes (202), an inactive one is 401, a token without the scope 403,
// and when the provider is down the request fails closed with 503
// auth-unavailable.
func TestIntrospectionServe(t *testing.T) {
	t.Parallel()
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "ferry" || secret != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ans := map[string]any{"active": false}
		switch r.PostFormValue("token") {
		case "good":
			ans = map[string]any{"active": true, "sub": "alice", "scope": "orders:write"}
		case "reader":
			ans = map[string]any{"active": true, "sub": "bob", "scope": "orders:read"}
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	defer idp.Close()
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr, stop := serveFor(t, c, fmt.Sprintf(`
auth:
  introspection: { url: %q, client_id: ferry, client_secret_file: %q }
routes:
  - { name: pub, path: /v1/pub, topic: orders.events, scopes: ["orders:write"] }
`, idp.URL, secret))
	defer stop()
	post := func(token string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/pub", strings.NewReader(`{"a":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p struct{ Type string }
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p.Type
	}
	for _, tt := range []struct {
		token, want string
		status      int
	}{
		{"good", "", 202},
		{"revoked", "urn:ferry:problem:unauthenticated", 401},
		{"reader", "urn:ferry:problem:forbidden", 403},
	} {
		if st, typ := post(tt.token); st != tt.status || typ != tt.want {
			t.Errorf("token %s: %d %s, want %d %s", tt.token, st, typ, tt.status, tt.want)
		}
	}
	idp.Close()
	if st, typ := post("unknown-while-down"); st != 503 || typ != "urn:ferry:problem:auth-unavailable" {
		t.Errorf("provider down: %d %s, want 503 auth-unavailable", st, typ)
	}
	if st, _ := post("good"); st != 202 {
		t.Errorf("a token introspected before the provider went down: %d, want 202 from the cache", st)
	}
}
