package ingress_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMalformedRequestsAreProblems: requests that fasthttp cannot parse
// or route (a bad Content-Length, an unknown Transfer-Encoding, a method
// nobody knows, a wrong method on ferry's own endpoints) are answered as
// problem+json with a request id, and never echo the request's bytes:
// its credentials stay out of the answer.
func TestMalformedRequestsAreProblems(t *testing.T) {
	t.Parallel()
	g := startPolicyGateway(t, policyOpts{})
	addr := strings.TrimPrefix(g.url, "http://")
	const secret = "SECRET-TOKEN-abc.def.ghi"
	for _, tt := range []struct {
		name, raw string
		status    int
		typ       string
		allow     string
	}{
		{"bad Content-Length", "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\nX-API-Key: " + secret + "\r\nContent-Length: zz\r\n\r\n{}", 400, "bad-request", ""},
		{"unknown Transfer-Encoding", "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\nTransfer-Encoding: gzip\r\n\r\n{}", 400, "bad-request", ""},
		{"unknown method", "FOOA /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\n\r\n", 501, "not-implemented", ""},
		{"POST /healthz", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, "method-not-allowed", "GET, HEAD"},
		{"DELETE /metrics", "DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method-not-allowed", "GET, HEAD"},
		{"POST /openapi.json", "POST /openapi.json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, "method-not-allowed", "GET, HEAD"},
		{"POST a stream", "POST /v1/streams/s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, "method-not-allowed", "GET, HEAD"},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(conn, tt.raw)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			conn.Close()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(b), "urn:ferry:problem:"+tt.typ) || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: %d %q %s (X-Request-Id %q), want %d problem+json %s with a request id", tt.name, resp.StatusCode, resp.Header.Get("Content-Type"), b, resp.Header.Get("X-Request-Id"), tt.status, tt.typ)
		}
		if tt.allow != "" && resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s: Allow %q, want %q", tt.name, resp.Header.Get("Allow"), tt.allow)
		}
		if strings.Contains(string(b), secret) || strings.Contains(string(b), "SECRET") {
			t.Errorf("%s: the answer echoes the request's credentials: %s", tt.name, b)
		}
	}
}
