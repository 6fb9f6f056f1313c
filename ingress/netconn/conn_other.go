//go:build !unix

package netconn

import (
	"net"
	"net/netip"
)

// Wrap returns c: reading a request in one system call needs a Unix
// socket.
func Wrap(c net.Conn) net.Conn { return c }

// Conn is never made off Unix (Wrap returns connections as they are);
// it is declared so that callers compile everywhere.
type Conn struct{ net.Conn }

// Peer reports no address.
func (c *Conn) Peer() (addr netip.Addr, text string, ok bool) { return netip.Addr{}, "", false }
