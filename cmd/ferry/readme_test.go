package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeTryIt runs the shell lines of the README's "Try it" section,
// as printed, against bin/ferry on a free port (the only change: the
// address) and expects each curl to get a 202; a repeat of the
// Idempotency-Key line gets the stored answer.
func TestReadmeTryIt(t *testing.T) {
	readme := readmeForCurl(t)
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
	script := strings.Join(lines, "\n") + "\n"
	for _, l := range lines {
		if strings.Contains(l, "Idempotency-Key") {
			script += l + "\n" // the Idempotency-Key line twice
		}
	}
	out := runReadmeLines(t, p, script)
	if n, want := strings.Count(string(out), "HTTP/1.1 202 Accepted"), strings.Count(script, "curl "); n != want {
		t.Errorf("%d of %d curls got a 202:\n%s", n, want, out)
	}
	if !strings.Contains(string(out), "Idempotent-Replayed: true") {
		t.Errorf("the repeated Idempotency-Key line was not replayed:\n%s", out)
	}
	p.stop(t)
}

// TestReadmeConsumeInAGroup runs the shell lines of the README's "Consume
// in a group" section, as printed, against bin/ferry with the quickstart
// config after one order was published: the poll answers it to worker-1,
// the commit is taken, and docs/http-api.md shows the same poll.
func TestReadmeConsumeInAGroup(t *testing.T) {
	readme := readmeForCurl(t)
	section := strings.SplitN(string(readme), "### Consume in a group", 2)[1]
	code, _, _ := strings.Cut(strings.SplitN(section, "```sh\n", 2)[1], "```")
	lines := strings.Split(strings.TrimSpace(code), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "/poll") || !strings.Contains(lines[2], "/commit") {
		t.Fatalf("README's Consume in a group has unexpected lines: %q", lines)
	}
	apiDoc, err := os.ReadFile("../../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(apiDoc), lines[0]+"\n"+lines[1]+"\n") {
		t.Errorf("docs/http-api.md's consumer group example differs from the README's:\n%s\n%s", lines[0], lines[1])
	}

	p := startFerry(t, t.TempDir())
	if status, body := p.post(t, "/v1/orders", []byte(`{"customer_id":"c-42","items":[{"sku":"BOOK-1","qty":1,"price":12.5}]}`)); status != 202 {
		t.Fatalf("POST /v1/orders = %d %v", status, body)
	}
	out := runReadmeLines(t, p, strings.Join(lines, "\necho\n")+"\n")
	answers := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(answers) != 2 {
		t.Fatalf("want a poll and a commit answer, got:\n%s", out)
	}
	for _, want := range []string{`"member_id":"worker-1"`, `"customer_id":"c-42"`, `"commit":{"offsets":[{"topic":"orders.commands"`} {
		if !strings.Contains(answers[0], want) {
			t.Errorf("the poll answered %s; it lacks %s", answers[0], want)
		}
	}
	if !strings.HasPrefix(answers[1], `{"committed":[{"topic":"orders.commands","partition":0,"offset":1}]}`) {
		t.Errorf("the commit answered %s", answers[1])
	}
	p.stop(t)
}

// readmeForCurl returns the README, whose shell lines the test runs with
// curl (.ci/run installs it).
func readmeForCurl(t *testing.T) []byte {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to run the README's lines: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return readme
}

// runReadmeLines runs script with bash from the repository's root, its
// gateway address and ./bin/ferry those of p, and returns its stdout.
func runReadmeLines(t *testing.T, p *process, script string) []byte {
	t.Helper()
	script = strings.ReplaceAll(script, "localhost:8080", p.http)
	script = strings.ReplaceAll(script, "./bin/ferry", ferryBinary(t))
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = "../.."
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("README lines failed: %v\n%s\n%s", err, out, stderr.String())
	}
	return out
}

// TestReadmeHTTPS runs the shell lines of the README's HTTPS recipe as
// printed (openssl makes a dev CA and certificates; ferry serves
// testdata/tls.yaml; curl posts an order with its client certificate),
// in a copy of the repository's testdata with the config's ports made
// free: the client certificate is the principal and the order is stored.
func TestReadmeHTTPS(t *testing.T) {
	readme := readmeForCurl(t)
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed to run the README's HTTPS recipe: %v", err)
	}
	section := strings.SplitN(string(readme), "**HTTPS and mutual TLS**", 2)[1]
	var script string
	for _, block := range strings.Split(section, "```sh\n")[1:3] {
		code, _, _ := strings.Cut(block, "```")
		script += code
	}
	if !strings.Contains(script, "openssl req") || !strings.Contains(script, "testdata/tls.yaml") || !strings.Contains(script, "curl --cacert") {
		t.Fatalf("README's HTTPS recipe has unexpected lines:\n%s", script)
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "testdata"), os.DirFS("../../testdata")); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile("../../testdata/tls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	httpsAddr, kafkaAddr := freePort(t), freePort(t)
	cfg = []byte(strings.NewReplacer("127.0.0.1:8443", httpsAddr, "127.0.0.1:9094", kafkaAddr).Replace(string(cfg)))
	if err := os.WriteFile(filepath.Join(dir, "testdata", "tls.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(httpsAddr)
	script = strings.ReplaceAll(script, "localhost:8443", "localhost:"+port)
	script = strings.ReplaceAll(script, "./bin/ferry", ferryBinary(t))
	// A failing line leaves no ferry behind.
	script = "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + script
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("README's HTTPS lines failed: %v\n%s\n%s", err, out, stderr.String())
	}
	if !strings.Contains(string(out), `"topic":"orders.commands"`) || !strings.Contains(stderr.String(), `"principal":"CN=billing-batch"`) {
		t.Errorf("the order was not stored as CN=billing-batch:\n%s\n%s", out, stderr.String())
	}
}
