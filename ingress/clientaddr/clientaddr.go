// Package clientaddr decides a request's client address from its TCP
// peer and, when the peer is a trusted proxy (server.trusted_proxies), the
// proxy header (server.proxy_header: X-Forwarded-For, walked from the
// right, or X-Real-IP). Rate limits by ip, the idempotency scope of
// anonymous callers, the access log and traces all use its answer.
//
// It is plain Go over net/netip: it imports no other ferry package, and
// never Fiber or fasthttp (ingress hands it the peer and header values).
package clientaddr

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// The proxy headers server.proxy_header may name.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderXRealIP       = "X-Real-IP"
)

// Trust decides a request's client address from its TCP peer and,
// when the peer is a trusted proxy, the proxy header. It is immutable and
// safe for concurrent use.
//
// Fiber's own c.IP() is not used: with a ProxyHeader it returns the
// leftmost X-Forwarded-For entry (or the raw header), which the client
// writes, so a client could choose its own rate-limit budget.
type Trust struct {
	prefixes []netip.Prefix
	header   string // HeaderXForwardedFor or HeaderXRealIP
}

// Header is the proxy header whose values Client reads.
func (t Trust) Header() string { return t.header }

// NewTrust parses server.trusted_proxies and server.proxy_header. Its
// errors, one per bad key or entry, read "field: problem".
func NewTrust(trustedProxies []string, proxyHeader string) (Trust, []error) {
	var errs []error
	t := Trust{header: CanonicalHeader(proxyHeader)}
	for i, s := range trustedProxies {
		p, err := parseTrustedProxy(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("trusted_proxies[%d]: %w", i, err))
			continue
		}
		t.prefixes = append(t.prefixes, p)
	}
	if t.header == "" {
		errs = append(errs, fmt.Errorf("proxy_header: must be %s or %s, not %q", HeaderXForwardedFor, HeaderXRealIP, proxyHeader))
	}
	return t, errs
}

// CanonicalHeader returns the canonical spelling of a supported proxy
// header (any case; empty means X-Forwarded-For), or "" for any other.
func CanonicalHeader(h string) string {
	switch {
	case h == "" || strings.EqualFold(h, HeaderXForwardedFor):
		return HeaderXForwardedFor
	case strings.EqualFold(h, HeaderXRealIP):
		return HeaderXRealIP
	}
	return ""
}

// parseTrustedProxy parses one trusted_proxies entry: an address (a
// single-address prefix) or a CIDR prefix, whose host bits are cleared.
// IPv4-mapped IPv6 forms become IPv4, as peer addresses are compared
// unmapped.
func parseTrustedProxy(s string) (netip.Prefix, error) {
	bad := fmt.Errorf("%q is not an IP address or CIDR prefix (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.10)", s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, bad
		}
		p = p.Masked()
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, bad
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// FiberProxies lists the trusted proxies for fiber.Config.TrustedProxies,
// in the forms Fiber matches (its check compares a lone address as text).
func (t Trust) FiberProxies() []string {
	out := make([]string, len(t.prefixes))
	for i, p := range t.prefixes {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

// Trusted reports whether a is a trusted proxy.
func (t Trust) Trusted(a netip.Addr) bool {
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client address of a request from peer carrying the
// values of the proxy header (every header line, in order).
//
// An untrusted peer is the client: its headers are ignored. Behind a
// trusted peer, X-Real-IP names the client; X-Forwarded-For is walked from
// the right (the entry the nearest proxy appended) past entries that are
// themselves trusted proxies, and the first untrusted entry is the client,
// so that entries a client prepends are never reached. When every entry is
// a trusted proxy the leftmost is the client. A missing, empty or malformed
// value (a walked entry that is not an address, several X-Real-IP lines)
// leaves the peer as the client.
func (t Trust) Client(peer netip.Addr, values [][]byte) netip.Addr {
	if !t.Trusted(peer) || len(values) == 0 {
		return peer
	}
	if t.header == HeaderXRealIP {
		if len(values) != 1 {
			return peer
		}
		if a, ok := parseHop(values[0]); ok {
			return a
		}
		return peer
	}
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for end := len(v); end >= 0; {
			start := bytes.LastIndexByte(v[:end], ',') + 1
			a, ok := parseHop(v[start:end])
			if !ok {
				return peer
			}
			if !t.Trusted(a) {
				return a
			}
			client = a
			end = start - 1
		}
	}
	return client
}

// parseHop parses one proxy header entry: an IP address, optionally with a
// port ("192.0.2.1:1234", "[2001:db8::1]:443") and surrounded by spaces or
// tabs. Zones and obfuscated identifiers ("unknown", "_hidden") are not
// addresses.
func parseHop(b []byte) (netip.Addr, bool) {
	b = bytes.Trim(b, " \t")
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	s := string(b)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
