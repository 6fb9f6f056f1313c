package ingress

import (
	"sync"
	"sync/atomic"
	"time"
)

// generations are the Servers that have answered on one listener: the
// one Serve was called on, and those that replaced it (Swap), Caddy's
// build-new-then-retire. Requests already in a retired generation finish
// there; every new request goes to the active one.
type generations struct {
	active  atomic.Pointer[Server]
	mu      sync.Mutex
	retired []*Server
}

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
// now on, with s's readiness. Requests in flight finish on the Server
// they started on, and streams opened there stay open until Shutdown.
// next must not be served by itself; s's Shutdown shuts every generation
// down.
func (s *Server) Swap(next *Server) {
	next.ready.Store(s.ready.Load())
	s.gens.mu.Lock()
	defer s.gens.mu.Unlock()
	prev := s.gens.active.Swap(next)
	if prev != nil && prev != s {
		s.gens.retired = append(s.gens.retired, prev)
	}
}

// Active returns the Server answering s's requests: s, or the last one
// swapped in.
func (s *Server) Active() *Server {
	if a := s.gens.active.Load(); a != nil {
		return a
	}
	return s
}

// generations returns s and every Server that has answered on its
// listener since.
func (s *Server) generations() []*Server {
	s.gens.mu.Lock()
	defer s.gens.mu.Unlock()
	out := append([]*Server{s}, s.gens.retired...)
	if a := s.gens.active.Load(); a != nil && a != s {
		out = append(out, a)
	}
	return out
}
