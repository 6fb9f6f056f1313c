package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeCurl returns the README's `curl -N` commands, pointed at addr.
func readmeCurl(t *testing.T, addr string) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "curl -N ") && strings.Contains(line, "/v1/streams/") {
			out = append(out, strings.ReplaceAll(line, "localhost:8080", addr))
		}
	}
	if len(out) == 0 {
		t.Fatal("the README has no curl -N example")
	}
	return out
}

// TestBinaryStreams runs the README's stream examples as printed against
// the real binary with the quickstart config: the first curl sees an order
// posted after it subscribed; the second resumes from the first's start id
// and sees the same order again. Then SIGTERM with a stream open: the
// stream ends with a shutdown event and the process exits promptly.
func TestBinaryStreams(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	p := startFerry(t, t.TempDir())
	if !strings.Contains(p.logs.String(), `"streams":["http://`+p.http+`/v1/streams/order-events <- orders.commands (auth none)"]`) {
		t.Errorf("the ready line lacks the stream")
	}
	cmds := readmeCurl(t, p.http)
	order := []byte(`{"customer_id":"c-42","items":[{"sku":"BOOK-1","qty":1,"price":12.5}]}`) // the README's

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	curl := exec.CommandContext(ctx, "sh", "-c", cmds[0])
	stdout, err := curl.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = curl.Process.Kill(); _ = curl.Wait() }()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("curl's stream ended")
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no line from curl in 10s")
		}
		return ""
	}
	if l := next(); l != "retry: 2000" {
		t.Fatalf("first line %q, want retry: 2000", l)
	}
	startID := strings.TrimPrefix(next(), "id: ")
	if !regexp.MustCompile(`^[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+$`).MatchString(startID) {
		t.Fatalf("start id %q is not a three-partition cursor", startID)
	}
	next() // the blank line ending the preamble
	if code, _ := p.post(t, "/v1/orders", order); code != http.StatusAccepted {
		t.Fatalf("POST /v1/orders = %d", code)
	}
	event := []string{next(), next(), next()}
	if !strings.HasPrefix(event[0], "id: ") || event[1] != "event: com.example.order.create" || event[2] != "data: "+string(order) {
		t.Errorf("event = %q, want id, event: com.example.order.create, data: the order", event)
	}

	if len(cmds) > 1 {
		resume := strings.ReplaceAll(cmds[1], regexp.MustCompile(`Last-Event-ID: [0-9a-z.]+`).FindString(cmds[1]), "Last-Event-ID: "+startID)
		out, _ := exec.Command("sh", "-c", resume+" --max-time 1").Output() // curl exits 28 at --max-time
		if !strings.Contains(string(out), "\n"+event[0]+"\n"+event[1]+"\n"+event[2]+"\n") {
			t.Errorf("resumed stream:\n%s\nwant the same event again", out)
		}
	}

	// SIGTERM with the stream open.
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if got := strings.Join(rest, "\n"); !strings.Contains(got, "event: error") || !strings.Contains(got, `"reason":"shutdown"`) {
		t.Errorf("stream after SIGTERM:\n%s\nwant event: error with reason shutdown", got)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("ferry exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ferry did not stop within 10s with a stream open")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown with an open stream took %v", d)
	}
}
