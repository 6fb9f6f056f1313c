package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// selfSigned returns a TLS server config for 127.0.0.1 and the PEM file
// of its certificate, for clients to trust.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafka"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, path
}

// TestServeWithTLSAndSASL runs serve against a broker that requires TLS
// and SASL (PLAIN, then SCRAM-SHA-256): it becomes ready and publishes.
func TestServeWithTLSAndSASL(t *testing.T) {
	srvTLS, caFile := selfSigned(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"), kfake.TLS(srvTLS),
				kfake.EnableSASL(), kfake.Superuser(mech, "ferry", "s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t.Setenv("FERRY_TEST_KAFKA_PASSWORD", "s3cret")
			addr, _ := serveFor(t, c, fmt.Sprintf(`
kafka:
  brokers: [BROKER]
  create_topics: false
  tls: { ca_file: %q }
  sasl: { mechanism: %s, username: ferry, password: "${FERRY_TEST_KAFKA_PASSWORD}" }
routes: [{ name: a, path: /v1/a, topic: orders, auth: none }]
`, caFile, mech))
			resp, err := http.Post("http://"+addr+"/v1/a", "application/json", strings.NewReader(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("POST over TLS + SASL %s = %d %s, want 202", mech, resp.StatusCode, body)
			}
		})
	}
}
