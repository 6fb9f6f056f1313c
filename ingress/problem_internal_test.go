package ingress

import (
	"fmt"
	"testing"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/problem"
)

// TestStreamRemovedIsNotFound: a subscription that a reload's removal of
// its stream overtakes (consumers.ErrStreamRemoved) is answered as a
// stream that is not there, 404, not as a server fault.
func TestStreamRemovedIsNotFound(t *testing.T) {
	err := fmt.Errorf("subscribe %q: %w", "audit", consumers.ErrStreamRemoved)
	if p := toProblem(err); p.Type != problem.StreamNotFound {
		t.Errorf("toProblem(%v) = %s, want %s", err, p.Type.URI, problem.StreamNotFound.URI)
	}
}
