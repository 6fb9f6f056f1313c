package ingress

import (
	"context"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Principal is who sent a request, as established by authentication. A
// Principal may be shared by many requests (the token cache hands out the
// same one): treat it as read-only.
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

// anonymous is the principal of requests to auth: none endpoints.
var anonymous = &Principal{Kind: PrincipalAnonymous}

type principalKey struct{}

// withPrincipal returns ctx carrying p.
func withPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal a request was authenticated as, from
// the request's context (c.UserContext() and every context derived from
// it), or nil for unauthenticated requests.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
