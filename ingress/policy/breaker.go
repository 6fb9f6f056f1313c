package policy

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ferry-gw/ferry/topics"
)

// breakerProbes is how many requests a half-open breaker lets through at
// a time; gobreaker closes it after this many successes in a row, so one
// successful probe closes it, and a failed one opens it again.
const breakerProbes = 1

// ErrBreakerOpen is returned by Breaker.Allow while the breaker is open
// (or half-open with its probes taken): the target is known to be down.
var ErrBreakerOpen = errors.New("circuit breaker open")

// BreakerState is a breaker's state, as the ferry_circuit_state gauge
// shows it.
type BreakerState int

// Breaker states.
const (
	BreakerClosed   BreakerState = 0 // requests pass
	BreakerHalfOpen BreakerState = 1 // a few probes pass
	BreakerOpen     BreakerState = 2 // requests are refused at once
)

func (s BreakerState) String() string {
	switch s {
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return "closed"
}

// Outcome is what a request let through by a breaker says about its target.
type Outcome int

// Outcomes.
const (
	// NoVerdict says nothing about the target: the client went away, or
	// did not wait.
	NoVerdict Outcome = iota
	// Success shows the target is up.
	Success
	// Failure shows the target is down.
	Failure
)

var (
	errFailure   = errors.New("target failed")
	errNoVerdict = errors.New("no verdict")
)

// Breaker is a circuit breaker in front of one target (the Kafka cluster,
// or a sync route's responders), built on sony/gobreaker: closed, it lets
// requests through and counts failures; once Failures are reached it
// opens and refuses requests at once for OpenFor; then it lets a few
// probes through (half-open), and closes on their success. Close closes it
// at once, for evidence that comes from elsewhere (a reply arriving).
// A nil *Breaker lets everything through.
type Breaker struct {
	target    string
	cfg       topics.BreakerConfig
	consec    bool // trip on failures in a row, not within the window
	onChange  func(target string, from, to BreakerState)
	mu        sync.Mutex // serialises Close
	cb        atomic.Pointer[gobreaker.TwoStepCircuitBreaker[struct{}]]
	openUntil atomic.Int64 // unix nanos the open state ends, for Retry-After
}

// NewBreaker returns the breaker of target ("kafka", or "route:NAME"),
// or nil when cfg disables it. consecutive trips it on Failures in a row
// rather than within the window. onChange, when not nil, runs at each
// state change (inside the breaker's lock: it must not call the breaker).
func NewBreaker(target string, cfg topics.BreakerConfig, consecutive bool, onChange func(target string, from, to BreakerState)) *Breaker {
	if cfg.Disabled {
		return nil
	}
	b := &Breaker{target: target, cfg: cfg.WithDefaults(), consec: consecutive, onChange: onChange}
	b.cb.Store(b.newCB())
	return b
}

func (b *Breaker) newCB() *gobreaker.TwoStepCircuitBreaker[struct{}] {
	failures := uint32(b.cfg.Failures)
	st := gobreaker.Settings{
		Name:        b.target,
		MaxRequests: breakerProbes,
		Interval:    b.cfg.Window,
		Timeout:     b.cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.TotalFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errNoVerdict) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openUntil.Store(time.Now().Add(b.cfg.OpenFor).UnixNano())
			}
			if b.onChange != nil {
				b.onChange(b.target, state(from), state(to))
			}
		},
	}
	if b.consec {
		st.ReadyToTrip = func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures }
	} else {
		// A rolling window of ten buckets, not a window that restarts.
		st.BucketPeriod = b.cfg.Window / 10
	}
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
}

func state(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
}

// Target returns the breaker's target.
func (b *Breaker) Target() string { return b.target }

// Allow asks to send one request to the target. It returns done, which
// must be called once with the request's Outcome, or an error wrapping
// ErrBreakerOpen when the request must not be sent.
func (b *Breaker) Allow() (done func(Outcome), err error) {
	if b == nil {
		return func(Outcome) {}, nil
	}
	finish, err := b.cb.Load().Allow()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.target, ErrBreakerOpen)
	}
	return func(o Outcome) {
		switch o {
		case Success:
			finish(nil)
		case Failure:
			finish(errFailure)
		default:
			finish(errNoVerdict)
		}
	}, nil
}

// State returns the breaker's state; a nil breaker is always closed.
func (b *Breaker) State() BreakerState {
	if b == nil {
		return BreakerClosed
	}
	return state(b.cb.Load().State())
}

// RetryAfter is how long a refused client should wait: until the open
// state ends, at least one second.
func (b *Breaker) RetryAfter() time.Duration {
	d := time.Until(time.Unix(0, b.openUntil.Load()))
	return max(d, time.Second).Round(time.Second)
}

// Close closes an open or half-open breaker at once, with its counts
// cleared: the target has shown it is up by other means.
func (b *Breaker) Close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.cb.Load()
	from := state(old.State())
	if from == BreakerClosed {
		return
	}
	b.cb.Store(b.newCB())
	if b.onChange != nil {
		b.onChange(b.target, from, BreakerClosed)
	}
}
