package ingress

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics"
)

// subscribeWait bounds how long a subscription waits for the hub to know
// its topic (while the hub starts) before the client gets a 503.
const subscribeWait = 2 * time.Second

// stream serves GET /v1/streams/{name}: it checks the request, opens the
// subscription, and leaves the Server-Sent Events to a streamWriter that
// fasthttp runs after the handler returns. Every refusal is a problem
// answered before the stream starts.
func (s *Server) stream(c *fiber.Ctx) error {
	ri := info(c)
	if s.deps.Streams == nil {
		return problem(ProblemStreamNotFound, "no streams are configured")
	}
	sc, ok := s.deps.Streams.Stream(c.Params("name"))
	if !ok {
		return problem(ProblemStreamNotFound, "no stream is named "+quoteParam(c.Params("name")))
	}
	ri.route = "stream:" + sc.Name
	if err := authorize(c, sc.Auth, sc.Scopes); err != nil {
		return err
	}
	if !acceptsEventStream(c.Get(fiber.HeaderAccept)) {
		return problem(ProblemNotAcceptable, "streams are served as text/event-stream only")
	}
	params, err := parseStreamParams(queryArgs(c), c.Get("Last-Event-ID"), sc, time.Now())
	if err != nil {
		return err
	}
	p := principal(c)
	if sc.Match != nil {
		v, ok := p.Claim(sc.Match.Claim)
		if !ok {
			return problem(ProblemForbidden, "this stream needs a "+quoteParam(sc.Match.Claim)+" claim in the credentials")
		}
		params.filter = params.filter.WithHeader(sc.Match.Header, v)
	}
	var expires time.Time
	if p != nil {
		expires = p.Expires
	}

	ctx, cancel := context.WithTimeout(c.UserContext(), subscribeWait)
	sub, err := s.deps.Streams.Subscribe(ctx, sc.Name, params.start, params.filter)
	cancel()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Context().SetConnectionClose()
	sw := &streamWriter{
		sub: sub, conn: c.Context().Conn(), heartbeat: s.cfg.SSE.Heartbeat, retry: s.cfg.SSE.Retry,
		envelope: params.envelope, expires: expires,
		log: s.log, requestID: ri.id, stream: sc.Name,
	}
	c.Context().SetBodyStreamWriter(sw.run)
	return nil
}

// authorize checks a principal against a stream's (or route's) auth mode
// and scopes: 401 without credentials (or with expired ones), 403 without
// every scope. It denies by default: until authentication sets the
// request's principal, an `auth: required` stream answers 401.
func authorize(c *fiber.Ctx, auth string, scopes []string) error {
	if auth == topics.AuthNone {
		return nil
	}
	p := principal(c)
	if p == nil || p.Kind == PrincipalAnonymous {
		return problem(ProblemUnauthenticated, "this stream requires credentials")
	}
	if !p.Expires.IsZero() && !time.Now().Before(p.Expires) {
		return problem(ProblemUnauthenticated, "the credentials have expired")
	}
	if !p.HasScopes(scopes) {
		return problem(ProblemForbidden, "this stream requires the scopes "+strings.Join(scopes, " "))
	}
	return nil
}

// queryArgs copies the query parameters out of the request.
func queryArgs(c *fiber.Ctx) []queryArg {
	var out []queryArg
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		out = append(out, queryArg{key: string(k), value: string(v)})
	})
	return out
}

// streamWriter writes one subscription as Server-Sent Events. It runs in
// the goroutine fasthttp starts for the response body (SetBodyStreamWriter)
// and owns the subscription until it returns. fasthttp does not cancel
// anything when a client disconnects, so the writer notices by itself: a
// failed write or flush, or, at each heartbeat, a peek at the connection.
type streamWriter struct {
	sub       *consumers.Subscription
	conn      net.Conn
	heartbeat time.Duration
	retry     time.Duration
	envelope  bool
	expires   time.Time
	log       *slog.Logger
	requestID string
	stream    string

	scratch []byte // envelope bodies
}

// maxFrameBuffer bounds what the writer appends before writing it out.
const maxFrameBuffer = 32 << 10

func (w *streamWriter) run(bw *bufio.Writer) {
	reason := "client gone"
	defer func() {
		w.sub.Close()
		w.log.LogAttrs(context.Background(), slog.LevelDebug, "stream ended",
			slog.String("request_id", w.requestID), slog.String("route", "stream:"+w.stream), slog.String("reason", reason))
	}()
	lastID := w.sub.Position()
	if !flush(bw, appendPreamble(bw.AvailableBuffer(), w.retry, lastID)) {
		return
	}
	hb := time.NewTicker(w.heartbeat)
	defer hb.Stop()
	var expired <-chan time.Time
	if !w.expires.IsZero() {
		t := time.NewTimer(time.Until(w.expires))
		defer t.Stop()
		expired = t.C
	}

	var ds []consumers.Delivery
	for {
		var err error
		ds, err = w.sub.Fetch(context.Background(), ds[:0])
		if n := len(ds); n > 0 {
			b := bw.AvailableBuffer()
			for i := range ds {
				b = w.appendDelivery(b, &ds[i])
				if len(b) >= maxFrameBuffer {
					if _, werr := bw.Write(b); werr != nil {
						return
					}
					b = bw.AvailableBuffer()
				}
			}
			lastID = ds[n-1].ID
			clear(ds)
			if !flush(bw, b) {
				return
			}
		}
		switch {
		case errors.Is(err, consumers.ErrSlowConsumer):
			reason = endSlowConsumer
			flush(bw, appendEnd(bw.AvailableBuffer(), endSlowConsumer,
				"the client fell too far behind the stream; reconnect with Last-Event-ID to resume"))
			return
		case err != nil:
			reason = endShutdown
			flush(bw, appendEnd(bw.AvailableBuffer(), endShutdown, "the server is shutting down; reconnect with Last-Event-ID to resume"))
			return
		}
		if len(ds) > 0 {
			select { // a busy stream still ends on time
			case <-expired:
				reason = endTokenExpired
				flush(bw, appendEnd(bw.AvailableBuffer(), endTokenExpired, "the credentials expired"))
				return
			default:
				continue
			}
		}
		select {
		case <-w.sub.Wait():
		case <-hb.C:
			if !clientAlive(w.conn) {
				return
			}
			id := w.sub.Position()
			if id == lastID {
				id = ""
			} else {
				lastID = id
			}
			if !flush(bw, appendHeartbeat(bw.AvailableBuffer(), id)) {
				return
			}
		case <-expired:
			reason = endTokenExpired
			flush(bw, appendEnd(bw.AvailableBuffer(), endTokenExpired, "the credentials expired"))
			return
		case <-w.sub.Done():
			// Fetch reports ErrClosed on the next turn and ends the stream.
		}
	}
}

// appendDelivery appends one event: the record's value, or its envelope.
func (w *streamWriter) appendDelivery(b []byte, d *consumers.Delivery) []byte {
	name := eventName(d.Type())
	if !w.envelope {
		return appendEvent(b, d.ID, name, d.Value)
	}
	w.scratch = appendEnvelope(w.scratch[:0], d)
	b = appendEvent(b, d.ID, name, w.scratch)
	if cap(w.scratch) > maxFrameBuffer {
		w.scratch = nil // do not keep a large record's buffer for the stream's life
	}
	return b
}

// flush writes b (obtained from bw.AvailableBuffer) and flushes; false
// means the client is gone.
func flush(bw *bufio.Writer, b []byte) bool {
	if _, err := bw.Write(b); err != nil {
		return false
	}
	return bw.Flush() == nil
}

// clientAlive peeks at the connection for at most a millisecond. A client
// that closed its side is seen at once (EOF), which a write would only
// reveal one write later; a client sending anything in the middle of a
// stream is not speaking HTTP/1.1 correctly and is dropped too.
func clientAlive(conn net.Conn) bool {
	if conn == nil {
		return true
	}
	if err := conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return false
	}
	var b [1]byte
	n, err := conn.Read(b[:])
	_ = conn.SetReadDeadline(time.Time{})
	if n > 0 {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
