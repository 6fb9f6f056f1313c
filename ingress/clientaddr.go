package ingress

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"
)

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
// names (clientaddr.Trust.Client). Every use of the client address goes through
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
	if s.proxies.Trusted(peer) {
		a = s.proxies.Client(peer, c.Request().Header.PeekAll(s.proxies.Header()))
	}
	addr := a.String()
	if ri != nil {
		ri.client = addr
	}
	return addr
}
