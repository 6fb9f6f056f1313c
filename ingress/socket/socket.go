// Package socket speaks ferry's WebSockets once they are open: a
// stream socket (ServeStream: each record a JSON text frame, an "end"
// frame with the resume position, pings) and a publish socket
// (ServePublish: frames in, acks out, handled concurrently), with the
// frame and ack formats (Request, Ack, ProblemAck).
//
// It may import ingress/problem, ingress/stream and consumers, and the
// fasthttp/websocket connection type; never Fiber or ingress itself:
// ingress makes the handshake (credentials, origin) and runs each frame
// through its route.
package socket

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/ingress/stream"
)

// PublishPath is the publish socket's path, the instance of its problems.
const PublishPath = "/v1/ws"

// MaxInFlight bounds the frames of one publish socket being handled at
// once; the socket reads no further frame until one is answered.
const MaxInFlight = 64

// writeWait bounds one frame's write: a client that takes nothing for
// this long is stuck, not slow, and is dropped (as an SSE client is).
const writeWait = 30 * time.Second

// StreamConfig is what a stream socket needs besides its subscription.
type StreamConfig struct {
	// Stream is the configured name: a fixed metric label.
	Stream string
	// Heartbeat is how often an idle socket is pinged (server.sse).
	Heartbeat time.Duration
	// Expires ends the socket with token_expired; zero for never.
	Expires time.Time
	// Metrics gets the socket's counts, as an SSE stream's.
	Metrics stream.Observer
	// Resume, when set (the URL named no position), lets the client send
	// the position to resume from as its first message, within
	// ResumeWindow of the upgrade: {"last_event_id":"ID"} or the ID
	// alone. Until it arrives or the window passes, records wait; then
	// the socket delivers from what Resume subscribes to, or from the
	// upgrade's subscription. An error of Resume (a malformed id: a
	// problem.Error) ends the socket with reason bad_position.
	Resume       func(ctx context.Context, lastEventID string) (*consumers.Subscription, error)
	ResumeWindow time.Duration
}

// DefaultResumeWindow is how long a stream socket whose URL names no
// position waits for a resume message before it delivers live records.
const DefaultResumeWindow = time.Second

// resumeID reads the position of a resume message: a JSON object's
// last_event_id, or the message itself.
func resumeID(msg []byte) string {
	var m struct {
		LastEventID *string `json:"last_event_id"`
	}
	if json.Unmarshal(msg, &m) == nil && m.LastEventID != nil {
		return *m.LastEventID
	}
	return strings.TrimSpace(string(msg))
}

// ServeStream sends sub's records as JSON text frames (stream.AppendFrame)
// until the client leaves, falls too far behind, its credentials expire
// or life ends (shutdown); the last three end with an "end" frame carrying
// the position to resume from, then a close frame. It closes sub and
// takes the subscriber off Metrics (the caller counted it in) before it
// returns, and leaves conn untouched after.
func ServeStream(life context.Context, conn *websocket.Conn, sub *consumers.Subscription, cfg StreamConfig) {
	defer func() {
		sub.Close() // the one resumed from, if the client sent a position
		cfg.Metrics.SSESubscribers(cfg.Stream, -1)
	}()
	ctx, cancel := context.WithCancel(life)
	defer cancel()
	// The reader answers pings and close frames, notices a client that
	// left, and hands on the first message (a resume position). It is
	// ended (by a read deadline: closing a hijacked conn is left to
	// fasthttp) before this returns, since fasthttp reuses the
	// connection's memory after that.
	read, first := make(chan struct{}), make(chan []byte, 1)
	go func() {
		defer close(read)
		defer cancel()
		for n := 0; ; n++ {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if n == 0 {
				first <- msg
			}
		}
	}()
	defer func() {
		_ = conn.SetReadDeadline(time.Now())
		<-read
	}()
	if cfg.Resume != nil {
		window := time.NewTimer(cmp.Or(cfg.ResumeWindow, DefaultResumeWindow))
		select {
		case msg := <-first:
			window.Stop()
			next, err := cfg.Resume(ctx, resumeID(msg))
			if err != nil {
				detail := err.Error()
				if pe := (*problem.Error)(nil); errors.As(err, &pe) {
					detail = pe.Detail
				}
				end(conn, "bad_position", detail, sub.Position(), websocket.ClosePolicyViolation)
				return
			}
			sub.Close()
			sub = next
		case <-window.C:
		case <-ctx.Done():
			window.Stop()
		}
	}
	hb := time.NewTicker(cfg.Heartbeat)
	defer hb.Stop()
	var expired <-chan time.Time
	if !cfg.Expires.IsZero() {
		t := time.NewTimer(time.Until(cfg.Expires))
		defer t.Stop()
		expired = t.C
	}
	last := sub.Position()
	var (
		ds  []consumers.Delivery
		buf []byte
	)
	for {
		var err error
		ds, err = sub.Fetch(ctx, ds[:0])
		for i := range ds {
			buf = stream.AppendFrame(buf[:0], &ds[i])
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if werr := conn.WriteMessage(websocket.TextMessage, buf); werr != nil {
				return
			}
			last = ds[i].ID
			ds[i] = consumers.Delivery{}
		}
		if len(ds) > 0 {
			cfg.Metrics.SSEEventsSent(cfg.Stream, len(ds))
			if cap(buf) > 64<<10 {
				buf = nil
			}
			continue
		}
		switch {
		case errors.Is(err, consumers.ErrSlowConsumer):
			cfg.Metrics.SSESlowConsumerClosed(cfg.Stream)
			end(conn, "slow_consumer", "the client fell too far behind the stream; reconnect with ?last_event_id= to resume", last, websocket.CloseTryAgainLater)
			return
		case ctx.Err() != nil && life.Err() == nil:
			return // the client left
		case errors.Is(err, consumers.ErrStreamRemoved):
			end(conn, "stream_removed", "the stream was removed from the configuration, or now reads another topic", last, websocket.CloseNormalClosure)
			return
		case err != nil:
			end(conn, "shutdown", "the server is shutting down; reconnect with ?last_event_id= to resume", last, websocket.CloseGoingAway)
			return
		}
		select {
		case <-sub.Wait():
		case <-hb.C:
			_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
		case <-expired:
			end(conn, "token_expired", "the credentials expired", last, websocket.ClosePolicyViolation)
			return
		case <-sub.Done():
		case <-ctx.Done():
		}
	}
}

// end sends the final frame of a stream socket and a close frame.
func end(conn *websocket.Conn, reason, detail, lastID string, code int) {
	frame, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Reason      string `json:"reason"`
		Detail      string `json:"detail"`
		LastEventID string `json:"last_event_id"`
	}{"end", reason, detail, lastID})
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = conn.WriteMessage(websocket.TextMessage, frame)
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}

// Request is one frame of a publish socket.
type Request struct {
	// ID is the client's name for the frame, echoed in its ack.
	ID json.RawMessage `json:"id"`
	// Route names the route; Params fill the {name} segments of its path.
	Route  string            `json:"route"`
	Params map[string]string `json:"params"`
	// Body is the request body; IdempotencyKey its Idempotency-Key.
	Body           json.RawMessage `json:"body"`
	IdempotencyKey string          `json:"idempotency_key"`
	// Headers are more request headers (Prefer, X-Request-ID, a route's
	// header fields); credentials and hop-by-hop headers are not taken.
	Headers map[string]string `json:"headers"`
}

// ServePublish reads the frames of a publish socket until the client
// leaves or life ends, handing each to handle in a goroutine of its own
// (at most MaxInFlight at once) and writing the ack handle returns. It
// waits for the frames in flight, says goodbye (1001) if life ended, and
// leaves conn untouched after it returns.
func ServePublish(life context.Context, conn *websocket.Conn, handle func(*Request) []byte) {
	var (
		wmu      sync.Mutex // one writer at a time
		inFlight sync.WaitGroup
		slots    = make(chan struct{}, MaxInFlight)
	)
	write := func(ack []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		_ = conn.WriteMessage(websocket.TextMessage, ack)
	}
	// Shutdown: stop reading (the read fails at once), answer what is in
	// flight, then say goodbye. The conn is not touched once this returns.
	var (
		smu      sync.Mutex
		returned bool
	)
	stop := context.AfterFunc(life, func() {
		smu.Lock()
		defer smu.Unlock()
		if !returned {
			_ = conn.SetReadDeadline(time.Now())
		}
	})
	defer func() {
		stop()
		smu.Lock()
		returned = true
		smu.Unlock()
	}()
	for {
		kind, msg, err := conn.ReadMessage()
		if err != nil {
			break
		}
		if kind != websocket.TextMessage {
			write(ProblemAck(nil, problem.New(problem.BadRequest, "frames are JSON text: {\"id\", \"route\", \"body\", \"idempotency_key\"}")))
			continue
		}
		var req Request
		if err := json.Unmarshal(msg, &req); err != nil {
			write(ProblemAck(nil, problem.New(problem.MalformedJSON, "the frame is not a JSON object {\"id\", \"route\", \"body\", \"idempotency_key\"}: "+err.Error())))
			continue
		}
		slots <- struct{}{}
		inFlight.Add(1)
		go func() {
			defer func() { <-slots; inFlight.Done() }()
			write(handle(&req))
		}()
	}
	inFlight.Wait()
	if life.Err() != nil {
		wmu.Lock()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutdown"), time.Now().Add(time.Second))
		wmu.Unlock()
	}
}

// ReservedHeader reports the headers a frame may not set: credentials
// (the handshake's are used), addressing and framing.
func ReservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "authorization", "x-api-key", "cookie", "host", "content-length", "content-type", "transfer-encoding",
		"connection", "upgrade", "x-forwarded-for", "forwarded", "x-real-ip", "idempotency-key":
		return true
	}
	return false
}

// FillPath puts params into the {name} segments of a route path, whose
// names are the route's Params.
func FillPath(path string, names []string, params map[string]string) (string, error) {
	for _, name := range names {
		v := params[name]
		if v == "" {
			return "", problem.New(problem.BadRequest, "the route's path needs params."+name)
		}
		path = strings.Replace(path, "{"+name+"}", url.PathEscape(v), 1)
	}
	return path, nil
}

// ProblemAck renders the ack of a frame refused before it reached a
// route: err's problem (an internal error when err is not one).
func ProblemAck(id json.RawMessage, err error) []byte {
	var pe *problem.Error
	if !errors.As(err, &pe) {
		pe = problem.New(problem.Internal, "the frame could not be handled")
	}
	body, _ := pe.Body(PublishPath, "")
	return Ack(id, pe.Type.Status, "", "", body)
}

// ack is the JSON of an ack frame.
type ack struct {
	ID         json.RawMessage `json:"id"`
	Status     int             `json:"status"`
	Topic      string          `json:"topic,omitempty"`
	Partition  *int32          `json:"partition,omitempty"`
	Offset     *int64          `json:"offset,omitempty"`
	Location   string          `json:"location,omitempty"`
	Body       json.RawMessage `json:"body,omitempty"`
	Problem    json.RawMessage `json:"problem,omitempty"`
	RetryAfter *int            `json:"retry_after,omitempty"`
}

// Ack renders an ack: {"id", "status"} and, for a 2xx, the answer's body
// (with topic, partition and offset lifted to the top for a 202), or else
// its problem and retry_after; location is the answer's Location (where a
// sync route's 202 keeps its result).
func Ack(id json.RawMessage, status int, retryAfter, location string, body []byte) []byte {
	a := ack{ID: id, Status: status, Location: location}
	if len(a.ID) == 0 {
		a.ID = json.RawMessage("null")
	}
	switch {
	case len(body) == 0 || !json.Valid(body):
	case status >= 200 && status < 300:
		a.Body = body
		if status == 202 {
			var pos struct {
				Topic     string `json:"topic"`
				Partition *int32 `json:"partition"`
				Offset    *int64 `json:"offset"`
			}
			if json.Unmarshal(body, &pos) == nil && pos.Partition != nil && pos.Offset != nil {
				a.Topic, a.Partition, a.Offset = pos.Topic, pos.Partition, pos.Offset
			}
		}
	default:
		a.Problem = body
		if n, err := strconv.Atoi(retryAfter); err == nil {
			a.RetryAfter = &n
		}
	}
	out, _ := json.Marshal(a) // every field is valid JSON or a plain value
	return out
}
