package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MTLSConfig is one entry of `auth.mtls`: a verified client certificate
// that matches it (subject, or a DNS name among its SANs) becomes a
// principal with these scopes.
type MTLSConfig struct {
	// Subject is the certificate's subject as written by
	// x509.Certificate.Subject.String(), e.g. "CN=billing-batch".
	Subject string `yaml:"subject"`
	// SANDNS matches a DNS name of the certificate's SANs; "*." at its
	// start matches one label ("*.jobs.internal").
	SANDNS string `yaml:"san_dns"`
	// Scopes the principal holds.
	Scopes []string `yaml:"scopes"`
}

// PrincipalMTLS is the Kind (ce_authtype) of a client certificate's
// principal.
const PrincipalMTLS = "mtls"

// ErrNoCertificateMatch means a verified client certificate matches no
// auth.mtls entry: it names nobody ferry knows.
var ErrNoCertificateMatch = errors.New("client certificate matches no auth.mtls entry")

func validateMTLS(entries []MTLSConfig) []error {
	var errs []error
	for i, m := range entries {
		at := fmt.Sprintf("mtls[%d]", i)
		if (m.Subject == "") == (m.SANDNS == "") {
			errs = append(errs, fmt.Errorf("%s: needs exactly one of subject and san_dns", at))
		}
		if strings.Contains(strings.TrimPrefix(m.SANDNS, "*."), "*") {
			errs = append(errs, fmt.Errorf("%s.san_dns: %q: a wildcard may only be the whole first label (*.example.com)", at, m.SANDNS))
		}
		errs = append(errs, checkScopes(at+".scopes", m.Scopes)...)
	}
	return errs
}

// AuthenticateCertificate returns the principal of a client certificate
// the TLS handshake verified against tls.client_ca_file: the first
// auth.mtls entry it matches, with that entry's scopes; its ID is the
// certificate's subject. Errors wrap ErrInvalidCredentials.
func (a *Authenticator) AuthenticateCertificate(cert *x509.Certificate) (*Principal, error) {
	for _, m := range a.mtls {
		if matchesCert(m, cert) {
			return &Principal{ID: cert.Subject.String(), Kind: PrincipalMTLS, Scopes: slices.Clone(m.Scopes),
				Claims: map[string]string{"sub": cert.Subject.String()}, Expires: cert.NotAfter}, nil
		}
	}
	return nil, Invalid("the client certificate "+cert.Subject.String()+" matches no auth.mtls entry", ErrNoCertificateMatch)
}

func matchesCert(m MTLSConfig, cert *x509.Certificate) bool {
	if m.Subject != "" {
		return cert.Subject.String() == m.Subject
	}
	for _, name := range cert.DNSNames {
		if dnsMatch(m.SANDNS, name) {
			return true
		}
	}
	return false
}

// dnsMatch matches a DNS name against a pattern whose first label may be
// "*", standing for exactly one label (RFC 6125), case-insensitively.
func dnsMatch(pattern, name string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		head, found := strings.CutSuffix(strings.ToLower(name), strings.ToLower(suffix))
		return found && head != "" && !strings.Contains(head, ".")
	}
	return strings.EqualFold(pattern, name)
}
