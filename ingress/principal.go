package ingress

import (
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Principal is who sent a request, as established by authentication.
type Principal struct {
	// ID is the JWT subject or the API key id.
	ID string
	// Kind is PrincipalJWT, PrincipalAPIKey or PrincipalAnonymous; it
	// becomes the record's ce_authtype.
	Kind string
	// Scopes granted to the principal.
	Scopes []string
	// Claims holds selected claims as strings, for key templates.
	Claims map[string]string
	// Expires is when the credential stops being valid; zero for never.
	Expires time.Time
}

// Principal kinds, written to ce_authtype (CloudEvents authcontext).
const (
	PrincipalJWT       = "app_user"
	PrincipalAPIKey    = "service_account"
	PrincipalAnonymous = "unauthenticated"
)

// HasScopes reports whether p holds every scope of required.
func (p *Principal) HasScopes(required []string) bool {
	for _, s := range required {
		if !slices.Contains(p.Scopes, s) {
			return false
		}
	}
	return true
}

// Claim returns a claim for key templates.
func (p *Principal) Claim(name string) (string, bool) {
	if p == nil {
		return "", false
	}
	v, ok := p.Claims[name]
	return v, ok
}

// principal returns the request's authenticated principal, or nil.
func principal(c *fiber.Ctx) *Principal {
	if ri := info(c); ri != nil {
		return ri.principal
	}
	return nil
}
