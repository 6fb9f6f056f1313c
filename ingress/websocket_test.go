package ingress

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// wsAckFrame is an ack of the publish socket, as a client reads it.
type wsAckFrame struct {
	ID        json.RawMessage `json:"id"`
	Status    int             `json:"status"`
	Topic     string          `json:"topic"`
	Partition *int32          `json:"partition"`
	Offset    *int64          `json:"offset"`
	Body      json.RawMessage `json:"body"`
	Problem   *problem.Details
}

// startWSServer serves routes over a real listener with principals named
// by "Authorization: Test NAME", and returns its address and producer.
func startWSServer(t *testing.T, routes []topics.RouteConfig, cfg Config, producer ...Producer) (string, *fakeProducer, *Server) {
	t.Helper()
	table, err := topics.NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	prod := &fakeProducer{}
	var p Producer = prod
	if len(producer) > 0 {
		p = producer[0]
	}
	principals := map[string]*identity.Principal{
		"writer": {ID: "w", Kind: identity.PrincipalJWT, Scopes: []string{"orders:write"}},
		"nobody": {ID: "n", Kind: identity.PrincipalJWT},
	}
	srv, err := New(cfg, table, Deps{Producer: p}, WithLogger(slog.New(slog.DiscardHandler)), WithTestPrincipals(principals))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-served
	})
	return ln.Addr().String(), prod, srv
}

var wsRoutes = []topics.RouteConfig{
	{Name: "create-order", Method: "POST", Path: "/v1/orders", Topic: "orders", Scopes: []string{"orders:write"}},
	{Name: "cancel-order", Method: "POST", Path: "/v1/orders/{id}/cancel", Topic: "orders", Key: "{path.id}", Scopes: []string{"orders:write"}},
	{Name: "admin", Method: "POST", Path: "/v1/admin", Topic: "admin", Scopes: []string{"admin"}},
}

func dialWS(t *testing.T, url string, hdr ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	conn, resp, err := websocket.DefaultDialer.Dial(url, h)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

// TestWebSocketPublish: frames sent back to back on one socket are each
// handled as the route's HTTP request (scopes per route, key template
// from the path params) and acked with their own id, partition and
// offset; every refusal is an ack carrying the problem, and the socket
// stays open.
func TestWebSocketPublish(t *testing.T) {
	t.Parallel()
	addr, prod, _ := startWSServer(t, wsRoutes, Config{})
	conn, _, err := dialWS(t, "ws://"+addr+"/v1/ws", "Authorization", "Test writer")
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		frame := fmt.Sprintf(`{"id":%d,"route":"create-order","body":{"n":%d}}`, i, i)
		if i%2 == 1 {
			frame = fmt.Sprintf(`{"id":%d,"route":"cancel-order","params":{"id":"o-%d"},"body":{"n":%d}}`, i, i, i)
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	refusals := []struct {
		frame  string
		id     string // of the ack: null for a frame that is not JSON
		status int
		typ    problem.Type
	}{
		{`{"id":"a","route":"admin","body":{}}`, `"a"`, 403, problem.Forbidden},
		{`{"id":"b","route":"nope","body":{}}`, `"b"`, 404, problem.NotFound},
		{`{"id":"c","route":"cancel-order","body":{}}`, `"c"`, 400, problem.BadRequest},
		{`{"id":"d","route":"create-order","body":{},"headers":{"Authorization":"Test admin"}}`, `"d"`, 400, problem.BadRequest},
		{`{"id":"e","route":"create-order","body":[1,`, "null", 400, problem.MalformedJSON},
		{"{\"id\":\"f\",\"route\":\"create-order\",\"body\":{\"name\":\"caf\xe9\"}}", `"f"`, 400, problem.MalformedJSON},
	}
	for _, r := range refusals {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(r.frame)); err != nil {
			t.Fatal(err)
		}
	}
	acks := make(map[string]wsAckFrame)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(acks) < n+len(refusals) {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %d acks: %v", len(acks), err)
		}
		var a wsAckFrame
		if err := json.Unmarshal(msg, &a); err != nil {
			t.Fatalf("ack %s: %v", msg, err)
		}
		if _, dup := acks[string(a.ID)]; dup {
			t.Fatalf("two acks for id %s", a.ID)
		}
		acks[string(a.ID)] = a
	}
	offsets := make(map[int64]bool)
	for i := range n {
		a := acks[fmt.Sprint(i)]
		if a.Status != 202 || a.Topic != "orders" || a.Partition == nil || a.Offset == nil {
			t.Fatalf("ack %d = %+v, want 202 with topic, partition and offset", i, a)
		}
		offsets[*a.Offset] = true
	}
	if len(offsets) != n {
		t.Errorf("%d distinct offsets for %d records", len(offsets), n)
	}
	for _, r := range refusals {
		a, ok := acks[r.id]
		if !ok || a.Status != r.status || a.Problem == nil || a.Problem.Type != r.typ.URI {
			t.Errorf("frame %s: ack %+v (problem %+v), want %d %s", r.frame, a, a.Problem, r.status, r.typ.URI)
		}
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	if len(prod.msgs) != n {
		t.Fatalf("%d records produced, want %d (refused frames produce nothing)", len(prod.msgs), n)
	}
	keyed := 0
	for _, m := range prod.msgs {
		if strings.HasPrefix(string(m.Key), "o-") {
			keyed++
		}
	}
	if keyed != n/2 {
		t.Errorf("%d records keyed from params.id, want %d", keyed, n/2)
	}
}

// TestWebSocketHandshakeRefusals: credentials given are checked at the
// upgrade, a foreign page origin is refused, and a plain GET is told to
// upgrade; each answer is a problem, not a socket.
func TestWebSocketHandshakeRefusals(t *testing.T) {
	t.Parallel()
	addr, _, _ := startWSServer(t, wsRoutes, Config{CORS: CORSConfig{AllowOrigins: []string{"https://app.example.com"}}})
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"unknown token", []string{"Authorization", "Bearer nope"}, 401},
		{"foreign origin", []string{"Authorization", "Test writer", "Origin", "https://evil.example"}, 403},
	}
	for _, tt := range tests {
		conn, resp, err := dialWS(t, "ws://"+addr+"/v1/ws", tt.hdr...)
		if err == nil || conn != nil || resp == nil || resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			t.Errorf("%s: handshake %d, %v; want a %d problem", tt.name, code, err, tt.status)
		}
	}
	for _, origin := range []string{"https://app.example.com", "http://" + addr} {
		if _, _, err := dialWS(t, "ws://"+addr+"/v1/ws", "Authorization", "Test writer", "Origin", origin); err != nil {
			t.Errorf("origin %s: %v, want a socket", origin, err)
		}
	}
	// Credentials are optional at the upgrade (auth: none routes need
	// none); each frame is then authorized for its route.
	anon, _, err := dialWS(t, "ws://"+addr+"/v1/ws")
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"route":"create-order","body":{}}`)); err != nil {
		t.Fatal(err)
	}
	var a wsAckFrame
	_ = anon.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := anon.ReadJSON(&a); err != nil || a.Status != 401 || a.Problem == nil || a.Problem.Type != problem.Unauthenticated.URI {
		t.Errorf("frame without credentials: %+v, %v; want a 401 ack", a, err)
	}
	client := &http.Client{Transport: &http.Transport{}} // not http.DefaultClient's pool, shared by every test server
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("http://" + addr + "/v1/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" {
		t.Errorf("plain GET /v1/ws = %d (Upgrade %q), want 426 with Upgrade: websocket", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
}

// TestWebSocketShutdownAnswersInFlight: frames in flight when the server
// shuts down are still acked, then the socket is closed with 1001.
func TestWebSocketShutdownAnswersInFlight(t *testing.T) {
	t.Parallel()
	gate := &gatedProducer{open: make(chan struct{}), entered: make(chan struct{}, 64)}
	addr, _, srv := startWSServer(t, wsRoutes, Config{}, gate)
	conn, _, err := dialWS(t, "ws://"+addr+"/v1/ws", "Authorization", "Test writer")
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if err := conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"id":%d,"route":"create-order","body":{}}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	for range n { // every frame is in flight, held by the producer
		<-gate.entered
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with %d frames unanswered", err, n)
	case <-time.After(100 * time.Millisecond):
	}
	close(gate.open)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	acks := 0
	var closeErr error
	for {
		_, _, err := conn.ReadMessage()
		if err != nil {
			closeErr = err
			break
		}
		acks++
	}
	if acks != n {
		t.Errorf("%d acks before the close, want %d", acks, n)
	}
	if !websocket.IsCloseError(closeErr, websocket.CloseGoingAway) {
		t.Errorf("socket ended with %v, want close 1001", closeErr)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// gatedProducer holds every Produce until open is closed, telling each
// arrival on entered.
type gatedProducer struct {
	fakeProducer
	open    chan struct{}
	entered chan struct{}
}

func (g *gatedProducer) Produce(ctx context.Context, m *topics.Message) (topics.Position, error) {
	g.entered <- struct{}{}
	<-g.open
	return g.fakeProducer.Produce(ctx, m)
}
