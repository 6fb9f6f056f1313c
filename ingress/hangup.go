package ingress

import (
	"github.com/gofiber/fiber/v2"
)

// Handlers whose waits watch for a client hang-up: the label of
// ferry_client_hangups_total.
const (
	hangupReply        = "reply"         // a sync request waiting for its reply
	hangupResult       = "result"        // GET /v1/results with Prefer: wait
	hangupResultStream = "result_stream" // GET /v1/results as SSE
	hangupStream       = "stream"        // an SSE stream
)

// watchHangup calls gone once if c's client closes its connection before
// the returned stop is called (ingress/hangup): fasthttp cancels nothing
// when a client goes, so a request that waits would otherwise hold its
// waiter, subscription or slot until its wait ends. gone must not block.
func (s *Server) watchHangup(c *fiber.Ctx, handler string, gone func()) (stop func()) {
	s.metrics.WaitingClients(1)
	unwatch := s.hangups.Watch(c.Context().Conn(), func() {
		s.metrics.ClientHangup(handler)
		gone()
	})
	return func() {
		unwatch()
		s.metrics.WaitingClients(-1)
	}
}
