package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-isatty"
)

// The debugging clients talk to a running gateway over HTTP: `ferry replay`
// to GET /v1/replay/{topic}, `ferry tail` to the SSE stream
// GET /v1/streams/{name}.

const (
	defaultGateway = "http://localhost:8080"
	// maxLine bounds one NDJSON line or SSE data line (one record).
	maxLine = 64 << 20
)

// clientFlags are the flags ferry replay and ferry tail share.
type clientFlags struct {
	gateway  string
	token    string
	key      optString
	headers  headerFlags
	where    stringsFlag
	format   string
	color    string
	progress string
}

func (f *clientFlags) register(fs *flag.FlagSet, formats string) {
	// The environment is read after parsing, so that -h never prints a token.
	fs.StringVar(&f.gateway, "gateway", "", "gateway `URL` (default $FERRY_GATEWAY, else "+defaultGateway+")")
	fs.StringVar(&f.token, "token", "", "bearer `token` sent as Authorization (default $FERRY_TOKEN)")
	fs.Var(&f.key, "key", "only records with this `key`")
	fs.Var(&f.headers, "header", "only records with header `NAME=VALUE` (repeatable; all must match)")
	fs.Var(&f.where, "where", "only records whose JSON value meets the `condition`, e.g. '/status=\"failed\"' (repeatable; all must hold; the stream must allow where)")
	fs.StringVar(&f.format, "format", "", "output `format`: "+formats+" (default pretty on a terminal, else ndjson)")
	fs.StringVar(&f.color, "color", "auto", "colour pretty output: auto (on a terminal), always or never")
	fs.StringVar(&f.progress, "progress", "auto", "progress on stderr: auto (when stderr is a terminal), always or never")
}

// client returns the gateway client the flags (or the environment) name.
func (f *clientFlags) client() *gatewayClient {
	return &gatewayClient{
		base:  cmpOr(f.gateway, cmpOr(os.Getenv("FERRY_GATEWAY"), defaultGateway)),
		token: cmpOr(f.token, os.Getenv("FERRY_TOKEN")),
	}
}

// filters adds the key, header and value filters to q.
func (f *clientFlags) filters(q url.Values) {
	if f.key.set {
		q.Set("key", f.key.value)
	}
	for _, h := range f.headers {
		q.Add("header."+h[0], h[1])
	}
	for _, w := range f.where {
		q.Add("where", w)
	}
}

// output builds the record printer for stdout.
func (f *clientFlags) output(stdout io.Writer, allowed ...string) (*printer, error) {
	format := f.format
	if format == "" {
		format = "ndjson"
		if isTerminal(stdout) {
			format = "pretty"
		}
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == format
	}
	if !ok {
		return nil, fmt.Errorf("--format must be %s, not %q: %w", strings.Join(allowed, ", "), format, errUsage)
	}
	color, err := whenFlag("--color", f.color, stdout)
	if err != nil {
		return nil, err
	}
	return &printer{w: stdout, format: format, color: color, tty: isTerminal(stdout)}, nil
}

// whenFlag reads an auto|always|never flag; auto means "w is a terminal".
func whenFlag(name, v string, w io.Writer) (bool, error) {
	switch v {
	case "auto":
		return isTerminal(w), nil
	case "always":
		return true, nil
	case "never":
		return false, nil
	}
	return false, fmt.Errorf("%s must be auto, always or never, not %q: %w", name, v, errUsage)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// optString is a string flag that knows whether it was given.
type optString struct {
	value string
	set   bool
}

func (o *optString) String() string     { return o.value }
func (o *optString) Set(v string) error { o.value, o.set = v, true; return nil }

// stringsFlag collects a repeatable flag's values.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, " ") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// headerFlags collects --header NAME=VALUE.
type headerFlags [][2]string

func (h *headerFlags) String() string { return fmt.Sprint(*h) }
func (h *headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return errors.New("must be NAME=VALUE")
	}
	*h = append(*h, [2]string{name, value})
	return nil
}

// parseInterleaved parses flags that may come before and after positional
// arguments (ferry replay TOPIC --from -15m) and returns the positionals.
// A bad flag is a usage error; the flag package has printed it.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

const replayUsage = `usage: ferry replay TOPIC [flags]

Reads a topic's records between two positions from a gateway
(GET /v1/replay/TOPIC). Positions: earliest, latest, PARTITION:OFFSET[,...],
an RFC 3339 time, or -DURATION (-15m). The replay ends at --to, or at the
end of the topic when it started; --follow keeps printing new records.

Flags:
`

// replayCmd is `ferry replay TOPIC`.
func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage); fs.PrintDefaults() }
	var cf clientFlags
	cf.register(fs, "pretty, ndjson or json")
	var (
		from, to   string
		partitions string
		limit      int
		follow     bool
	)
	fs.StringVar(&from, "from", "", "start `position` (default earliest)")
	fs.StringVar(&to, "to", "", "end `position`, exclusive (default the end of the topic when the replay starts)")
	fs.StringVar(&partitions, "partition", "", "only these `partitions` (0 or 0,2)")
	fs.IntVar(&limit, "limit", 0, "stop after `n` records (default and cap: the gateway's replay.max_records)")
	fs.BoolVar(&follow, "follow", false, "keep printing new records (Server-Sent Events)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	out, err := cf.output(stdout, "pretty", "ndjson", "json")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	if follow && out.format == "json" {
		fmt.Fprintln(stderr, "ferry replay: --follow prints pretty or ndjson, not json")
		return errUsage
	}
	q := url.Values{}
	for k, v := range map[string]string{"from": from, "to": to, "partition": partitions} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	cf.filters(q)
	if follow {
		q.Set("follow", "true")
	} else {
		q.Set("format", "ndjson") // json output is assembled here, so that an in-band error is noticed
	}
	showProgress, err := whenFlag("--progress", cf.progress, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	c := cf.client()
	path := "/v1/replay/" + url.PathEscape(pos[0]) + "?" + q.Encode()
	out.stderr = stderr
	if follow {
		err := c.stream(ctx, path, out, stderr, 0, replayEvents)
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil // interrupted: the normal end of following
		}
		return err
	}
	resp, err := c.get(ctx, path, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	prog := newProgress(stderr, showProgress, resp.Header.Get("Ferry-Records-In-Range"))
	out.progress, out.stderr = prog, stderr
	defer prog.done()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if err := inBandError(line); err != nil {
			return err
		}
		if err := out.line(line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read replay: %w", err)
	}
	if err := out.finish(); err != nil {
		return err
	}
	prog.done()
	if lim, err := strconv.ParseInt(resp.Header.Get("Ferry-Replay-Limit"), 10, 64); err == nil && out.count == lim && lim > 0 {
		// Not an error, but the output may be cut short: say so where
		// pipes do not look.
		fmt.Fprintf(stderr, "ferry: stopped at the limit of %d records; narrow the range or page with --from\n", lim)
	}
	return nil
}

// inBandError returns the problem of an {"error":{...}} line: a replay that
// failed after its status line was sent.
func inBandError(line []byte) error {
	if !bytes.HasPrefix(line, []byte(`{"error":`)) {
		return nil
	}
	var e struct {
		Error problemBody `json:"error"`
	}
	if err := json.Unmarshal(line, &e); err != nil || e.Error.Type == "" {
		return nil
	}
	return fmt.Errorf("replay failed: %w", &e.Error)
}

const tailUsage = `usage: ferry tail STREAM [flags]

Prints every record of a configured stream as it arrives (Server-Sent
Events from GET /v1/streams/STREAM?envelope=true), whatever its event
type, reconnecting with Last-Event-ID when the connection drops or the
gateway shuts down, until interrupted. NDJSON output is one envelope per
line: {"key","headers","partition","offset","timestamp","value"}.

Flags:
`

// tailCmd is `ferry tail STREAM`.
func tailCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tailUsage); fs.PrintDefaults() }
	var cf clientFlags
	cf.register(fs, "pretty or ndjson")
	var limit int
	fs.IntVar(&limit, "limit", 0, "exit after `n` records (default: run until interrupted)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	out, err := cf.output(stdout, "pretty", "ndjson")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	// The envelope carries each record's partition, offset, key and
	// headers: one JSON line, whatever the value.
	q := url.Values{"envelope": {"true"}}
	cf.filters(q)
	path := "/v1/streams/" + url.PathEscape(pos[0]) + "?" + q.Encode()
	c := cf.client()
	out.stderr, out.stream = stderr, pos[0]
	err = c.stream(ctx, path, out, stderr, int64(limit), streamEvents)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: the normal end of a tail
	}
	return err
}

// gatewayClient makes requests to a ferry gateway.
type gatewayClient struct {
	base  string
	token string
	http  http.Client
}

// get sends a GET and returns a 200 response; any other answer becomes an
// error naming the gateway's problem.
func (c *gatewayClient) get(ctx context.Context, path, lastEventID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.base, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("--gateway: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if strings.Contains(path, "follow=true") || strings.HasPrefix(path, "/v1/streams/") {
		req.Header.Set("Accept", "text/event-stream")
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var p problemBody
	if json.Unmarshal(body, &p) == nil && p.Title != "" {
		return nil, &p
	}
	return nil, fmt.Errorf("gateway answered %s: %s", resp.Status, bytes.TrimSpace(body))
}

// problemBody is a problem+json answer.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

func (p *problemBody) Error() string {
	s := p.Title
	if p.Status != 0 {
		s += " (" + strconv.Itoa(p.Status) + ")"
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}
