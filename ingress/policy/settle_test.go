package policy

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// flakyWriter fails its first fails calls, then records the calls.
type flakyWriter struct {
	mu        sync.Mutex
	fails     int
	releases  []string
	completes []string
}

func (f *flakyWriter) call(list *[]string, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("redis: i/o timeout")
	}
	*list = append(*list, key)
	return nil
}

func (f *flakyWriter) Complete(_ context.Context, key string, _ IdempotencyClaim, _ StoredResponse, _ time.Duration) error {
	return f.call(&f.completes, key)
}

func (f *flakyWriter) Release(_ context.Context, key string, _ IdempotencyClaim) error {
	return f.call(&f.releases, key)
}

// TestSettler: what the store could not be told is told once it answers
// (retried with a backoff), an abandoned Begin is released twice, a
// second apart, and nothing is tried past the claim's lock_ttl.
func TestSettler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		w := &flakyWriter{fails: 3}
		s := NewSettler(ctx, w, slog.New(slog.DiscardHandler))
		claim := IdempotencyClaim{Owner: "o", LockTTL: 30 * time.Second}
		s.Complete("done", claim, StoredResponse{Status: 202}, time.Hour)
		s.Abandon("begun", claim)
		time.Sleep(10 * time.Second) // fake time: every retry has run
		synctest.Wait()
		w.mu.Lock()
		if len(w.completes) != 1 || len(w.releases) != 2 {
			t.Errorf("completes %v, releases %v; want done once and begun twice", w.completes, w.releases)
		}
		w.mu.Unlock()
		if n := s.Len(); n != 0 {
			t.Errorf("Len() = %d after settling, want 0", n)
		}

		w.mu.Lock()
		w.fails = 1 << 30 // Redis never answers again
		w.mu.Unlock()
		s.Release("never", IdempotencyClaim{Owner: "o", LockTTL: 5 * time.Second})
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if n := s.Len(); n != 0 {
			t.Errorf("Len() = %d past the lock_ttl, want 0: the lock expired by itself", n)
		}
	})
}

// TestSettlerDrain: at shutdown the Settler's goroutine has ended with the
// server's lifetime; Drain tells the store what is pending, retrying
// while it fails, releases an abandoned Begin a second time a second
// later, and gives up when its context ends, saying how many are left.
func TestSettlerDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		w := &flakyWriter{fails: 1 << 30} // Redis stalls
		s := NewSettler(ctx, w, slog.New(slog.DiscardHandler))
		claim := IdempotencyClaim{Owner: "o", LockTTL: time.Minute}
		s.Release("released", claim)
		s.Abandon("begun", claim)
		s.Complete("done", claim, StoredResponse{Status: 202}, time.Hour)
		synctest.Wait()
		cancel() // shutdown: the goroutine ends; 3 claims wait
		synctest.Wait()
		if n := s.Len(); n != 3 {
			t.Fatalf("Len() = %d before Drain, want 3", n)
		}
		w.mu.Lock()
		w.fails = 2 // Redis comes back during the grace period
		w.mu.Unlock()
		grace, stop := context.WithTimeout(t.Context(), 10*time.Second)
		defer stop()
		if left := s.Drain(grace); left != 0 {
			t.Errorf("Drain left %d claims, want 0", left)
		}
		w.mu.Lock()
		if len(w.completes) != 1 || len(w.releases) != 3 {
			t.Errorf("completes %v, releases %v; want done once, released once and begun twice", w.completes, w.releases)
		}
		w.fails = 1 << 30
		w.mu.Unlock()

		s.Release("never", claim)
		short, stop2 := context.WithTimeout(t.Context(), 2*time.Second)
		defer stop2()
		if left := s.Drain(short); left != 1 {
			t.Errorf("Drain with Redis down left %d claims, want 1", left)
		}
	})
}
