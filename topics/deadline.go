package topics

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineSlack is how much later than its timeout a produce may end:
// the records of one slack window share one deadline.
const deadlineSlack = 10 * time.Millisecond

// deadlines hands out contexts that end timeout (plus at most
// deadlineSlack) after now, shared by every produce started within one
// slack window: one runtime timer per window instead of a
// context.WithTimeout, its timer and its cancel per record.
type deadlines struct {
	timeout time.Duration
	cur     atomic.Pointer[sharedDeadline]
	mu      sync.Mutex // serializes making the next one
}

type sharedDeadline struct {
	end time.Time
	ctx context.Context
	// cancel is never called: the context's own timer ends it at end,
	// and records are still using it until then.
	cancel context.CancelFunc
}

// get returns a context that ends between now+timeout and
// now+timeout+deadlineSlack.
func (d *deadlines) get(now time.Time) context.Context {
	want := now.Add(d.timeout)
	if sd := d.cur.Load(); sd != nil && !sd.end.Before(want) && sd.end.Sub(want) <= deadlineSlack {
		return sd.ctx
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if sd := d.cur.Load(); sd != nil && !sd.end.Before(want) && sd.end.Sub(want) <= deadlineSlack {
		return sd.ctx
	}
	end := want.Add(deadlineSlack)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	d.cur.Store(&sharedDeadline{end: end, ctx: ctx, cancel: cancel})
	return ctx
}

// withDeadline is a request's context (its values) ending when the shared
// deadline d ends. It is only for a parent that never ends by itself
// (Done is nil): then d alone decides when it is done.
type withDeadline struct {
	context.Context // the parent: values
	d               context.Context
}

func (c withDeadline) Deadline() (time.Time, bool) { return c.d.Deadline() }
func (c withDeadline) Done() <-chan struct{}       { return c.d.Done() }
func (c withDeadline) Err() error                  { return c.d.Err() }
