package policy

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// IdempotencyWriter is what a Settler tells the idempotency store: the
// Complete and Release of ingress's IdempotencyStore.
type IdempotencyWriter interface {
	Complete(ctx context.Context, key string, claim IdempotencyClaim, resp StoredResponse, ttl time.Duration) error
	Release(ctx context.Context, key string, claim IdempotencyClaim) error
}

// Settler retries, in the background, what the idempotency store could
// not be told while the request was answered, so that a Redis stall does
// not leave a key locked: a Begin that timed out (the request was
// answered 503) may still run once Redis resumes and take the lock; a
// Release or Complete that failed leaves the request's lock in place.
// Either way every retry with that Idempotency-Key would be answered 409
// until the lock expires (auth.idempotency.lock_ttl). The Settler
// releases the claim (or stores the response) as soon as Redis answers,
// retrying with a backoff of up to a second until the lock would have
// expired anyway. The store's scripts act only on the claim's own lock,
// so a release that comes late never takes another request's lock.
type Settler struct {
	store IdempotencyWriter
	log   *slog.Logger

	mu      sync.Mutex
	pending []*settle
	wake    chan struct{}

	awaiting sync.WaitGroup // Await's goroutines
}

// settle is one claim to settle.
type settle struct {
	key     string
	claim   IdempotencyClaim
	resp    *StoredResponse // nil: release
	ttl     time.Duration
	until   time.Time // past it the lock has expired by itself
	next    time.Time
	backoff time.Duration
	// again releases once more a second after the first success: a
	// Begin that timed out may still be queued in Redis behind it.
	again bool
	// second is set once the first of those two releases succeeded.
	second bool
}

// maxSettling bounds the claims a Settler keeps: past it a claim is left
// to its lock_ttl (and logged), so that a long outage costs bounded memory.
const maxSettling = 10000

// NewSettler returns a Settler writing to store, whose goroutine runs
// until ctx ends.
func NewSettler(ctx context.Context, store IdempotencyWriter, log *slog.Logger) *Settler {
	s := &Settler{store: store, log: log, wake: make(chan struct{}, 1)}
	go s.run(ctx)
	return s
}

// Release releases claim's lock on key once Redis answers.
func (s *Settler) Release(key string, claim IdempotencyClaim) {
	s.add(&settle{key: key, claim: claim})
}

// Abandon undoes a Begin that failed: it releases claim's lock on key
// once Redis answers, and once more a second later, as the Begin, sent
// first, may run after the first release.
func (s *Settler) Abandon(key string, claim IdempotencyClaim) {
	s.add(&settle{key: key, claim: claim, again: true})
}

// Complete stores resp under key for ttl once Redis answers.
func (s *Settler) Complete(key string, claim IdempotencyClaim, resp StoredResponse, ttl time.Duration) {
	resp.Body = append([]byte(nil), resp.Body...) // the caller's buffer is reused
	s.add(&settle{key: key, claim: claim, resp: &resp, ttl: ttl})
}

// Await settles claim's lock on key once outcome tells what became of a
// request whose answer could not say (a record the broker acknowledged
// only after the request was answered "timed out"): outcome returns the
// response to store (the record's 202) and true, or false when the
// request did nothing (nothing was stored): then the lock is released.
// outcome gets a context that ends at the claim's lock_ttl: when it
// returns false with that context ended, the outcome is still unknown
// and the lock is left to expire, so that no retry writes the record
// again meanwhile. Drain waits for the outcomes still awaited.
func (s *Settler) Await(key string, claim IdempotencyClaim, ttl time.Duration, outcome func(context.Context) (StoredResponse, bool)) {
	s.awaiting.Go(func() {
		// Bounded by the lock, not by the server's life: the producer
		// learns the outcome while ferry shuts down (it flushes).
		ctx, cancel := context.WithTimeout(context.Background(), claim.LockTTL)
		defer cancel()
		resp, ok := outcome(ctx)
		switch {
		case ok:
			s.Complete(key, claim, resp, ttl)
		case ctx.Err() == nil:
			s.Release(key, claim)
		default:
			s.log.Warn("the outcome of a record that timed out is still unknown at its Idempotency-Key's lock_ttl; the key is left to expire", "lock_ttl", claim.LockTTL)
		}
	})
}

// Len returns the number of claims waiting to be settled.
func (s *Settler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *Settler) add(st *settle) {
	now := time.Now()
	st.until, st.next, st.backoff = now.Add(st.claim.LockTTL), now, 100*time.Millisecond
	s.mu.Lock()
	full := len(s.pending) >= maxSettling
	if !full {
		s.pending = append(s.pending, st)
	}
	s.mu.Unlock()
	if full {
		s.log.Warn("too many idempotency keys to settle; this one stays locked until its lock_ttl", "lock_ttl", st.claim.LockTTL)
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run settles claims as they come and retries those Redis did not take.
func (s *Settler) run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
		s.mu.Lock()
		due := s.pending[:0:0]
		var keep []*settle
		now := time.Now()
		for _, st := range s.pending {
			switch {
			case !now.Before(st.until): // expired by itself
			case !now.Before(st.next):
				due = append(due, st)
			default:
				keep = append(keep, st)
			}
		}
		s.pending = keep
		s.mu.Unlock()
		for _, st := range due {
			err := s.try(ctx, st)
			switch {
			case err != nil:
				st.next, st.backoff = time.Now().Add(st.backoff), min(2*st.backoff, time.Second)
			case st.again:
				st.next, st.again, st.second = time.Now().Add(time.Second), false, true
			default:
				continue // settled
			}
			s.mu.Lock()
			s.pending = append(s.pending, st)
			s.mu.Unlock()
		}
		s.mu.Lock()
		var next time.Time
		for _, st := range s.pending {
			if next.IsZero() || st.next.Before(next) {
				next = st.next
			}
		}
		s.mu.Unlock()
		if next.IsZero() {
			t.Reset(time.Hour)
		} else {
			t.Reset(max(time.Until(next), time.Millisecond))
		}
	}
}

// Drain waits for the outcomes Await awaits, then settles what is
// pending, at once and then with a backoff, until
// nothing is left or ctx ends; it returns how many claims it left (to
// their lock_ttl). Shutdown calls it within the grace period, once no
// request can add more: the goroutine of run ends with the server's
// lifetime, and a claim it had not settled would stay locked until its
// lock_ttl for the clients retrying on another instance. An abandoned
// Begin is released twice here too, a second apart, while ctx allows.
func (s *Settler) Drain(ctx context.Context) int {
	awaited := make(chan struct{})
	go func() {
		defer close(awaited)
		s.awaiting.Wait()
	}()
	select {
	case <-awaited:
	case <-ctx.Done():
	}
	backoff := 50 * time.Millisecond
	for {
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		var left []*settle
		wait := backoff
		now := time.Now()
		for _, st := range batch {
			switch {
			case !now.Before(st.until): // expired by itself
			case st.second && st.next.After(now): // the second release is due later
				left = append(left, st)
				wait = min(wait, st.next.Sub(now))
			case s.try(ctx, st) != nil:
				left = append(left, st)
			case st.again:
				st.next, st.again, st.second = now.Add(time.Second), false, true
				left = append(left, st)
				wait = min(wait, time.Second)
			}
		}
		if len(left) == 0 {
			return 0
		}
		s.mu.Lock()
		s.pending = append(s.pending, left...)
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			n := s.Len()
			s.log.Warn("shutdown: idempotency keys left to their lock_ttl (redis did not answer)", "keys", n)
			return n
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// try tells the store once.
func (s *Settler) try(ctx context.Context, st *settle) error {
	if st.resp != nil {
		return s.store.Complete(ctx, st.key, st.claim, *st.resp, st.ttl)
	}
	return s.store.Release(ctx, st.key, st.claim)
}
