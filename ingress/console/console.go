// Package console holds ferry's web console: its files (plain HTML, ES
// modules and CSS, embedded with go:embed; no build step, nothing fetched
// from another origin) and the net/http handler that serves them under
// Prefix with a strict Content-Security-Policy. The console runs in the
// browser and calls only ferry's public HTTP APIs with the user's own
// credentials, so this package holds no API logic and no credentials.
//
// It imports only the standard library and ingress/problem (the bodies of
// its 404 and 405 answers); never Fiber, fasthttp, ingress itself or the
// Kafka-facing packages.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/ferry-gw/ferry/ingress/problem"
)

// Config is the `console` section of ferry.yaml.
type Config struct {
	// Enabled serves the console at /console; default false (the
	// quickstart config turns it on).
	Enabled bool `yaml:"enabled"`
}

// Prefix is the path the console is served under: /console is its page,
// /console/NAME its other files.
const Prefix = "/console"

// Headers are the security headers of every answer of the handler. The
// policy allows scripts, styles and fetches from ferry's own origin only,
// no inline script or style, and no framing: record values shown by the
// console are untrusted, and the page holds the user's credentials.
var Headers = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Frame-Options":         "DENY",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
}

//go:embed web
var web embed.FS

// file is one embedded file, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// types are the content types of the embedded files, by extension; a file
// of another kind is not served.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// load reads the embedded files, keyed by their path below Prefix
// ("index.html", "app.js").
func load() (map[string]file, error) {
	out := make(map[string]file)
	err := fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := types[path.Ext(p)]
		if !ok {
			return nil
		}
		body, err := web.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read embedded %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, "web/")] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console files: %w", err)
	}
	return out, nil
}

// Handler returns the handler of the console's files: GET or HEAD of
// Prefix (or Prefix + "/") is the page, Prefix/NAME a file, anything else
// a problem+json 404 (or 405 for other methods). Every answer carries
// Headers; files carry an ETag and are revalidated on each load
// (Cache-Control: no-cache), so an upgraded ferry never serves old
// scripts. It is safe for concurrent use. Its error says which embedded
// file could not be read.
func Handler() (http.Handler, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	return handler(all), nil
}

// handler serves the files of a load.
type handler map[string]file

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range Headers {
		w.Header().Set(k, v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		pe := problem.New(problem.MethodNotAllowed, r.Method+" is not allowed here; use GET, HEAD")
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, r, pe)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok || name != "" && name[0] != '/' {
		writeProblem(w, r, problem.New(problem.NotFound, "no route serves "+r.Method+" "+r.URL.Path))
		return
	}
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = "index.html"
	}
	f, ok := h[name]
	if !ok {
		writeProblem(w, r, problem.New(problem.NotFound, "the console has no file "+name))
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Cache-Control", "no-cache")
	// ServeContent answers If-None-Match (304), HEAD and ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// writeProblem writes pe as problem+json, naming the request by the
// X-Request-ID ingress put on it.
func writeProblem(w http.ResponseWriter, r *http.Request, pe *problem.Error) {
	// ingress sets X-Request-ID on the request to the id it answers with.
	body, _ := pe.Body(r.URL.Path, r.Header.Get("X-Request-ID")) // Details always marshals
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(pe.Type.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
