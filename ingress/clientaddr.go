package ingress

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/ingress/netconn"
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

// connPeer returns the peer address a *netconn.Conn kept, and its text.
func connPeer(c *fiber.Ctx) (netip.Addr, string, bool) {
	if nc, ok := c.Context().Conn().(*netconn.Conn); ok {
		return nc.Peer()
	}
	return netip.Addr{}, "", false
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
	var addr string
	peer, text, ok := connPeer(c)
	if !ok {
		peer = peerAddr(c)
	}
	switch {
	case s.proxies.Trusted(peer):
		addr = s.proxies.Client(peer, c.Request().Header.PeekAll(s.proxies.Header())).String()
	case ok:
		addr = text
	default:
		addr = peer.String()
	}
	if ri != nil {
		ri.client = addr
	}
	return addr
}
