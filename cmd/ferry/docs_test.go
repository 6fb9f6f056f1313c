package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// docFiles are the files whose examples users copy: the README, docs/,
// the dev keys' README, the Makefile's hints and compose.yaml's comments.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	return append(files, "../../README.md", "../../testdata/keys/README.md", "../../Makefile", "../../compose.yaml")
}

var (
	curlFileRe = regexp.MustCompile(`curl .*@([\w./-]+)`)
	hostPortRe = regexp.MustCompile(`localhost:\d+`)
)

// TestDocsCurlSendFilesUnchanged (issue 16 item 17): every documented
// curl that sends a file sends it byte for byte (--data-binary; -d @file
// strips the newlines), run against a server that records the body.
func TestDocsCurlSendFilesUnchanged(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	var (
		mu   sync.Mutex
		last []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = b
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	n := 0
	for _, f := range docFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			m := curlFileRe.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			n++
			cmd := line[strings.Index(line, "curl "):]
			if strings.HasSuffix(f, "Makefile") { // @echo '  curl ...'
				cmd = strings.ReplaceAll(strings.TrimSuffix(cmd, "'"), "$$", "$")
			}
			cmd = hostPortRe.ReplaceAllString(cmd, strings.TrimPrefix(srv.URL, "http://"))
			c := exec.Command("bash", "-c", cmd)
			c.Dir = "../.."
			c.Env = append(os.Environ(), "TOKEN=t", "FERRY_TOKEN=t")
			if out, err := c.CombinedOutput(); err != nil {
				t.Errorf("%s:%d: %v\n%s", f, i+1, err, out)
				continue
			}
			want, err := os.ReadFile(filepath.Join("../..", m[1]))
			if err != nil {
				t.Fatalf("%s:%d: %v", f, i+1, err)
			}
			mu.Lock()
			got := last
			mu.Unlock()
			if !bytes.Equal(got, want) {
				t.Errorf("%s:%d sends %d bytes, not %s unchanged (%d bytes): use --data-binary @FILE\n%s", f, i+1, len(got), m[1], len(want), line)
			}
		}
	}
	if n < 4 {
		t.Errorf("found %d curl lines sending a file, want the README's and the Makefile's at least", n)
	}
}

// TestMakeRunHintMatchesReadme (issue 16 items 10 and 17): the commands
// `make run` prints are the README's "Try it" commands, word for word.
func TestMakeRunHintMatchesReadme(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(mk), "\n") {
		hint, ok := strings.CutPrefix(strings.TrimSpace(line), "@echo '  ")
		if !ok {
			continue
		}
		n++
		hint = strings.TrimSuffix(hint, "'")
		hint = strings.NewReplacer("$$", "$", "$(BIN)", "bin/ferry").Replace(hint)
		if !strings.Contains(string(readme), "\n"+hint+"\n") {
			t.Errorf("make run prints %q, which is not a line of the README", hint)
		}
	}
	if n < 2 {
		t.Errorf("make run prints %d commands, want the token and the curl lines", n)
	}
}

// TestDocsTablesHaveNoDuplicateRows (issue 16 item 21): no table of the
// README or docs/ lists the same first cell twice (the problem table had
// shutting-down twice, with two meanings).
func TestDocsTablesHaveNoDuplicateRows(t *testing.T) {
	for _, f := range docFiles(t) {
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for i, line := range strings.Split(string(raw), "\n") {
			if !strings.HasPrefix(line, "|") {
				seen = map[string]int{} // a new table starts after any other line
				continue
			}
			first := strings.TrimSpace(strings.Split(line, "|")[1])
			if strings.Trim(first, "-: ") == "" {
				continue // the header's separator
			}
			if j, dup := seen[first]; dup {
				t.Errorf("%s:%d repeats the row %s of line %d", f, i+1, first, j)
			}
			seen[first] = i + 1
		}
	}
}

// TestDocsEventSourceNeedsCORS (issue 16 item 21): where the README and
// the HTTP reference show EventSource, they say that a page from another
// origin needs server.cors.allow_origins.
func TestDocsEventSourceNeedsCORS(t *testing.T) {
	for _, f := range []string{"../../README.md", "../../docs/http-api.md"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, para := range strings.Split(string(raw), "\n\n") {
			ok = ok || strings.Contains(para, "EventSource") && strings.Contains(para, "server.cors.allow_origins")
		}
		if !ok {
			t.Errorf("%s: no paragraph on EventSource names server.cors.allow_origins", f)
		}
	}
}
