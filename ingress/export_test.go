package ingress

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// WithTestPrincipals stands in for authentication in tests: a request with
// "Authorization: Test NAME" is authenticated as principals[NAME]; any
// other request has no principal.
func WithTestPrincipals(principals map[string]*Principal) Option {
	return func(s *Server) {
		s.authn = func(c *fiber.Ctx) *Principal {
			name, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Test ")
			if !ok {
				return nil
			}
			return principals[name]
		}
	}
}
