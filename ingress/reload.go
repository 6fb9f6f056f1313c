package ingress

import (
	"time"

	"github.com/ferry-gw/ferry/ingress/policy"
)

// ConfigInfo names the config a Server was built from, for /readyz.
type ConfigInfo struct {
	// Hash is the SHA-256 of the config file, in hex.
	Hash string `json:"hash"`
	// LoadedAt is when it was loaded.
	LoadedAt time.Time `json:"loaded_at"`
}

// WithConfigInfo makes /readyz show the config the Server was built from.
func WithConfigInfo(ci ConfigInfo) Option {
	return func(s *Server) { s.config = &ci }
}

// Swap makes next answer every request that arrives on s's listener from
// now on, with s's readiness (Caddy's build-new-then-retire). Requests in
// flight finish on the Server they started on, which is garbage once they
// have. next shares s's lifetime of long-lived responses and its count
// of WebSockets, so s's Shutdown ends the streams and waits for the
// sockets of every generation. next must not be served by itself.
func (s *Server) Swap(next *Server) {
	next.stopStreams() // its own lifetime is never used
	next.streams, next.stopStreams, next.sockets, next.hangups = s.streams, s.stopStreams, s.sockets, s.hangups
	// One Settler for every generation: next's own ended with its
	// lifetime above.
	if s.settler == nil && next.deps.Idempotency != nil {
		s.settler = policy.NewSettler(s.streams, next.deps.Idempotency, s.log)
	}
	next.settler = s.settler
	next.ready.Store(s.ready.Load())
	s.active.Store(next)
}
