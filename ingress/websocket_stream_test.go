package ingress_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/topics"
)

// wsRecord is one record frame of a stream socket.
type wsRecord struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Key       *string           `json:"key"`
	Headers   map[string]string `json:"headers"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Value     json.RawMessage   `json:"value"`
	// Reason and LastEventID are set in the final "end" frame.
	Reason      string `json:"reason"`
	LastEventID string `json:"last_event_id"`
}

func dialStream(t *testing.T, addr, path string, hdr ...string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+path, h)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, code)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readFrames(t *testing.T, conn *websocket.Conn, n int) []wsRecord {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out []wsRecord
	for len(out) < n {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(out), err)
		}
		var r wsRecord
		if err := json.Unmarshal(msg, &r); err != nil {
			t.Fatalf("frame %s: %v", msg, err)
		}
		out = append(out, r)
	}
	return out
}

// TestWebSocketStream: a stream over a WebSocket sends each record as a
// JSON frame (id, type, key, headers, value), and a client that comes back
// with ?last_event_id= gets exactly the records after it.
func TestWebSocketStream(t *testing.T) {
	t.Parallel()
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{orderEvents}, partitions: 1})
	g.produce(t, "orders.events", `{"n":1}|k1|x-region=eu`, `{"n":2}|k2`, `{"n":3}|k3`)
	conn := dialStream(t, g.addr, "/v1/streams/order-events?from=earliest")
	got := readFrames(t, conn, 3)
	for i, r := range got {
		if r.Type != "com.example.test" || r.Key == nil || *r.Key != fmt.Sprintf("k%d", i+1) || string(r.Value) != fmt.Sprintf(`{"n":%d}`, i+1) || r.ID == "" || r.Offset != int64(i) {
			t.Errorf("frame %d = %+v", i, r)
		}
	}
	if got[0].Headers["x-region"] != "eu" {
		t.Errorf("frame 0 headers = %v, want x-region", got[0].Headers)
	}
	conn.Close()

	g.produce(t, "orders.events", `{"n":4}|k4`, `{"n":5}|k5`)
	again := dialStream(t, g.addr, "/v1/streams/order-events?last_event_id="+got[1].ID)
	resumed := readFrames(t, again, 3)
	for i, r := range resumed {
		if want := fmt.Sprintf(`{"n":%d}`, i+3); string(r.Value) != want {
			t.Errorf("resumed frame %d = %s, want %s", i, r.Value, want)
		}
	}

	// A filter applies as over SSE.
	filtered := dialStream(t, g.addr, "/v1/streams/order-events?from=earliest&key=k4")
	if r := readFrames(t, filtered, 1)[0]; string(r.Value) != `{"n":4}` {
		t.Errorf("key=k4 got %s", r.Value)
	}

	// Shutdown ends the socket with an end frame naming where to resume.
	g.close()
	_ = again.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := again.ReadMessage()
	if err != nil {
		t.Fatalf("no end frame: %v", err)
	}
	var end wsRecord
	_ = json.Unmarshal(msg, &end)
	if end.Type != "end" || end.Reason != "shutdown" || end.LastEventID != resumed[2].ID {
		t.Errorf("end frame %s, want type end, reason shutdown, last_event_id %s", msg, resumed[2].ID)
	}
	if _, _, err := again.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after the end frame: %v, want close 1001", err)
	}
}

// TestWebSocketStreamResumeMessage: a client that gives no position in
// the URL may send it as its first message, as JSON or the id alone, and
// gets exactly the records after it; a bad one ends the socket saying
// why; a client that sends nothing gets the live feed from its upgrade,
// records produced right after it included.
func TestWebSocketStreamResumeMessage(t *testing.T) {
	t.Parallel()
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{orderEvents}, partitions: 1})
	g.produce(t, "orders.events", `{"n":1}|k1`, `{"n":2}|k2`, `{"n":3}|k3`)
	got := readFrames(t, dialStream(t, g.addr, "/v1/streams/order-events?from=earliest"), 3)

	for name, first := range map[string]string{
		"json":    `{"last_event_id":"` + got[0].ID + `"}`,
		"bare id": got[0].ID,
	} {
		conn := dialStream(t, g.addr, "/v1/streams/order-events")
		if err := conn.WriteMessage(websocket.TextMessage, []byte(first)); err != nil {
			t.Fatal(err)
		}
		resumed := readFrames(t, conn, 2)
		if string(resumed[0].Value) != `{"n":2}` || string(resumed[1].Value) != `{"n":3}` {
			t.Errorf("%s resume message: frames %s, %s, want n 2 and 3", name, resumed[0].Value, resumed[1].Value)
		}
	}

	bad := dialStream(t, g.addr, "/v1/streams/order-events")
	_ = bad.WriteMessage(websocket.TextMessage, []byte(`{"last_event_id":"nonsense"}`))
	if end := readFrames(t, bad, 1)[0]; end.Type != "end" || end.Reason != "bad_position" {
		t.Errorf("a bad resume message: %+v, want an end frame with reason bad_position", end)
	}
	if _, _, err := bad.ReadMessage(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Errorf("after the end frame: %v, want close 1008", err)
	}

	// No message: live from the upgrade, nothing before it, nothing lost.
	live := dialStream(t, g.addr, "/v1/streams/order-events")
	g.produce(t, "orders.events", `{"n":4}|k4`)
	if r := readFrames(t, live, 1)[0]; string(r.Value) != `{"n":4}` {
		t.Errorf("live subscriber got %s, want n 4", r.Value)
	}
}

// TestWebSocketStreamIsolatesTenants: the claim-bound filter holds over a
// WebSocket as over SSE, whatever the client asks for, and credentials
// are checked at the upgrade.
func TestWebSocketStreamIsolatesTenants(t *testing.T) {
	t.Parallel()
	tenants := topics.StreamConfig{Name: "tenant-events", Topic: "tenant.events", Scopes: []string{"events:read"},
		Filters: []string{"header.tenant"}, Match: &topics.MatchConfig{Header: "tenant", Claim: "tenant"}}
	pr := func(tenant string) *identity.Principal {
		return &identity.Principal{ID: "u-" + tenant, Kind: identity.PrincipalJWT, Scopes: []string{"events:read"}, Claims: map[string]string{"tenant": tenant}}
	}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{tenants},
		principals: map[string]*identity.Principal{"a": pr("a"), "b": pr("b")}})
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+g.addr+"/v1/streams/tenant-events", nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("no credentials: %v, want a 401 handshake", err)
	}
	a := dialStream(t, g.addr, "/v1/streams/tenant-events?from=earliest", "Authorization", "Test a")
	aAsksForB := dialStream(t, g.addr, "/v1/streams/tenant-events?from=earliest&header.tenant=b", "Authorization", "Test a")
	var specs []string
	for i := range 20 {
		tenant := []string{"a", "b"}[i%2]
		specs = append(specs, fmt.Sprintf(`"%s-%d"|k|tenant=%s`, tenant, i, tenant))
	}
	specs = append(specs, `"a-last"|k|tenant=a`)
	g.produce(t, "tenant.events", specs...)
	for n := 0; ; n++ {
		r := readFrames(t, a, 1)[0]
		if !strings.HasPrefix(string(r.Value), `"a-`) {
			t.Fatalf("tenant a received %s", r.Value)
		}
		if string(r.Value) == `"a-last"` {
			if n != 10 {
				t.Errorf("tenant a received %d records before the last, want 10", n)
			}
			break
		}
	}
	// Asking for b's records with a's credentials gets nothing: the claim's
	// filter and the client's both apply.
	_ = aAsksForB.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, msg, err := aAsksForB.ReadMessage(); err == nil {
		t.Errorf("tenant a asking for b received %s", msg)
	}
}

// TestWebSocketSlowConsumer: a stream socket whose client stops reading
// is ended, once it falls a hub buffer behind, with an end frame naming
// slow_consumer and the position to resume from; resuming from it gets
// the rest without loss.
func TestWebSocketSlowConsumer(t *testing.T) {
	t.Parallel()
	st := topics.StreamConfig{Name: "s", Topic: "t", Auth: topics.AuthNone}
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{st}, hub: consumers.HubConfig{Buffer: 32, History: 64}, partitions: 1})
	slow := dialStream(t, g.addr, "/v1/streams/s")
	fast := dialStream(t, g.addr, "/v1/streams/s")
	big := strings.Repeat("x", 32<<10)
	const n = 600 // ~19 MiB: more than the socket buffers between them hold
	for i := 0; i < n; i += 20 {
		var specs []string
		for j := i; j < i+20; j++ {
			specs = append(specs, fmt.Sprintf(`"%08d%s"`, j, big))
		}
		g.produce(t, "t", specs...)
		readFrames(t, fast, 20) // the producer waits for the fast one only
	}
	var got []string
	var end wsRecord
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := slow.ReadMessage()
		if err != nil {
			t.Fatalf("slow socket after %d frames: %v", len(got), err)
		}
		var r wsRecord
		if err := json.Unmarshal(msg, &r); err != nil {
			t.Fatal(err)
		}
		if r.Type == "end" {
			end = r
			break
		}
		got = append(got, string(r.Value[1:9]))
	}
	if end.Reason != "slow_consumer" || end.LastEventID == "" || len(got) >= n {
		t.Fatalf("end frame %+v after %d frames, want slow_consumer with a resume id before %d", end, len(got), n)
	}
	if _, _, err := slow.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
		t.Errorf("after the end frame: %v, want close 1013", err)
	}
	again := dialStream(t, g.addr, "/v1/streams/s?last_event_id="+end.LastEventID)
	for len(got) < n {
		r := readFrames(t, again, 1)[0]
		if want := fmt.Sprintf("%08d", len(got)); string(r.Value[1:9]) != want {
			t.Fatalf("resumed frame %s, want %s (no loss, no repeat)", r.Value[1:9], want)
		}
		got = append(got, string(r.Value[1:9]))
	}
}

// TestWebSocketStreamRemoved: a reload that removes a stream ends its
// sockets with an end frame (reason stream_removed) and a normal close.
func TestWebSocketStreamRemoved(t *testing.T) {
	t.Parallel()
	g := startStreamGateway(t, streamSetup{streams: []topics.StreamConfig{orderEvents}, partitions: 1})
	g.produce(t, "orders.events", `{"n":1}|k1`)
	conn := dialStream(t, g.addr, "/v1/streams/order-events?from=earliest")
	got := readFrames(t, conn, 1)
	g.hub.SetStreams(nil)
	end := readFrames(t, conn, 1)[0]
	if end.Type != "end" || end.Reason != "stream_removed" || end.LastEventID != got[0].ID {
		t.Errorf("end frame %+v, want type end, reason stream_removed, last_event_id %s", end, got[0].ID)
	}
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after the end frame: %v, want close 1000", err)
	}
}
