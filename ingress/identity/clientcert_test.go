package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// certAuthority makes a CA and signs client certificates with it.
type certAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCertAuthority(t *testing.T, name string, now time.Time) *certAuthority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &certAuthority{cert: cert, key: key, pool: pool}
}

func (ca *certAuthority) client(t *testing.T, cn string, notAfter time.Time, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.Add(-2 * time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestCertVerifier: a certificate of the pool's CA verifies; none is no
// error; another CA's, a server certificate and an expired one do not,
// saying why. A cached verdict is rechecked against the clock (the
// certificate expires while cached) and is not reused against a new pool.
func TestCertVerifier(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca, other := newCertAuthority(t, "clients CA", now), newCertAuthority(t, "other CA", now)
	roots := ca.pool
	v := NewCertVerifier(func() *x509.CertPool { return roots })
	v.now = func() time.Time { return now }
	state := func(c *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	}

	if leaf, err := v.VerifyClient(&tls.ConnectionState{}); leaf != nil || err != nil {
		t.Errorf("no certificate: %v %v, want nil nil", leaf, err)
	}
	good := ca.client(t, "billing-batch", now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	for range 2 { // the second from the cache
		if leaf, err := v.VerifyClient(state(good)); err != nil || leaf != good {
			t.Fatalf("a certificate of the CA: %v %v, want it verified", leaf, err)
		}
	}
	for name, c := range map[string]*x509.Certificate{
		"unknown authority": other.client(t, "stranger", now.Add(time.Hour), x509.ExtKeyUsageClientAuth),
		"expired":           ca.client(t, "old", now.Add(-time.Minute), x509.ExtKeyUsageClientAuth),
		"incompatible":      ca.client(t, "a server", now.Add(time.Hour), x509.ExtKeyUsageServerAuth),
	} {
		for range 2 {
			_, err := v.VerifyClient(state(c))
			if !errors.Is(err, ErrClientCertificate) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: %v, want ErrClientCertificate naming it", name, err)
			}
		}
	}

	// The cached verdict of good expires with the certificate.
	now = now.Add(2 * time.Hour)
	if _, err := v.VerifyClient(state(good)); !errors.Is(err, ErrClientCertificate) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("a cached certificate past its NotAfter: %v, want expired", err)
	}
	// A new pool (the CA file re-read with another CA) is checked anew.
	now = now.Add(-2 * time.Hour)
	roots = other.pool
	if _, err := v.VerifyClient(state(good)); !errors.Is(err, ErrClientCertificate) || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("against a new pool without its CA: %v, want unknown authority", err)
	}
}
