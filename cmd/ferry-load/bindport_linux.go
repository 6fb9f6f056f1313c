package main

import "syscall"

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (not in package
// syscall).
const ipBindAddressNoPort = 24

// noPortReservation makes a dialer's bind to a source address leave the
// port to connect, which picks it per destination: a bound port is
// otherwise reserved for every destination until its TIME_WAIT ends, and
// 40,000 subscribers' ports left the next scenario's plain dials none
// ("cannot assign requested address").
func noPortReservation(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	}); err != nil {
		return err
	}
	return serr
}
