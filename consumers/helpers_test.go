package consumers

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkFor calls f every interval until it returns nil or timeout passes.
func checkFor(tb testing.TB, timeout, interval time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// checkGoroutines fails the test if, once every later cleanup has run,
// more goroutines are left than when it was called (tailscale's
// ResourceCheck). Call it first, and not from parallel tests.
func checkGoroutines(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		checkFor(tb, 5*time.Second, 10*time.Millisecond, func() error {
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<20)
				stacks := string(buf[:runtime.Stack(buf, true)])
				return fmt.Errorf("%d goroutines left, %d before:\n%s", n, before, trimStacks(stacks))
			}
			return nil
		})
	})
}

func trimStacks(s string) string {
	if len(s) > 8000 {
		return s[:8000] + "\n..."
	}
	return strings.TrimSpace(s)
}
