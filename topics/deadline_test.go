package topics

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeadlinesShared: produces started within one slack window share one
// context, which ends between start+timeout and start+timeout+slack; a
// later start gets a new one, never one that ends too early.
func TestDeadlinesShared(t *testing.T) {
	d := deadlines{timeout: time.Second}
	t0 := time.Now()
	a := d.get(t0)
	if b := d.get(t0.Add(deadlineSlack / 2)); b != a {
		t.Error("two produces half a slack apart got different contexts")
	}
	c := d.get(t0.Add(2 * deadlineSlack))
	if c == a {
		t.Fatal("a produce two slacks later got the earlier context, which would end before its timeout")
	}
	for _, tt := range []struct {
		ctx   context.Context
		start time.Time
	}{{a, t0}, {c, t0.Add(2 * deadlineSlack)}} {
		end, ok := tt.ctx.Deadline()
		if !ok || end.Before(tt.start.Add(time.Second)) || end.After(tt.start.Add(time.Second+deadlineSlack)) {
			t.Errorf("deadline %v for a start at %v, want within [+1s, +1s+%v]", end, tt.start, deadlineSlack)
		}
	}
}

// TestWithDeadline: the request's values stay; Done, Err and Deadline are
// the shared deadline's, and it ends on time with DeadlineExceeded.
func TestWithDeadline(t *testing.T) {
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "principal")
	d := deadlines{timeout: 20 * time.Millisecond}
	ctx := withDeadline{parent, d.get(time.Now())}
	if ctx.Value(key{}) != "principal" {
		t.Error("the request's value is gone")
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the shared deadline did not end the context")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Errorf("Err = %v, Cause = %v; want DeadlineExceeded", ctx.Err(), context.Cause(ctx))
	}
}
