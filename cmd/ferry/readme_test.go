package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestReadmeTryIt runs the shell lines of the README's "Try it" section,
// as printed, against bin/ferry on a free port (the only change: the
// address) and expects each curl to get a 202; a repeat of the
// Idempotency-Key line gets the stored answer.
func TestReadmeTryIt(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The lines from "## Try it" up to reading the topic back with kcat.
	section, _, _ := strings.Cut(strings.SplitN(string(readme), "## Try it", 2)[1], "Read it back")
	var lines []string
	for _, block := range strings.Split(section, "```sh\n")[1:] {
		code, _, _ := strings.Cut(block, "```")
		lines = append(lines, strings.Split(strings.TrimSpace(code), "\n")...)
	}
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "TOKEN=$(./bin/ferry token") {
		t.Fatalf("README's Try it has unexpected lines: %q", lines)
	}
	p := startFerry(t, t.TempDir())
	bin := ferryBinary(t)
	script := strings.Join(lines, "\n") + "\n"
	for _, l := range lines {
		if strings.Contains(l, "Idempotency-Key") {
			script += l + "\n" // the Idempotency-Key line twice
		}
	}
	script = strings.ReplaceAll(script, "localhost:8080", p.http)
	script = strings.ReplaceAll(script, "./bin/ferry", bin)
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = "../.."
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("README lines failed: %v\n%s\n%s", err, out, stderr.String())
	}
	if n, want := strings.Count(string(out), "HTTP/1.1 202 Accepted"), strings.Count(script, "curl "); n != want {
		t.Errorf("%d of %d curls got a 202:\n%s", n, want, out)
	}
	if !strings.Contains(string(out), "Idempotent-Replayed: true") {
		t.Errorf("the repeated Idempotency-Key line was not replayed:\n%s", out)
	}
	p.stop(t)
}
