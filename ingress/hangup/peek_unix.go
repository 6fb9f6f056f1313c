//go:build linux || darwin || freebsd || netbsd || openbsd

package hangup

import (
	"errors"
	"net"
	"syscall"
)

// peerGone reports whether the peer of conn (a syscall.Conn) closed its
// side (a read would return EOF) or reset the connection, without taking
// any byte: data waiting to be read (a pipelined request) is left where
// it is.
func peerGone(conn net.Conn) bool {
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0 // EOF
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default:
			gone = true // ECONNRESET and the like
		}
	})
	return gone || err != nil // err: the connection is closed already
}
