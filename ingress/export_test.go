package ingress

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/identity"
)

// FakeReplyDeps returns a Correlator and Results (serving results) that
// need no Kafka or Redis, for external tests of servers with
// request/response routes.
func FakeReplyDeps(results map[string]*correlator.Result) (Correlator, Results) {
	return newFakeCorrelator(), &fakeResults{results: results}
}

// WithTestPrincipals stands in for credentials in tests: a request with
// "Authorization: Test NAME" or "Authorization: Bearer NAME" is
// authenticated as principals[NAME] when NAME is there; any other request
// goes through authentication as usual.
func WithTestPrincipals(principals map[string]*identity.Principal) Option {
	return func(s *Server) {
		s.principalOf = func(c *fiber.Ctx) *identity.Principal {
			h := c.Get(fiber.HeaderAuthorization)
			if name, ok := strings.CutPrefix(h, "Test "); ok {
				return principals[name]
			}
			if name, ok := strings.CutPrefix(h, "Bearer "); ok {
				return principals[name]
			}
			return nil
		}
	}
}

// WithReplayHeartbeat sets how often an SSE replay sends a comment while it
// waits, overriding the default of 15s.
func WithReplayHeartbeat(d time.Duration) Option {
	return func(s *Server) { s.replayHeartbeat = d }
}
