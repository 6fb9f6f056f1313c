package ingress

import (
	"github.com/ferry-gw/ferry/topics"
)

// access is what an endpoint (route, stream or replay) requires of its
// callers. Every endpoint is protected unless its config says auth: none.
type access struct {
	// name is the endpoint's name, for logs and rate-limit keys.
	name string
	// auth is true unless the endpoint is auth: none.
	auth bool
	// optional lets a request without credentials through as anonymous;
	// credentials that are sent must still be valid.
	optional bool
	// scopes are required, all of them.
	scopes []string
	// limit is the endpoint's rate limit, or nil.
	limit *topics.RateLimitConfig
}

// routeAccess is the access of a configured route.
func routeAccess(r topics.Route) access {
	return access{name: r.Name, auth: r.Auth != topics.AuthNone, scopes: r.Scopes, limit: r.RateLimit}
}

// streamAccess is the access of a stream (/v1/streams/{name}).
func streamAccess(sc topics.StreamConfig) access {
	return access{name: "stream:" + sc.Name, auth: sc.Auth != topics.AuthNone, scopes: sc.Scopes}
}

// resultsAccess is the access of GET /v1/results/{id}: credentials are
// optional, because results of auth: none routes belong to the anonymous
// principal; who may read a result is decided by its owner (results.go).
func resultsAccess() access {
	return access{name: "results", auth: true, optional: true}
}

// replayAccess is the access of the replay API (/v1/replay, /v1/topics):
// it always needs credentials holding every scope of Deps.ReplayScopes
// (by default consumers.DefaultReplayScope).
func (s *Server) replayAccess() access {
	return access{name: "replay", auth: true, scopes: s.deps.ReplayScopes}
}
