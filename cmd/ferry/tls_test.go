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
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/twmb/franz-go/pkg/kfake"
)

// testCA is a CA made for one test, which signs server and client
// certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a certificate for cn (a server for 127.0.0.1 when server),
// valid until notAfter, and returns it and its key as PEM.
func (ca *testCA) issue(t *testing.T, cn string, server bool, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// TestServeTLS runs serve with HTTPS in both client_auth modes. A client
// with a certificate from the configured CA is served, and with auth.mtls
// its certificate is the principal. With require, a client without a
// certificate, with an expired one or with one from another CA is refused
// in the handshake. With verify_if_given, a client without one is served
// as anonymous, and one whose certificate does not verify is answered 401
// unauthenticated, naming why. A plain-HTTP client gets no answer from
// the TLS port.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"require", "verify_if_given"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testServeTLS(t, mode)
		})
	}
}

func testServeTLS(t *testing.T, mode string) {
	dir := t.TempDir()
	ca, other := newTestCA(t, "ferry test CA"), newTestCA(t, "another CA")
	srvCert, srvKey := ca.issue(t, "ferry", true, time.Now().Add(time.Hour))
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	probeCert, probeKey := ca.issue(t, "probe", false, time.Now().Add(time.Hour))
	probe, err := tls.X509KeyPair(probeCert, probeKey)
	if err != nil {
		t.Fatal(err)
	}
	prober := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{probe}}}}
	addr, stop := serveForGet(t, c, fmt.Sprintf(`
tls: { cert_file: %q, key_file: %q, min_version: "1.2", client_ca_file: %q, client_auth: %s }
auth:
  mtls: [{ subject: "CN=billing-batch", scopes: ["orders:write"] }, { san_dns: "*.jobs.internal", scopes: ["orders:read"] }]
routes:
  - { name: pub, path: /v1/pub, topic: orders.events, auth: none }
  - { name: write, path: /v1/write, topic: orders.events, scopes: ["orders:write"] }
`, write("server.pem", srvCert), write("server-key.pem", srvKey), write("clients-ca.pem", ca.pem), mode),
		func(addr string) (*http.Response, error) { return prober.Get("https://" + addr + "/readyz") })
	defer stop()
	client := func(certPEM, keyPEM []byte) *http.Client {
		tc := &tls.Config{RootCAs: roots}
		if certPEM != nil {
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			// Sent whatever CAs the server names, as curl and openssl do
			// (Go's client would otherwise send none from another CA).
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	// post answers the status and body of a POST to path, or the error of
	// a client refused in the handshake.
	post := func(cl *http.Client, path string) (int, string, error) {
		resp, err := cl.Post("https://"+addr+path, "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	good, goodKey := ca.issue(t, "billing-batch", false, time.Now().Add(time.Hour))
	if st, _, err := post(client(good, goodKey), "/v1/pub"); err != nil || st != 202 {
		t.Errorf("client with a certificate of the CA: %d %v, want 202", st, err)
	}
	// auth.mtls: the certificate is the principal, with its entry's scopes.
	if st, body, err := post(client(good, goodKey), "/v1/write"); err != nil || st != 202 {
		t.Errorf("CN=billing-batch on a route needing orders:write: %d %v %s, want 202", st, err, body)
	}
	// The publish WebSocket: each frame is the request it stands for, so
	// the socket's client certificate is its principal too.
	goodPair, err := tls.X509KeyPair(good, goodKey)
	if err != nil {
		t.Fatal(err)
	}
	dialer := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{goodPair}}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := dialer.Dial("wss://"+addr+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("wss /v1/ws with a client certificate: %v", err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"route":"write","body":{"a":1}}`)); err != nil {
		t.Fatal(err)
	}
	if _, ack, err := ws.ReadMessage(); err != nil || !strings.Contains(string(ack), `"status":202`) {
		t.Errorf("a frame to a route needing orders:write over a socket with CN=billing-batch's certificate: %s %v, want a 202 ack", ack, err)
	}
	unknown, unknownKey := ca.issue(t, "somebody", false, time.Now().Add(time.Hour))
	if st, _, err := post(client(unknown, unknownKey), "/v1/write"); err != nil || st != 401 {
		t.Errorf("a verified certificate matching no auth.mtls entry: %d %v, want 401", st, err)
	}
	expired, expiredKey := ca.issue(t, "old", false, time.Now().Add(-time.Hour))
	foreign, foreignKey := other.issue(t, "stranger", false, time.Now().Add(time.Hour))
	bad := map[string]*http.Client{
		"an expired certificate":    client(expired, expiredKey),
		"a certificate of other CA": client(foreign, foreignKey),
	}
	if mode == "require" {
		bad["no certificate"] = client(nil, nil)
		for name, cl := range bad {
			if st, _, err := post(cl, "/v1/pub"); err == nil {
				t.Errorf("client with %s: %d, want refused in the handshake", name, st)
			}
		}
	} else {
		// verify_if_given: a certificate is optional...
		if st, _, err := post(client(nil, nil), "/v1/pub"); err != nil || st != 202 {
			t.Errorf("no certificate on an auth: none route: %d %v, want 202", st, err)
		}
		if st, _, err := post(client(nil, nil), "/v1/write"); err != nil || st != 401 {
			t.Errorf("no certificate on a route needing credentials: %d %v, want 401", st, err)
		}
		// ...but one that is presented must verify: 401, on every route,
		// saying why, and nothing is produced.
		for name, cl := range bad {
			for _, path := range []string{"/v1/pub", "/v1/write"} {
				st, body, err := post(cl, path)
				if err != nil || st != 401 || !strings.Contains(body, "problem:unauthenticated") || !strings.Contains(body, "client certificate") {
					t.Errorf("client with %s on %s: %d %v %s, want 401 unauthenticated naming the client certificate", name, path, st, err, body)
				}
			}
		}
	}
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		resp.Body.Close()
		t.Error("plain HTTP on the TLS port answered 200")
	}
}

// TestCheckTLS: ferry check loads the TLS files and names the field of
// each problem: a key that does not match its certificate, a missing CA
// file, a bad client_auth or min_version.
func TestCheckTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	cert, _ := ca.issue(t, "a", true, time.Now().Add(time.Hour))
	_, otherKey := ca.issue(t, "b", true, time.Now().Add(time.Hour))
	for name, b := range map[string][]byte{"cert.pem": cert, "key.pem": otherKey} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte(`tls: { cert_file: cert.pem, key_file: key.pem, min_version: "1.1", client_auth: sometimes }
routes: [{ name: a, path: /a, topic: t, auth: none }]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(path)
	for _, want := range []string{"tls.min_version: must be 1.2 or 1.3", "tls.cert_file/key_file: tls: private key does not match public key",
		"tls.client_auth: must be none, verify_if_given or require"} {
		if err == nil || !strings.Contains(formatErrors(err), want) {
			t.Errorf("check does not say %q:\n%v", want, err)
		}
	}
}

// TestTLSRotationOnSIGHUP runs bin/ferry with HTTPS, replaces its
// certificate files and sends SIGHUP: new connections get the new
// certificate, without a restart; a SIGHUP with broken files keeps the
// current one.
func TestTLSRotationOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t, "rotation CA")
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	first, firstKey := ca.issue(t, "first", true, time.Now().Add(time.Hour))
	write("server.pem", first)
	write("server-key.pem", firstKey)
	cfg := filepath.Join(dir, "ferry.yaml")
	write("ferry.yaml", []byte(`listen: "${FERRY_LISTEN}"
tls: { cert_file: server.pem, key_file: server-key.pem }
kafka: { embedded: { listen: "${FERRY_KAFKA_LISTEN}" } }
routes: [{ name: a, path: /v1/a, topic: a, auth: none }]
`))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	served := func(addr string) (string, error) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	httpAddr, kafkaAddr := freePort(t), freePort(t)
	p := startFerryProbe(t, cfg, httpAddr, kafkaAddr, func() error {
		_, err := served(httpAddr)
		return err
	}, "FERRY_LISTEN="+httpAddr, "FERRY_KAFKA_LISTEN="+kafkaAddr)
	if cn, err := served(httpAddr); err != nil || cn != "first" {
		t.Fatalf("served %q, %v; want the first certificate", cn, err)
	}
	second, secondKey := ca.issue(t, "second", true, time.Now().Add(time.Hour))
	write("server.pem", second)
	write("server-key.pem", secondKey)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if cn, err := served(httpAddr); err != nil || cn != "second" {
			return fmt.Errorf("served %q, %v; want the second certificate", cn, err)
		}
		return nil
	})
	write("server-key.pem", []byte("not a key"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if !strings.Contains(p.logs.String(), "keeping the previous ones") {
			return fmt.Errorf("no log of the failed reload yet")
		}
		return nil
	})
	if cn, err := served(httpAddr); err != nil || cn != "second" {
		t.Errorf("after a reload with a broken key: served %q, %v; want the second certificate still", cn, err)
	}
	p.stop(t)
}
