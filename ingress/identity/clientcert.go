package identity

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// ErrClientCertificate is wrapped by the error of a client certificate
// that was presented but does not verify: expired, not yet valid, signed
// by a CA that tls.client_ca_file does not hold, or not for client auth.
var ErrClientCertificate = errors.New("the client certificate does not verify")

// CertVerifier verifies the client certificates that a TLS handshake
// asked for without verifying them (tls.client_auth: verify_if_given), so
// that a client presenting a bad one gets an HTTP answer saying why (401)
// instead of a failed handshake, which most clients report as an opaque
// network error. nginx's `ssl_verify_client optional` answers such a
// client in HTTP too.
//
// Verdicts are cached by the certificates' bytes and the CA pool they
// were checked against, so a connection's requests, and a client's
// reconnections, verify its chain once; a verdict is rechecked against
// the clock on every use, so a certificate that expires is refused from
// then on.
type CertVerifier struct {
	roots func() *x509.CertPool
	seen  *lru.Cache[[sha256.Size]byte, certVerdict]
	now   func() time.Time
}

// certVerdict is one chain's verification against one CA pool.
type certVerdict struct {
	roots      *x509.CertPool
	leaf       *x509.Certificate
	err        error
	from, till time.Time // when the chain's every certificate is valid
}

// certCacheSize bounds the verdicts kept: distinct client certificates
// seen recently.
const certCacheSize = 4096

// NewCertVerifier returns a verifier against the CA pool roots returns
// (called for every verification: the pool may be replaced, when its
// file is re-read, and verdicts against the old one are not reused).
func NewCertVerifier(roots func() *x509.CertPool) *CertVerifier {
	seen, _ := lru.New[[sha256.Size]byte, certVerdict](certCacheSize) // only a size ≤ 0 fails
	return &CertVerifier{roots: roots, seen: seen, now: time.Now}
}

// VerifyClient returns the verified leaf certificate of st's client: nil
// and no error when the client presented none; an error wrapping
// ErrClientCertificate, saying why, when it presented one that does not
// verify. A chain the handshake itself verified is taken as is.
func (v *CertVerifier) VerifyClient(st *tls.ConnectionState) (*x509.Certificate, error) {
	if st == nil || len(st.PeerCertificates) == 0 {
		return nil, nil
	}
	if len(st.VerifiedChains) > 0 && len(st.VerifiedChains[0]) > 0 {
		return st.VerifiedChains[0][0], nil
	}
	roots, now := v.roots(), v.now()
	h := sha256.New()
	for _, c := range st.PeerCertificates {
		h.Write(c.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	d, ok := v.seen.Get(key)
	if !ok || d.roots != roots || (d.err == nil && (now.Before(d.from) || now.After(d.till))) {
		d = verifyChain(st.PeerCertificates, roots, now)
		v.seen.Add(key, d)
	}
	if d.err != nil {
		return nil, d.err
	}
	return d.leaf, nil
}

// verifyChain verifies certs (the leaf first, then the intermediates the
// client sent) against roots for client authentication at now.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, now time.Time) certVerdict {
	d := certVerdict{roots: roots}
	if roots == nil {
		d.err = fmt.Errorf("%w: no client CAs are configured (tls.client_ca_file)", ErrClientCertificate)
		return d
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		d.err = fmt.Errorf("%w: %s: %w", ErrClientCertificate, certs[0].Subject, err)
		return d
	}
	d.leaf = certs[0]
	d.from, d.till = certs[0].NotBefore, certs[0].NotAfter
	for _, c := range chains[0][1:] {
		d.from, d.till = maxTime(d.from, c.NotBefore), minTime(d.till, c.NotAfter)
	}
	return d
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
