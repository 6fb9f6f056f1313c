//go:build !linux

package main

import "syscall"

// noPortReservation does nothing off Linux.
func noPortReservation(_, _ string, _ syscall.RawConn) error { return nil }
