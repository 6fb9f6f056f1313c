package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
)

// TestBreaker checks the states a breaker goes through: failures within
// the window open it, an open breaker refuses with ErrBreakerOpen, no
// verdicts do not count, Close closes it at once, and a disabled (nil)
// breaker lets everything through.
func TestBreaker(t *testing.T) {
	t.Parallel()
	var changes []string
	b := policy.NewBreaker("kafka", topics.BreakerConfig{Failures: 2, Window: time.Minute, OpenFor: time.Hour}, false,
		func(target string, from, to policy.BreakerState) { changes = append(changes, target+":"+to.String()) })
	send := func(o policy.Outcome) error {
		done, err := b.Allow()
		if err == nil {
			done(o)
		}
		return err
	}
	for _, o := range []policy.Outcome{policy.Failure, policy.NoVerdict, policy.NoVerdict, policy.Success} {
		if err := send(o); err != nil {
			t.Fatalf("closed breaker refused: %v", err)
		}
	}
	if b.State() != policy.BreakerClosed {
		t.Fatalf("one failure of two: state %s, want closed", b.State())
	}
	if err := send(policy.Failure); err != nil {
		t.Fatal(err)
	}
	if b.State() != policy.BreakerOpen {
		t.Fatalf("two failures in the window: state %s, want open", b.State())
	}
	if err := send(policy.Success); !errors.Is(err, policy.ErrBreakerOpen) {
		t.Fatalf("open breaker: Allow = %v, want ErrBreakerOpen", err)
	}
	if ra := b.RetryAfter(); ra < 59*time.Minute {
		t.Errorf("RetryAfter = %s, want about open_for (1h)", ra)
	}
	b.Close()
	if b.State() != policy.BreakerClosed || send(policy.Success) != nil {
		t.Fatalf("after Close: state %s", b.State())
	}
	if want := "kafka:open kafka:closed"; joinSpace(changes) != want {
		t.Errorf("state changes %q, want %q", joinSpace(changes), want)
	}

	off := policy.NewBreaker("x", topics.BreakerConfig{Disabled: true}, false, nil)
	if off != nil {
		t.Fatal("a disabled breaker is not nil")
	}
	if done, err := off.Allow(); err != nil || off.State() != policy.BreakerClosed {
		t.Fatalf("nil breaker: %v %s", err, off.State())
	} else {
		done(policy.Failure)
	}
}

func joinSpace(s []string) string { return strings.Join(s, " ") }
