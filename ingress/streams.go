package ingress

import (
	"context"
	"net"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/ingress/socket"
	"github.com/ferry-gw/ferry/ingress/stream"
	"github.com/ferry-gw/ferry/topics"
)

// subscribeWait bounds how long a subscription waits for the hub to know
// its topic (while the hub starts) before the client gets a 503.
const subscribeWait = 2 * time.Second

// stream serves GET /v1/streams/{name}: it checks the request, opens the
// subscription, and leaves the Server-Sent Events to a stream.Body that
// fasthttp reads after the handler returns. Every refusal is a problem
// answered before the stream starts.
func (s *Server) stream(c *fiber.Ctx) error {
	ri := info(c)
	var sc topics.StreamConfig
	ok := false
	if s.deps.Streams != nil {
		sc, ok = s.deps.Streams.Stream(c.Params("name"))
	}
	if !ok {
		if len(streamList(s.deps.Streams)) == 0 { // no hub, or one that a reload has not given streams yet
			return problem.New(problem.StreamNotFound, "no streams are configured")
		}
		return problem.New(problem.StreamNotFound, "no stream is named "+stream.QuoteParam(c.Params("name")))
	}
	ri.route = "stream:" + sc.Name
	if err := s.admit(c, streamAccess(sc)); err != nil {
		return err
	}
	ws := isWebSocket(c)
	if !ws && !stream.AcceptsEventStream(c.Get(fiber.HeaderAccept)) {
		return problem.New(problem.NotAcceptable, "streams are served as text/event-stream, or over a WebSocket (Upgrade: websocket)")
	}
	params, err := stream.ParseParams(queryArgs(c), c.Get("Last-Event-ID"), sc, time.Now())
	if err != nil {
		return err
	}
	p := principal(c)
	if sc.Match != nil {
		v, ok := p.Claim(sc.Match.Claim)
		if !ok {
			return problem.New(problem.Forbidden, "this stream needs a "+stream.QuoteParam(sc.Match.Claim)+" claim in the credentials")
		}
		if params.Filter, err = stream.Bind(params.Filter, *sc.Match, v); err != nil {
			return err
		}
	}
	var expires time.Time
	if p != nil {
		expires = p.Expires
	}
	if !expires.IsZero() && !time.Now().Before(expires) {
		// Past exp but inside the leeway: good for one request, not for
		// a stream that would close at once with token_expired.
		return s.unauthenticated(c, ri, ri.scheme, identity.Invalid("the token has expired; a stream needs a token that has not", jwt.ErrTokenExpired))
	}

	ctx, cancel := context.WithTimeout(c.UserContext(), subscribeWait)
	sub, err := s.deps.Streams.Subscribe(ctx, sc.Name, params.Start, params.Filter)
	cancel()
	if err != nil {
		return err
	}
	// From here the stream is counted until stream.Body.Close, which fasthttp
	// calls however the response ends (or socket.ServeStream returns).
	s.metrics.SSESubscribers(sc.Name, 1)
	if ws {
		cfg := socket.StreamConfig{Stream: sc.Name, Heartbeat: s.cfg.SSE.Heartbeat, Expires: expires, Metrics: s.metrics}
		if !params.Positioned {
			// No position in the URL: the client may send it as its
			// first message (socket.StreamConfig.Resume).
			filter := params.Filter
			cfg.Resume = func(ctx context.Context, id string) (*consumers.Subscription, error) {
				if id == "" {
					return nil, problem.New(problem.BadPosition, "the first message names no position; send {\"last_event_id\": ID}")
				}
				p, err := stream.ParseParams(nil, id, sc, time.Now())
				if err != nil {
					return nil, err
				}
				ctx, cancel := context.WithTimeout(ctx, subscribeWait)
				defer cancel()
				return s.deps.Streams.Subscribe(ctx, sc.Name, p.Start, filter)
			}
		}
		if err := s.upgrade(c, func(conn *websocket.Conn, _ net.Conn) { socket.ServeStream(s.streams, conn, sub, cfg) }); err != nil {
			sub.Close()
			s.metrics.SSESubscribers(sc.Name, -1)
			return err
		}
		return nil
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Context().SetConnectionClose()
	c.Context().Response.SetBodyStream(stream.NewBody(sub, stream.BodyConfig{
		Conn: c.Context().Conn(), Heartbeat: s.cfg.SSE.Heartbeat, Retry: s.cfg.SSE.Retry,
		Envelope: params.Envelope, Expires: expires,
		Watch: func(gone func()) func() { return s.hangups.Watch(c.Context().Conn(), hangupStream, gone).Stop },
		Log:   s.log, Metrics: s.metrics, RequestID: ri.id, Stream: sc.Name,
	}), -1)
	return nil
}

// queryArgs copies the query parameters out of the request.
func queryArgs(c *fiber.Ctx) []stream.QueryArg {
	var out []stream.QueryArg
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		out = append(out, stream.QueryArg{Key: string(k), Value: string(v)})
	})
	return out
}
