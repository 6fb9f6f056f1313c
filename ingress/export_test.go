package ingress

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// WithTestPrincipals authenticates "Authorization: Bearer NAME" as
// principals[NAME], standing in for the auth middleware in tests. It exists
// only in test builds: production has no such hook, so the replay API stays
// deny-by-default until real authentication attaches a principal.
func WithTestPrincipals(principals map[string]*Principal) Option {
	return func(s *Server) {
		s.testAuth = func(c *fiber.Ctx) error {
			if name, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer "); ok {
				if p, ok := principals[name]; ok {
					info(c).principal = p
				}
			}
			return c.Next()
		}
	}
}

// WithReplayHeartbeat sets how often an SSE replay sends a comment while it
// waits, overriding the default of 15s.
func WithReplayHeartbeat(d time.Duration) Option {
	return func(s *Server) { s.replayHeartbeat = d }
}
