//go:build unix

package netconn

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// smallRead is the largest Read a Conn serves from a chunk: fasthttp's
// one-byte wait for the next request. Larger reads (bufio's, crypto/tls's)
// go to the socket as they are.
const smallRead = 64

// chunkSize holds a typical request whole: a 1 KB body, its headers and
// a bearer token.
const chunkSize = 4 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// Conn is a net.Conn whose small reads take what has arrived in one
// read(2). Like a net.TCPConn, one goroutine at a time may Read; Write and
// Close are the wrapped connection's.
type Conn struct {
	net.Conn
	rc     syscall.RawConn
	readFn func(fd uintptr) bool // c.rawRead, bound once

	chunk *[]byte // pooled; holds rest
	rest  []byte  // read from the socket, not yet by the caller

	n   int   // the last raw read's result
	err error // and its error

	peer     netip.Addr // the remote IP address, unmapped
	peerText string     // and as text
}

// Wrap returns c as a Conn when its socket is reachable (a *net.TCPConn),
// else c itself.
func Wrap(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	w := &Conn{Conn: c, rc: rc}
	w.readFn = w.rawRead
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			w.peer = a.Unmap()
			w.peerText = w.peer.String()
		}
	}
	return w
}

// Peer returns the remote IP address (an IPv4-mapped IPv6 address
// unmapped) and its text, both taken once when the connection was
// wrapped: a request reads them without allocating. ok is false when the
// remote address is not an IP address.
func (c *Conn) Peer() (addr netip.Addr, text string, ok bool) {
	return c.peer, c.peerText, c.peer.IsValid()
}

// SyscallConn returns the socket's raw connection, as a *net.TCPConn's
// does (ingress/hangup peeks at it).
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// Read reads what is kept from the last small read first, then from the
// socket.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) == 0 {
			c.release()
		}
		return n, nil
	}
	if len(p) == 0 || len(p) > smallRead {
		return c.Conn.Read(p)
	}
	c.n, c.err = 0, nil
	// RawConn.Read calls readFn, and again each time the socket becomes
	// readable after readFn returned false; it honours the read deadline.
	if err := c.rc.Read(c.readFn); err != nil {
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	if c.err != nil {
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: c.err}
	}
	if c.n == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c.chunk)[:c.n])
	c.rest = (*c.chunk)[n:c.n]
	if len(c.rest) == 0 {
		c.release()
	}
	return n, nil
}

// rawRead reads into a pooled chunk taken only for the call: while the
// socket has nothing, it returns false without holding one.
func (c *Conn) rawRead(fd uintptr) bool {
	b := chunks.Get().(*[]byte)
	var n int
	var err error
	for {
		n, err = syscall.Read(int(fd), *b)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		chunks.Put(b)
		return false // RawConn.Read waits until the socket is readable
	}
	if n <= 0 {
		chunks.Put(b)
		c.n, c.err = 0, nil
		if err != nil {
			c.err = err
		}
		return true
	}
	c.chunk, c.n = b, n
	return true
}

// release returns the chunk to the pool once its bytes are read.
func (c *Conn) release() {
	chunks.Put(c.chunk)
	c.chunk, c.rest = nil, nil
}
