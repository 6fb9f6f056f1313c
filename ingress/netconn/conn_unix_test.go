//go:build unix

package netconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pair returns a wrapped server side and the client side of a loopback
// TCP connection.
func pair(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := Listener{Listener: ln}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w, ok := c.(*Conn)
	if !ok {
		t.Fatalf("Accept returned %T, want *Conn", c)
	}
	return w, client
}

// TestSmallReadTakesWhatArrived: fasthttp's one-byte wait for a request
// reads the whole request in that one read(2), and the next Read hands
// over the rest without touching the socket.
func TestSmallReadTakesWhatArrived(t *testing.T) {
	c, client := pair(t)
	req := "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	if _, err := io.WriteString(client, req); err != nil {
		t.Fatal(err)
	}
	var first [1]byte
	if n, err := c.Read(first[:]); n != 1 || err != nil {
		t.Fatalf("Read(1 byte) = %d, %v", n, err)
	}
	if got := len(c.rest); got != len(req)-1 {
		t.Fatalf("after the first byte %d bytes are kept, want %d (the rest of what had arrived)", got, len(req)-1)
	}
	// A deadline already passed: a Read that went to the socket would fail.
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || string(first[:])+string(buf[:n]) != req {
		t.Fatalf("Read = %q, %v; want the rest of %q", buf[:n], err, req)
	}
	if c.chunk != nil {
		t.Error("the chunk is still held after its bytes were read")
	}
}

// TestReadsKeepTheByteStream: any mix of small and large reads yields the
// bytes sent, in order, across writes that arrive apart.
func TestReadsKeepTheByteStream(t *testing.T) {
	c, client := pair(t)
	var want bytes.Buffer
	for i := range 50 {
		want.WriteString(strings.Repeat(string(rune('a'+i%26)), 1+i*97%5000))
	}
	go func() {
		b := want.Bytes()
		for len(b) > 0 {
			n := min(len(b), 3000)
			_, _ = client.Write(b[:n])
			b = b[n:]
			time.Sleep(time.Millisecond) // separate arrivals, not a sleep awaiting anything
		}
		client.Close()
	}()
	var got bytes.Buffer
	sizes := []int{1, 7, 64, 65, 4096, 1, 1, 2}
	for i := 0; ; i++ {
		buf := make([]byte, sizes[i%len(sizes)])
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("read %d bytes, want %d equal ones", got.Len(), want.Len())
	}
}

// TestSmallReadHonoursDeadline: the wait of a small read ends at the read
// deadline (fasthttp's idle timeout), as a net.TCPConn's does.
func TestSmallReadHonoursDeadline(t *testing.T) {
	c, _ := pair(t)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %d, %v; want a deadline error", n, err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v is not a net.Error timeout", err)
	}
}

// TestSmallReadSeesEOFAndClose: a peer that closes is io.EOF; a Close
// from another goroutine ends a waiting small read.
func TestSmallReadSeesEOFAndClose(t *testing.T) {
	c, client := pair(t)
	client.Close()
	var b [1]byte
	if _, err := c.Read(b[:]); !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the peer closed = %v, want io.EOF", err)
	}

	c2, _ := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := c2.Read(b[:])
		done <- err
	}()
	c2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Close did not end the waiting Read")
	}
}

// TestSyscallConn: ingress/hangup reaches the socket through the wrapper.
func TestSyscallConn(t *testing.T) {
	c, _ := pair(t)
	var sc syscall.Conn = c
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	if err := rc.Control(func(f uintptr) { fd = f }); err != nil || fd == 0 {
		t.Fatalf("Control: fd %d, %v", fd, err)
	}
}

// TestPeer: a Conn keeps its peer's address, unmapped, and its text.
func TestPeer(t *testing.T) {
	t.Parallel()
	c, _ := pair(t)
	addr, text, ok := c.Peer()
	if !ok || addr != netip.MustParseAddr("127.0.0.1") || text != "127.0.0.1" {
		t.Fatalf("Peer() = %v, %q, %v; want 127.0.0.1", addr, text, ok)
	}
}
