//go:build !race

package ingress_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/topics"
)

// openIdle opens an SSE stream with nothing but a connection on the
// client side (no goroutine, no buffers) and reads the response head and
// the preamble, so the stream is established and idle.
func openIdle(tb testing.TB, addr, path string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", path); err != nil {
		tb.Fatal(err)
	}
	var buf [1024]byte
	got := 0
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !bytes.Contains(buf[:got], []byte("\n\n")) || !bytes.Contains(buf[:got], []byte("retry:")) {
		n, err := c.Read(buf[got:])
		if err != nil && err != io.EOF {
			tb.Fatalf("read stream head: %v (%q)", err, buf[:got])
		}
		got += n
		if n == 0 || got == len(buf) {
			tb.Fatalf("stream head %q", buf[:got])
		}
	}
	if !bytes.HasPrefix(buf[:got], []byte("HTTP/1.1 200")) {
		tb.Fatalf("stream head %q", buf[:got])
	}
	return c
}

// inUse is the memory the process holds for Go values and stacks, after
// a collection.
func inUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// idleSubscriberBytes opens n idle streams and returns the memory each one
// adds: its server side (fasthttp connection, buffers, the two goroutines
// of a streaming response, the subscription) plus the client's bare TCP
// connection in this process.
func idleSubscriberBytes(tb testing.TB, n int) float64 {
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	g := startStreamGateway(tb, streamSetup{streams: []topics.StreamConfig{st}})
	warm := make([]net.Conn, 20) // warm fasthttp's pools first
	for i := range warm {
		warm[i] = openIdle(tb, g.addr, "/v1/streams/s")
	}
	before := inUse()
	if testing.Verbose() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Printf("heap %d stack %d goroutines %d\n", m.HeapAlloc, m.StackInuse, runtime.NumGoroutine())
	}
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = openIdle(tb, g.addr, "/v1/streams/s")
	}
	after := inUse()
	runtime.KeepAlive(conns)
	if testing.Verbose() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Printf("heap %d stack %d goroutines %d\n", m.HeapAlloc, m.StackInuse, runtime.NumGoroutine())
	}
	for _, c := range append(warm, conns...) {
		c.Close()
	}
	return float64(after-before) / float64(n)
}

// TestIdleSubscriberMemory keeps an idle subscriber, connection included,
// within 30 KB. It does not run under the race detector, which multiplies
// memory.
func TestIdleSubscriberMemory(t *testing.T) {
	per := idleSubscriberBytes(t, 1000)
	t.Logf("memory per idle subscriber: %.0f bytes (%.1f KiB)", per, per/1024)
	if per > 30*1000 {
		t.Errorf("an idle subscriber costs %.0f bytes, want <= 30 KB", per)
	}
}

// BenchmarkIdleSubscriberMemory reports the memory of one idle subscriber.
//
//	go test -run '^$' -bench IdleSubscriberMemory -benchtime 1x ./ingress
func BenchmarkIdleSubscriberMemory(b *testing.B) {
	for range b.N {
		b.ReportMetric(idleSubscriberBytes(b, 1000), "bytes/subscriber")
	}
}
