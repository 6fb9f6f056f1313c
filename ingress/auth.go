package ingress

// This file is the HTTP side of ingress/identity: what authenticate and
// authorize (chain.go) read from a request, and their 401 and 403 answers
// with RFC 6750 challenges.

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
)

// credential copies what the request presents (identity.Presented) and
// picks its credential: the API key header, or the Authorization header,
// or, with neither, the auth cookie.
func (s *Server) credential(c *fiber.Ctx) (identity.Credential, error) {
	h := &c.Request().Header
	for _, name := range []string{fiber.HeaderAuthorization, s.auth.APIKeyHeader} {
		if len(h.PeekAll(name)) > 1 {
			// Proxies may pick different copies: refuse, never guess.
			return identity.Credential{}, problem.New(problem.AmbiguousCredentials, name+" is given more than once; send one")
		}
	}
	p := identity.Presented{
		Authorization: c.Get(fiber.HeaderAuthorization),
		APIKey:        c.Get(s.auth.APIKeyHeader),
		APIKeyHeader:  s.auth.APIKeyHeader,
	}
	if p.Authorization == "" && p.APIKey == "" {
		p.Cookie = s.cookieToken(c) // read only when it can count
	}
	return p.Credential()
}

// cookieToken returns the bearer token of the auth.cookie cookie on GET
// and HEAD requests, or "" (see identity.Config.Cookie).
func (s *Server) cookieToken(c *fiber.Ctx) string {
	if s.auth.Cookie == "" || (c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead) {
		return ""
	}
	return strings.Clone(identity.CookieToken(c.Cookies(s.auth.Cookie)))
}

// unauthenticated answers 401 with an RFC 6750 challenge: no error code
// for missing credentials, invalid_request for a malformed header, else
// invalid_token.
func (s *Server) unauthenticated(c *fiber.Ctx, ri *reqInfo, scheme string, err error) error {
	s.metrics.AuthFailure(identity.FailureReason(err))
	detail, code := "this endpoint requires credentials", ""
	if !errors.Is(err, identity.ErrNoCredentials) {
		detail, code = identity.Reason(err), "invalid_token"
		if errors.Is(err, identity.ErrMalformedCredentials) {
			code = "invalid_request"
		}
	}
	if s.log.Enabled(c.UserContext(), slog.LevelDebug) {
		s.log.LogAttrs(c.UserContext(), slog.LevelDebug, "authentication failed",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.String("reason", detail), slog.Any("err", err))
	}
	pe := problem.New(problem.Unauthenticated, detail)
	pe.WWWAuthenticate = s.challenge(scheme, code, detail, "")
	return pe
}

// forbidden answers 403 insufficient_scope, naming the scopes required.
func (s *Server) forbidden(c *fiber.Ctx, ri *reqInfo, pr *identity.Principal, scheme string, required, missing []string) error {
	s.metrics.AuthFailure("insufficient_scope")
	if s.log.Enabled(c.UserContext(), slog.LevelDebug) {
		s.log.LogAttrs(c.UserContext(), slog.LevelDebug, "scope check failed",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.String("principal", pr.ID),
			slog.String("missing", strings.Join(missing, " ")))
	}
	pe := problem.New(problem.Forbidden, "the credentials lack the scope(s) "+strings.Join(missing, " ")+" that this endpoint requires")
	pe.WWWAuthenticate = s.challenge(scheme, "insufficient_scope", "", strings.Join(required, " "))
	return pe
}

// challenge builds WWW-Authenticate: one challenge per accepted scheme,
// the error parameters on the scheme the client used (Bearer when none).
func (s *Server) challenge(used, code, desc, scope string) string {
	schemes := make([]string, 0, 2)
	if s.auth.JWT != nil || s.auth.Introspection != nil || !s.auth.Configured() {
		schemes = append(schemes, identity.SchemeBearer)
	}
	if len(s.auth.APIKeys) > 0 {
		schemes = append(schemes, identity.SchemeAPIKey)
	}
	if len(schemes) == 0 {
		// Client certificates only (auth.mtls): HTTP has no challenge for
		// them; Bearer says credentials are needed.
		schemes = append(schemes, identity.SchemeBearer)
	}
	if used == "" {
		used = schemes[0]
	}
	var b strings.Builder
	for i, sc := range schemes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(sc)
		b.WriteString(` realm="ferry"`)
		if sc != used {
			continue
		}
		if code == "" {
			continue // RFC 6750 3.1: no error code without credentials
		}
		b.WriteString(`, error="` + code + `"`)
		if desc != "" {
			b.WriteString(`, error_description="` + desc + `"`)
		}
		if scope != "" {
			b.WriteString(`, scope="` + scope + `"`)
		}
	}
	return b.String()
}

// principal returns the request's authenticated principal, or nil.
func principal(c *fiber.Ctx) *identity.Principal {
	if ri := info(c); ri != nil {
		return ri.principal
	}
	return nil
}
