package clientaddr

import (
	"net/netip"
	"strings"
	"testing"
)

// testTrust trusts loopback and 10.0.0.0/8, as a test deployment behind
// two layers of proxies would.
func testTrust(tb testing.TB, header string) Trust {
	tb.Helper()
	t, errs := NewTrust([]string{"127.0.0.1/8", "::1", "10.0.0.0/8"}, header)
	if len(errs) > 0 {
		tb.Fatalf("NewTrust: %v", errs)
	}
	return t
}

// headerValues splits a test's header lines, written "a | b" for two lines.
func headerValues(s string) [][]byte {
	if s == "" {
		return nil
	}
	var out [][]byte
	for _, v := range strings.Split(s, " | ") {
		out = append(out, []byte(v))
	}
	return out
}

func TestProxyTrustClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string // proxy_header; "" is X-Forwarded-For
		peer   string
		values string
		want   string
	}{
		{"untrusted peer: header ignored", "", "203.0.113.9", "198.51.100.1", "203.0.113.9"},
		{"untrusted peer: X-Real-IP ignored", "X-Real-IP", "203.0.113.9", "198.51.100.1", "203.0.113.9"},
		{"trusted peer without header", "", "127.0.0.1", "", "127.0.0.1"},
		{"trusted peer: one entry", "", "127.0.0.1", "198.51.100.1", "198.51.100.1"},
		{"spoofed leftmost entries are never reached", "", "127.0.0.1", "6.6.6.6, 7.7.7.7, 198.51.100.1", "198.51.100.1"},
		{"chain of trusted proxies is skipped", "", "127.0.0.1", "1.1.1.1, 198.51.100.1, 10.1.2.3, 10.9.9.9", "198.51.100.1"},
		{"spoofed trusted entry left of the client", "", "127.0.0.1", "10.0.0.1, 198.51.100.1", "198.51.100.1"},
		{"every entry trusted: the leftmost", "", "127.0.0.1", "10.0.0.7, 10.0.0.8", "10.0.0.7"},
		{"several header lines: the last line is nearest", "", "127.0.0.1", "6.6.6.6 | 198.51.100.1, 10.0.0.2", "198.51.100.1"},
		{"several header lines walked into the earlier", "", "127.0.0.1", "198.51.100.1 | 10.0.0.2", "198.51.100.1"},
		{"ports and spaces", "", "127.0.0.1", " 198.51.100.1:5555 ,\t[::1]:80 ", "198.51.100.1"},
		{"IPv6 client", "", "::1", "2001:db8::1", "2001:db8::1"},
		{"IPv4-mapped client is unmapped", "", "127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"},
		{"malformed nearest entry: the peer", "", "127.0.0.1", "198.51.100.1, nonsense", "127.0.0.1"},
		{"unknown: the peer", "", "127.0.0.1", "unknown", "127.0.0.1"},
		{"empty entry: the peer", "", "127.0.0.1", "198.51.100.1,", "127.0.0.1"},
		{"empty value: the peer", "", "127.0.0.1", " ", "127.0.0.1"},
		{"zone: the peer", "", "127.0.0.1", "fe80::1%eth0", "127.0.0.1"},
		{"CIDR is not an address: the peer", "", "127.0.0.1", "198.51.100.0/24", "127.0.0.1"},
		{"malformed beyond the client is not read", "", "127.0.0.1", "garbage, 198.51.100.1", "198.51.100.1"},
		{"X-Real-IP", "X-Real-IP", "127.0.0.1", "198.51.100.1", "198.51.100.1"},
		{"X-Real-IP with a port", "X-Real-IP", "127.0.0.1", "[2001:db8::5]:443", "2001:db8::5"},
		{"X-Real-IP list is malformed", "X-Real-IP", "127.0.0.1", "6.6.6.6, 198.51.100.1", "127.0.0.1"},
		{"X-Real-IP twice is malformed", "X-Real-IP", "127.0.0.1", "6.6.6.6 | 198.51.100.1", "127.0.0.1"},
		{"X-Real-IP garbage", "X-Real-IP", "127.0.0.1", "<script>", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pt := testTrust(t, tt.header)
			got := pt.Client(netip.MustParseAddr(tt.peer), headerValues(tt.values))
			if got.String() != tt.want {
				t.Errorf("client(%s, %q) = %s, want %s", tt.peer, tt.values, got, tt.want)
			}
		})
	}
}

func TestParseTrustedProxy(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.10", "192.0.2.10/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:DB8::1", "2001:db8::1/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:192.0.2.10", "192.0.2.10/32"},
		{"10.0.0.0/33", ""},
		{"10.0.0", ""},
		{"localhost", ""},
		{"", ""},
		{"fe80::1%eth0", ""},
		{"10.0.0.0/8 ", ""},
	}
	for _, tt := range tests {
		got, err := parseTrustedProxy(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("parseTrustedProxy(%q) = %s, want an error", tt.in, got)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("parseTrustedProxy(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// FuzzClientAddr feeds arbitrary X-Forwarded-For and X-Real-IP values to
// proxyTrust.client behind a trusted and an untrusted peer.
//
// Invariants:
//   - it never panics and always returns a valid address;
//   - behind an untrusted peer the answer is the peer;
//   - behind a trusted peer the answer is the peer or an address written in
//     the header: nothing else can be a client.
//
// Run: go test -run '^$' -fuzz FuzzClientAddr -fuzztime 30s ./ingress
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"", "198.51.100.1", "6.6.6.6, 198.51.100.1, 10.0.0.1", "[::1]:80, ::ffff:1.2.3.4", ",,", "unknown", "1.2.3.4%x"} {
		f.Add(s)
	}
	trusted, untrusted := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("203.0.113.9")
	f.Fuzz(func(t *testing.T, v string) {
		for _, h := range []string{HeaderXForwardedFor, HeaderXRealIP} {
			pt := testTrust(t, h)
			values := [][]byte{[]byte(v)}
			if got := pt.Client(untrusted, values); got != untrusted {
				t.Fatalf("%s %q behind an untrusted peer = %s, want the peer", h, v, got)
			}
			got := pt.Client(trusted, values)
			if !got.IsValid() {
				t.Fatalf("%s %q = invalid address", h, v)
			}
			if got != trusted && !headerNames(v, got) {
				t.Fatalf("%s %q = %s, neither the peer nor an entry of the header", h, v, got)
			}
		}
	})
}

// headerNames reports whether an entry of v parses to a.
func headerNames(v string, a netip.Addr) bool {
	for _, e := range strings.Split(v, ",") {
		if b, ok := parseHop([]byte(e)); ok && b == a {
			return true
		}
	}
	return false
}
