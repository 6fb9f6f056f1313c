package ingress

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// FakeReplyDeps returns a Correlator and Results that need no Kafka or
// Redis, for external tests of servers with request/response routes.
func FakeReplyDeps() (Correlator, Results) {
	return newFakeCorrelator(), &fakeResults{}
}

// WithTestPrincipals stands in for credentials in tests: a request with
// "Authorization: Test NAME" is authenticated as principals[NAME]; any
// other request goes through authentication as usual.
func WithTestPrincipals(principals map[string]*Principal) Option {
	return func(s *Server) {
		s.principalOf = func(c *fiber.Ctx) *Principal {
			name, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Test ")
			if !ok {
				return nil
			}
			return principals[name]
		}
	}
}
