package identity

import (
	"context"
	"slices"
	"time"
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
func (p *Principal) HasScopes(required []string) bool { return p.Missing(required) == nil }

// Claim returns a claim for key templates.
func (p *Principal) Claim(name string) (string, bool) {
	if p == nil {
		return "", false
	}
	v, ok := p.Claims[name]
	return v, ok
}

// Anonymous is the principal of requests to auth: none endpoints, and of
// requests without credentials where credentials are optional. It holds
// no scopes.
var Anonymous = &Principal{Kind: PrincipalAnonymous}

// Missing returns the scopes of required that p lacks, or nil when p holds
// them all. A nil principal holds nothing.
func (p *Principal) Missing(required []string) []string {
	var missing []string
	for _, s := range required {
		if p == nil || !slices.Contains(p.Scopes, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal a request was authenticated as, from
// the request's context (the HTTP layer's request context and every
// context derived from it), or nil for unauthenticated requests.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
