package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"sync"
	"time"
)

// logBuffer gathers access log lines into few writes: such a line
// reaches the output within the flush interval, when 64 KiB are waiting,
// with the next other line, or at Flush. Every other line (ready, warnings,
// errors) goes out at once, with whatever waited before it. One write(2)
// per access line cost a publish several percent of its throughput
// (docs/performance.md). A SIGKILL loses at most the last interval's
// access lines.
type logBuffer struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newLogBuffer(w io.Writer) *logBuffer {
	return &logBuffer{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write buffers p, one log line; a line that is not an access line is
// written at once.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err == nil && !bytes.Contains(p, accessJSON) && !bytes.Contains(p, accessText) {
		err = b.w.Flush()
	}
	return n, err
}

// The access lines' mark (ingress: log=access), in the JSON and text forms.
var (
	accessJSON = []byte(`"log":"access"`)
	accessText = []byte(` log=access`)
)

// Flush writes what is waiting.
func (b *logBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// run flushes every interval until ctx ends, then once more.
func (b *logBuffer) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = b.Flush()
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}
