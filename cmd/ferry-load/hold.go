package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// holdCmd is the hidden `ferry-load hold-sse` subcommand: it opens n idle
// SSE subscriptions to addr from the source address --source, prints
// "connected N" once all are open, and holds them until its stdin closes
// or ctx ends. The idle scenario runs it as child processes, so that no
// process on the client side holds more connections than the open-file
// limit lets it.
func holdCmd(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("hold-sse", flag.ContinueOnError)
	addr := fs.String("addr", "", "server `host:port`")
	path := fs.String("path", "/v1/streams/bench-events", "stream `path`")
	n := fs.Int("n", 0, "subscriptions to hold")
	source := fs.String("source", "127.0.0.2", "source `IP` to dial from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ip := net.ParseIP(*source)
	if *addr == "" || *n <= 0 || ip == nil {
		return errors.New("hold-sse: want --addr, --n > 0 and a --source IP")
	}
	limit := raiseFileLimit(uint64(*n) + 64)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The parent ends the hold by closing this process's stdin. The read
	// cannot be interrupted; it ends at that close, or with the process.
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	conns := make([]net.Conn, 0, *n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Control: noPortReservation}
	for range *n {
		c, _, err := dialSSEWith(ctx, d, *addr, *path)
		if err != nil {
			return fmt.Errorf("hold-sse: subscriber %d from %s (file limit %d): %w", len(conns), ip, limit, err)
		}
		conns = append(conns, c)
	}
	fmt.Fprintf(stdout, "connected %d\n", len(conns))
	<-ctx.Done()
	return nil
}

// holder is a running `ferry-load hold-sse` child process.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	n     int
}

// startHolder starts a child holding n SSE subscriptions to addr from
// source and waits until they are all open.
func startHolder(ctx context.Context, addr, path string, n int, source net.IP) (*holder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "hold-sse", "--addr", addr, "--path", path, "--n", strconv.Itoa(n), "--source", source.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hold-sse: %w", err)
	}
	h := &holder{cmd: cmd, stdin: stdin, n: n}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "connected "+strconv.Itoa(n) {
		h.close()
		return nil, fmt.Errorf("hold-sse %d to %s from %s: %q, %v", n, addr, source, line, err)
	}
	return h, nil
}

// close ends the hold (the child closes its connections) and waits for
// the child.
func (h *holder) close() {
	_ = h.stdin.Close()
	_ = h.cmd.Wait()
}

// sourceIP is the k-th loopback source address the idle scenario dials
// from, 127.0.0.2 on: one address has about 28,000 ephemeral ports
// (net.ipv4.ip_local_port_range), and the ports of connections a client
// closed stay taken for a minute (TIME_WAIT).
func sourceIP(k int) net.IP { return net.IPv4(127, 0, 0, byte(2+k)) }

// idleShares splits want subscribers over as few processes as hold at
// most perProcess each, as evenly as possible (the first ones take the
// remainder).
func idleShares(want, perProcess int) []int {
	if want <= 0 || perProcess <= 0 {
		return nil
	}
	procs := (want + perProcess - 1) / perProcess
	shares := make([]int, procs)
	for i := range shares {
		shares[i] = want / procs
		if i < want%procs {
			shares[i]++
		}
	}
	return shares
}
