package identity

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
)

// TestAuthenticateCertificate: a certificate matching an auth.mtls entry by
// subject or by a DNS SAN (one "*." label) is a principal with that
// entry's scopes; one matching none is invalid credentials; the config
// names each mistake.
func TestAuthenticateCertificate(t *testing.T) {
	t.Parallel()
	a, err := New(context.Background(), Config{MTLS: []MTLSConfig{
		{Subject: "CN=billing-batch", Scopes: []string{"orders:write"}},
		{SANDNS: "*.jobs.internal", Scopes: []string{"orders:read"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cert  *x509.Certificate
		id    string
		scope string
	}{
		{&x509.Certificate{Subject: pkix.Name{CommonName: "billing-batch"}}, "CN=billing-batch", "orders:write"},
		{&x509.Certificate{Subject: pkix.Name{CommonName: "x"}, DNSNames: []string{"nightly.jobs.internal"}}, "CN=x", "orders:read"},
		{&x509.Certificate{Subject: pkix.Name{CommonName: "y"}, DNSNames: []string{"a.b.jobs.internal"}}, "", ""},
		{&x509.Certificate{Subject: pkix.Name{CommonName: "billing-batch", Organization: []string{"Evil"}}}, "", ""},
	} {
		p, err := a.AuthenticateCertificate(tt.cert)
		switch {
		case tt.id == "" && !errors.Is(err, ErrInvalidCredentials):
			t.Errorf("%s %v: %v %v, want invalid credentials", tt.cert.Subject, tt.cert.DNSNames, p, err)
		case tt.id != "" && (err != nil || p.ID != tt.id || p.Kind != PrincipalMTLS || !p.HasScopes([]string{tt.scope})):
			t.Errorf("%s %v: %+v %v, want %s with %s", tt.cert.Subject, tt.cert.DNSNames, p, err, tt.id, tt.scope)
		}
	}
	err = Config{MTLS: []MTLSConfig{{}, {Subject: "CN=a", SANDNS: "b"}, {SANDNS: "a.*.b", Scopes: []string{"a b"}}}}.Validate()
	for _, want := range []string{"mtls[0]: needs exactly one of subject and san_dns", "mtls[1]: needs exactly one", "mtls[2].san_dns", "mtls[2].scopes[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not say %q: %v", want, err)
		}
	}
}
