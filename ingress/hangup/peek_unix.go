//go:build linux || darwin || freebsd || netbsd || openbsd

package hangup

import (
	"errors"
	"syscall"
)

// peeker peeks at sockets for one goroutine (the sweep) without
// allocating at each peek: its callback is made once.
type peeker struct {
	gone bool
	fn   func(fd uintptr)
}

func newPeeker() *peeker {
	p := &peeker{}
	p.fn = p.peek
	return p
}

// peerGone reports whether the peer of rc closed its side (a read would
// return EOF) or reset the connection, without taking any byte: data
// waiting to be read (a pipelined request) is left where it is.
func (p *peeker) peerGone(rc syscall.RawConn) bool {
	p.gone = false
	err := rc.Control(p.fn)
	return p.gone || err != nil // err: the connection is closed already
}

func (p *peeker) peek(fd uintptr) {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == nil:
		p.gone = n == 0 // EOF
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
	default:
		p.gone = true // ECONNRESET and the like
	}
}
