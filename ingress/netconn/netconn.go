// Package netconn holds the connection wrapper that ferry's HTTP listener
// hands fasthttp, so that a keep-alive request costs one read(2), not two.
//
// ferry runs fasthttp with ReduceMemoryUsage, so that an idle connection
// or a waiting request holds no read buffer (an idle SSE subscriber must
// stay small). fasthttp then waits for a connection's next request by
// reading one byte, and reads the rest into a pooled buffer: two system
// calls for every request. A Conn answers such a small read by reading
// whatever has arrived into a pooled chunk once the socket is readable
// (holding no buffer while it waits) and keeps the rest for the next
// Read. A Conn also keeps its peer's address, as text too, so that
// requests do not format it again (Conn.Peer).
//
// It imports only the standard library.
package netconn

import "net"

// Listener wraps the connections of a TCP listener in Conns; others it
// passes through (TLS: fasthttp reads those through crypto/tls).
type Listener struct {
	net.Listener
}

// Accept waits for the next connection and wraps it.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
