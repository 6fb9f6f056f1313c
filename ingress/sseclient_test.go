package ingress_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	ID, Event, Data string
}

// sseConn is a minimal SSE client over a raw TCP connection, parsing the
// stream as the WHATWG EventSource does: "field: value" lines, comments,
// and a blank line that dispatches an event with data (and sets the last
// event id even without data). Deadlines on the connection bound reads, so
// it needs no goroutine of its own.
type sseConn struct {
	conn   net.Conn
	resp   *http.Response
	br     *bufio.Reader
	LastID string
	Retry  time.Duration
	Pings  int
}

// openSSE sends GET path with the headers (name, value, ...) and returns
// the stream when the answer is 200, or the response (body read) otherwise.
func openSSE(tb testing.TB, addr, path string, hdr ...string) (*sseConn, *http.Response, []byte) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, addr)
	hasAccept := false
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
		hasAccept = hasAccept || strings.EqualFold(hdr[i], "Accept")
	}
	if !hasAccept {
		b.WriteString("Accept: text/event-stream\r\n")
	}
	b.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		tb.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil {
		conn.Close()
		tb.Fatalf("GET %s: %v", path, err)
	}
	_ = conn.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		return nil, resp, body
	}
	s := &sseConn{conn: conn, resp: resp, br: bufio.NewReader(resp.Body)}
	tb.Cleanup(func() { s.Close() })
	return s, resp, nil
}

// mustOpenSSE is openSSE that fails the test on any status but 200.
func mustOpenSSE(tb testing.TB, addr, path string, hdr ...string) *sseConn {
	tb.Helper()
	s, resp, body := openSSE(tb, addr, path, hdr...)
	if s == nil {
		tb.Fatalf("GET %s = %d %s, want 200", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		tb.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	return s
}

// Close drops the connection.
func (s *sseConn) Close() { s.conn.Close() }

// errStreamEnded is returned by Next when the server ended the stream.
var errStreamEnded = errors.New("stream ended")

// Next returns the next dispatched event, waiting at most timeout.
func (s *sseConn) Next(timeout time.Duration) (sseEvent, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	var ev sseEvent
	var data []string
	idBuf, hasData := s.LastID, false
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return ev, errStreamEnded
			}
			return ev, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			s.LastID = idBuf
			if hasData {
				ev.ID, ev.Data = s.LastID, strings.Join(data, "\n")
				if ev.Event == "" {
					ev.Event = "message"
				}
				return ev, nil
			}
			ev = sseEvent{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			s.Pings++
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			idBuf = value
		case "event":
			ev.Event = value
		case "data":
			data, hasData = append(data, value), true
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil {
				s.Retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// MustNext is Next that fails the test on an error.
func (s *sseConn) MustNext(tb testing.TB, timeout time.Duration) sseEvent {
	tb.Helper()
	ev, err := s.Next(timeout)
	if err != nil {
		tb.Fatalf("next event (last id %q): %v", s.LastID, err)
	}
	return ev
}

// dropListener remembers the connections it accepted so that a test can
// cut them all, as a network failure or a load balancer would.
// It also keeps the head of each request, so that a test can see which
// headers a client (a browser) sent.
type dropListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	heads []*strings.Builder
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.conns == nil {
		l.conns = make(map[net.Conn]bool)
	}
	l.conns[c] = true
	head := &strings.Builder{}
	l.heads = append(l.heads, head)
	l.mu.Unlock()
	return &headConn{Conn: c, l: l, head: head}, nil
}

// requestHeads returns what each connection sent first (up to 4 KiB).
func (l *dropListener) requestHeads() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.heads))
	for i, h := range l.heads {
		out[i] = h.String()
	}
	return out
}

// headConn records the first bytes read from a connection.
type headConn struct {
	net.Conn
	l    *dropListener
	head *strings.Builder
}

// NetConn exposes the socket, as *tls.Conn does, so that ingress/hangup
// can watch it.
func (c *headConn) NetConn() net.Conn { return c.Conn }

func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	if room := 4096 - c.head.Len(); room > 0 && n > 0 {
		c.head.Write(p[:min(n, room)])
	}
	c.l.mu.Unlock()
	return n, err
}

// dropAll closes every accepted connection and returns how many.
func (l *dropListener) dropAll() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.conns)
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
	return n
}
