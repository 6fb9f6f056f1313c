package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// defaultReadyURL is what ferry healthcheck asks without a URL: the
// gateway of the same container on its default port.
const defaultReadyURL = "http://127.0.0.1:8080/readyz"

// healthcheckCmd is `ferry healthcheck [URL]`: GET /readyz and exit 0 on a
// 200, 1 otherwise. Container images without curl (the distroless one of
// the Dockerfile) use it as their HEALTHCHECK.
func healthcheckCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this `long`")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: ferry healthcheck [--timeout D] [URL]\n\nExits 0 when URL (default "+defaultReadyURL+") answers 200, else 1.\n\nFlags:\n")
		printFlags(stderr, fs, nil)
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || *timeout <= 0 {
		fs.Usage()
		return errUsage
	}
	url := defaultReadyURL
	if len(pos) == 1 {
		url = pos[0]
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}
