package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestLogBuffer: access lines wait in memory and reach the output within
// the flush interval; any other line goes out at once, after them.
func TestLogBuffer(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	b := newLogBuffer(&out)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.run(ctx, 20*time.Millisecond) }()
	if _, err := b.Write([]byte(`{"log":"access","n":"one"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, func() error {
		if !strings.Contains(out.String(), `"n":"one"`) {
			return errString("the line is not out yet")
		}
		return nil
	})
	_, _ = b.Write([]byte(`{"log":"access","n":"two"}` + "\n"))
	if strings.Contains(out.String(), `"n":"two"`) {
		t.Errorf("an access line went out at once: %q", out.String())
	}
	_, _ = b.Write([]byte(`{"msg":"ferry ready"}` + "\n"))
	if got := out.String(); !strings.HasSuffix(got, `"n":"two"}`+"\n"+`{"msg":"ferry ready"}`+"\n") {
		t.Errorf("another line, with what waited before it, is not out at once: %q", got)
	}
	cancel()
	<-done
}

type errString string

func (e errString) Error() string { return string(e) }
