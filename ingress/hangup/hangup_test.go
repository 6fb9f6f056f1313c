package hangup_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/ingress/hangup"
)

// pair returns both ends of a real TCP connection over loopback.
func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestHangupIsNoticed(t *testing.T) {
	w := hangup.New(t.Context(), 20*time.Millisecond, hangup.Hooks{})
	server, client := pair(t)
	gone := make(chan struct{})
	stop := w.Watch(server, "test", func() { close(gone) })
	defer stop.Stop()
	client.Close()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("a client that closed its connection was not noticed")
	}
}

func TestLiveClientIsNotGone(t *testing.T) {
	w := hangup.New(t.Context(), 5*time.Millisecond, hangup.Hooks{})
	server, client := pair(t)
	fired := make(chan struct{}, 1)
	stop := w.Watch(server, "test", func() { fired <- struct{}{} })
	// A pipelined request waiting to be read is not a hang-up, and the
	// peek takes none of it.
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	// Watch a second connection that does close: once its hang-up is
	// seen, the sweeps have passed over the live one too.
	other, otherClient := pair(t)
	seen := make(chan struct{})
	stopOther := w.Watch(other, "test", func() { close(seen) })
	defer stopOther.Stop()
	otherClient.Close()
	<-seen
	stop.Stop()
	select {
	case <-fired:
		t.Fatal("a live client with a request pending was taken for gone")
	default:
	}
	buf := make([]byte, 64)
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("the pending bytes were touched: %q, %v", buf[:n], err)
	}
}

func TestStopBeforeHangup(t *testing.T) {
	w := hangup.New(t.Context(), 5*time.Millisecond, hangup.Hooks{})
	server, client := pair(t)
	stop := w.Watch(server, "test", func() { t.Error("gone was called after stop") })
	stop.Stop()
	if n := w.Len(); n != 0 {
		t.Fatalf("Len after stop = %d, want 0", n)
	}
	client.Close()
	// A later watch that fires proves a sweep ran after the close.
	server2, client2 := pair(t)
	seen := make(chan struct{})
	defer w.Watch(server2, "test", func() { close(seen) }).Stop()
	client2.Close()
	<-seen
}

func TestNotASocketIsNotWatched(t *testing.T) {
	w := hangup.New(t.Context(), 5*time.Millisecond, hangup.Hooks{})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	stop := w.Watch(a, "test", func() { t.Error("a pipe was watched") })
	defer stop.Stop()
	if n := w.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0: a pipe cannot be peeked at", n)
	}
}

func TestNothingAfterContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w := hangup.New(ctx, 5*time.Millisecond, hangup.Hooks{})
	server, client := pair(t)
	stop := w.Watch(server, "test", func() { t.Error("gone called after the Watcher's context ended") })
	client.Close()
	time.Sleep(50 * time.Millisecond) // nothing to await: the absence of a call
	stop.Stop()
}
