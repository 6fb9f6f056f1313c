package ferry_test

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxTrackedBytes bounds a tracked file: anything larger is a build
// output, a data dump or a binary that belongs elsewhere.
const maxTrackedBytes = 2 << 20

// executables are the formats the debug packages read, by name.
var executables = []struct {
	kind string
	open func(io.ReaderAt) (io.Closer, error)
}{
	{"an ELF executable", func(r io.ReaderAt) (io.Closer, error) { return elf.NewFile(r) }},
	{"a Mach-O executable", func(r io.ReaderAt) (io.Closer, error) { return macho.NewFile(r) }},
	{"a Mach-O universal executable", func(r io.ReaderAt) (io.Closer, error) { return macho.NewFatFile(r) }},
	{"a PE (Windows) executable", func(r io.ReaderAt) (io.Closer, error) { return pe.NewFile(r) }},
}

// executable names the kind of executable r is, or "" when it is none.
func executable(r io.ReaderAt) string {
	for _, e := range executables {
		if f, err := e.open(r); err == nil {
			_ = f.Close()
			return e.kind
		}
	}
	return ""
}

// untidy lists the files tracked in the git work tree at dir that are
// executables or larger than maxTrackedBytes, one line each. It opens the
// git index, so that go test runs it again after a git add.
func untidy(dir string) ([]string, error) {
	index, err := exec.Command("git", "-C", dir, "rev-parse", "--path-format=absolute", "--git-path", "index").Output()
	if err != nil {
		return nil, fmt.Errorf("git rev-parse: %w", err)
	}
	if _, err := os.Stat(strings.TrimSpace(string(index))); err != nil {
		return nil, err
	}
	out, err := exec.Command("git", "-C", dir, "ls-files", "-z").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	var bad []string
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err == nil && fi.Mode().IsRegular() {
			if fi.Size() > maxTrackedBytes {
				bad = append(bad, fmt.Sprintf("%s: %d bytes, more than %d", name, fi.Size(), maxTrackedBytes))
			}
			if kind := executable(f); kind != "" {
				bad = append(bad, name+": "+kind)
			}
		}
		_ = f.Close()
		if err != nil {
			return nil, err
		}
	}
	return bad, nil
}

// TestTrackedFiles fails when git tracks an executable or a file larger
// than 2 MB: build outputs stay out of the repository (.gitignore lists
// them). make lint runs it.
func TestTrackedFiles(t *testing.T) {
	t.Parallel()
	bad, err := untidy(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("%s: build outputs and large files do not belong in git (git rm --cached it; .gitignore)", b)
	}
}

// TestUntidyFindsBinaries: the check finds a tracked executable (this
// test's own binary) and a tracked 3 MB file, and passes source and a
// script.
func TestUntidyFindsBinaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"tool":      bin,
		"dump.json": bytes.Repeat([]byte("x"), 3<<20),
		"main.go":   []byte("package main\n"),
		"run.sh":    []byte("#!/bin/sh\necho MZ\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	git("add", ".")
	bad, err := untidy(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(bad, "\n")
	if len(bad) < 2 || !strings.Contains(got, "tool: an ") || !strings.Contains(got, "dump.json: 3145728 bytes") ||
		strings.Contains(got, "main.go") || strings.Contains(got, "run.sh") {
		t.Errorf("untidy found:\n%s\nwant tool as an executable and dump.json as too large, nothing else", got)
	}
}
