package ingress

import (
	"crypto/tls"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/ingress/socket"
	"github.com/ferry-gw/ferry/ingress/stream"
)

// newUpgrader returns the WebSocket upgrader of the server. The origin
// is checked before it runs (originAllowed), so that a refusal is a
// problem like every other.
func (s *Server) newUpgrader() *websocket.FastHTTPUpgrader {
	return &websocket.FastHTTPUpgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		CheckOrigin:      func(*fasthttp.RequestCtx) bool { return true }, // upgrade checked it
	}
}

// originAllowed accepts a handshake from a browser page only from the
// server's own origin or one listed in server.cors.allow_origins, since
// cookies ride along with a cross-site WebSocket handshake (cross-site
// WebSocket hijacking); a client that sends no Origin is not a page.
func (s *Server) originAllowed(ctx *fasthttp.RequestCtx) bool {
	origin := string(ctx.Request.Header.Peek(fiber.HeaderOrigin))
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.CORS.AllowOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, string(ctx.Host()))
}

// isWebSocket reports whether c asks for a WebSocket upgrade.
func isWebSocket(c *fiber.Ctx) bool {
	return websocket.FastHTTPIsWebSocketUpgrade(c.Context())
}

// upgrade completes the handshake of c and runs fn on the socket, once
// the HTTP response is sent, counted in s.sockets so that Shutdown waits
// for it. An origin refused or a malformed handshake is answered 403 or
// 400, as a problem, and fn never runs.
func (s *Server) upgrade(c *fiber.Ctx, fn func(conn *websocket.Conn, peer net.Conn)) error {
	tlsState := c.Context().TLSConnectionState()
	if !s.originAllowed(c.Context()) {
		return problem.New(problem.Forbidden, "WebSocket handshakes from origin "+stream.QuoteParam(c.Get(fiber.HeaderOrigin))+" are not allowed; list it in server.cors.allow_origins")
	}
	s.sockets.Add(1)
	err := s.upgrader.Upgrade(c.Context(), func(conn *websocket.Conn) {
		defer s.sockets.Done()
		defer conn.Close()
		var peer net.Conn = conn.NetConn()
		if tlsState != nil {
			peer = tlsPeer{Conn: peer, state: *tlsState}
		}
		fn(conn, peer)
	})
	if err != nil {
		s.sockets.Done()
		return problem.New(problem.BadRequest, "WebSocket handshake: "+err.Error())
	}
	return nil
}

// tlsPeer is a hijacked TLS connection that still tells its TLS state,
// so that the frames of a publish socket keep a client certificate.
type tlsPeer struct {
	net.Conn
	state tls.ConnectionState
}

// ConnectionState returns the handshake's state.
func (p tlsPeer) ConnectionState() tls.ConnectionState { return p.state }

// Handshake does nothing: the handshake is over. With ConnectionState it
// makes a tlsPeer what fasthttp's RequestCtx.TLSConnectionState asks of
// a connection, without which a frame's client certificate is unseen.
func (p tlsPeer) Handshake() error { return nil }

// wsPublish serves GET /v1/ws: after the upgrade (which needs valid
// credentials), each text frame is a request to a route, handled exactly
// as the HTTP request would be (scopes, rate limit, idempotency, schema,
// produce, reply), and answered with an ack frame carrying the frame's id.
// Frames are handled concurrently, up to wsMaxInFlight; acks come in the
// order they are ready.
func (s *Server) wsPublish(c *fiber.Ctx) error {
	if !isWebSocket(c) {
		c.Set(fiber.HeaderUpgrade, "websocket")
		c.Set(fiber.HeaderConnection, "Upgrade")
		return problem.New(problem.UpgradeRequired, socket.PublishPath+" is a WebSocket endpoint: send Upgrade: websocket")
	}
	if err := s.admit(c, access{name: "ws", auth: true, optional: true}); err != nil {
		return err
	}
	// The credentials of the handshake go with every frame, so that each
	// is authenticated (an expired token is refused) and authorized for
	// its own route.
	creds := make(map[string]string)
	for _, h := range []string{fiber.HeaderAuthorization, "X-API-Key", fiber.HeaderCookie, fiber.HeaderXForwardedFor, "Forwarded", "X-Real-IP", "traceparent"} {
		if v := c.Get(h); v != "" {
			creds[h] = v
		}
	}
	host := string(c.Context().Host())
	limit := int64(s.app.Config().BodyLimit) + 64<<10
	return s.upgrade(c, func(conn *websocket.Conn, peer net.Conn) {
		conn.SetReadLimit(limit)
		socket.ServePublish(s.streams, conn, func(req *socket.Request) []byte { return s.publishFrame(req, peer, host, creds) })
	})
}

// publishFrame runs one frame through the route's HTTP handler chain and
// returns its ack.
func (s *Server) publishFrame(req *socket.Request, peer net.Conn, host string, creds map[string]string) []byte {
	r := s.table.Route(req.Route)
	if r == nil {
		return socket.ProblemAck(req.ID, problem.New(problem.NotFound, "no route is named "+stream.QuoteParam(req.Route)))
	}
	path, err := socket.FillPath(r.Path, r.Params, req.Params)
	if err != nil {
		return socket.ProblemAck(req.ID, err)
	}
	var fctx fasthttp.RequestCtx
	fctx.Init2(peer, nil, true)
	rq := &fctx.Request
	rq.Header.SetMethod(r.Method)
	rq.SetRequestURI(path)
	rq.Header.SetHost(host)
	for k, v := range req.Headers {
		if socket.ReservedHeader(k) {
			return socket.ProblemAck(req.ID, problem.New(problem.BadRequest, "header "+stream.QuoteParam(k)+" cannot be set in a frame"))
		}
		rq.Header.Set(k, v)
	}
	for k, v := range creds {
		rq.Header.Set(k, v)
	}
	if req.IdempotencyKey != "" {
		rq.Header.Set("Idempotency-Key", req.IdempotencyKey)
	}
	if len(req.Body) > 0 && string(req.Body) != "null" {
		rq.Header.SetContentType(fiber.MIMEApplicationJSON)
		rq.SetBody(req.Body)
	}
	s.handler(&fctx)
	resp := &fctx.Response
	return socket.Ack(req.ID, resp.StatusCode(), string(resp.Header.Peek(fiber.HeaderRetryAfter)), string(resp.Header.Peek(fiber.HeaderLocation)), resp.Body())
}
