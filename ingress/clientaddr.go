package ingress

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The proxy headers server.proxy_header may name.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderXRealIP       = "X-Real-IP"
)

// proxyTrust decides a request's client address from its TCP peer and,
// when the peer is a trusted proxy, the proxy header. It is immutable and
// safe for concurrent use.
//
// Fiber's own c.IP() is not used: with a ProxyHeader it returns the
// leftmost X-Forwarded-For entry (or the raw header), which the client
// writes, so a client could choose its own rate-limit budget.
type proxyTrust struct {
	prefixes []netip.Prefix
	header   string // HeaderXForwardedFor or HeaderXRealIP
}

// newProxyTrust parses server.trusted_proxies and server.proxy_header. Its
// errors, one per bad key or entry, read "field: problem"; Config.Validate
// reports them.
func newProxyTrust(cfg Config) (proxyTrust, []error) {
	var errs []error
	t := proxyTrust{header: canonicalProxyHeader(cfg.ProxyHeader)}
	for i, s := range cfg.TrustedProxies {
		p, err := parseTrustedProxy(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("trusted_proxies[%d]: %w", i, err))
			continue
		}
		t.prefixes = append(t.prefixes, p)
	}
	if t.header == "" {
		errs = append(errs, fmt.Errorf("proxy_header: must be %s or %s, not %q", HeaderXForwardedFor, HeaderXRealIP, cfg.ProxyHeader))
	}
	return t, errs
}

// canonicalProxyHeader returns the canonical spelling of a supported proxy
// header (any case; empty means X-Forwarded-For), or "" for any other.
func canonicalProxyHeader(h string) string {
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

// fiberProxies lists the trusted proxies for fiber.Config.TrustedProxies,
// in the forms Fiber matches (its check compares a lone address as text).
func (t proxyTrust) fiberProxies() []string {
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

// trusted reports whether a is a trusted proxy.
func (t proxyTrust) trusted(a netip.Addr) bool {
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client returns the client address of a request from peer carrying the
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
func (t proxyTrust) client(peer netip.Addr, values [][]byte) netip.Addr {
	if !t.trusted(peer) || len(values) == 0 {
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
			if !t.trusted(a) {
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

// peerAddr is the request's TCP peer address, unmapped; 0.0.0.0 when the
// connection is not TCP (as fasthttp reports it).
func peerAddr(c *fiber.Ctx) netip.Addr {
	a, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return netip.IPv4Unspecified()
	}
	return a.Unmap()
}

// clientAddr is the request's client address: its TCP peer or, when the
// peer is in server.trusted_proxies, the address the server.proxy_header
// names (proxyTrust.client). Every use of the client address goes through
// it: rate limits by ip and the anonymous fallback, the idempotency scope
// of anonymous callers, the access log and the client.address span
// attribute. It is computed once per request.
func (s *Server) clientAddr(c *fiber.Ctx) string {
	ri := info(c)
	if ri != nil && ri.client != "" {
		return ri.client
	}
	peer := peerAddr(c)
	a := peer
	if s.proxies.trusted(peer) {
		a = s.proxies.client(peer, c.Request().Header.PeekAll(s.proxies.header))
	}
	addr := a.String()
	if ri != nil {
		ri.client = addr
	}
	return addr
}
