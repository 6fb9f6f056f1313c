package ingress

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// authorize checks that the request's principal holds every scope of
// required. It denies by default: without a principal (no authentication
// ran, or it found no credentials) the answer is 401, and a principal
// lacking a scope gets 403.
func authorize(c *fiber.Ctx, required []string) error {
	p := principal(c)
	if p == nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ferry"`)
		return problem(ProblemUnauthenticated, "this endpoint requires credentials")
	}
	if !p.HasScopes(required) {
		return problem(ProblemForbidden, "this endpoint requires the scopes: "+strings.Join(required, " "))
	}
	return nil
}
