// Package consoletest starts the headless Chromium that ferry's browser
// tests drive (the stream test of ingress and the console tests of
// cmd/ferry) through chromedp.
//
// It imports only chromedp and the standard library; never a ferry
// package, Fiber or Kafka: the tests bring their own server.
package consoletest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium finds a Chromium or Chrome binary: $FERRY_CHROMIUM, else the
// usual names on PATH (Debian's package is "chromium", installed by
// .ci/run). It returns "" when there is none.
func Chromium() string {
	if p := os.Getenv("FERRY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser starts a headless Chromium for one test, with a 1280x800
// window and a fresh profile, and returns the context of its tab; the
// test's cleanup stops it. A test without a Chromium binary is skipped,
// saying how to install one. The browser has not started yet: the first
// chromedp call on the context starts it, and must not have a timeout
// (the browser lives as long as that call's context).
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	bin := Chromium()
	if bin == "" {
		tb.Skip("no chromium binary found (install Debian's chromium package, as .ci/run does, or set FERRY_CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(tb.TempDir()),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	tb.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(cancel)
	return ctx
}
