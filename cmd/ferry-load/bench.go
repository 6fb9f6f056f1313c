package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// benchEnv holds the processes of one `ferry-load bench` run: ferry with
// its embedded broker, and the baselines attached to that same broker.
type benchEnv struct {
	quick    bool
	steps    int
	step     time.Duration
	rounds   int
	ferryBin string
	config   string
	stderr   io.Writer

	ferry     *server
	bare      *server
	kafka     *server
	responder *server  // ferry respond --echo on the sync route's topic
	ferryEnv  []string // FERRY_LISTEN (first), FERRY_KAFKA_LISTEN, FERRY_DATA_DIR
	brokers   string
	rawTopic  string
	token     string   // orders:write, for the publish route
	admin     string   // admin scope, for /v1/replay
	redis     string   // which Redis ferry uses, for the report
	sections  []string // markdown sections scenarios add after the table
	bounds    []string // what bounds a goal on this machine, from this run's figures
}

// server is a process under test.
type server struct {
	name    string
	url     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has ended
	exitErr error         // how it ended, once exited is closed
}

// newServer watches the started process of cmd.
func newServer(name, url string, cmd *exec.Cmd) *server {
	s := &server{name: name, url: url, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	return s
}

// gone says how the process ended if it has, so that a run whose server
// died says so instead of measuring refused connections: "signal:
// killed" is someone else's doing, "exit status 2" a Go panic.
func (s *server) gone() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s (pid %d) exited during the run: %v", s.name, s.pid(), cmp.Or(s.exitErr, errors.New("exit status 0")))
	default:
		return nil
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// usage samples the server's CPU and RSS.
func (s *server) usage() procUsage {
	u, _ := readProc(s.pid())
	return u
}

// row is one line of the results table.
type row struct {
	scenario, baseline, goal, measured string
	verdict                            verdict
}

// outcome is one run of the whole bench.
type outcome struct {
	rows     []row
	details  []string
	sections []string // from the run's scenarios, after the table
	bounds   []string
	took     time.Duration
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", os.Getenv("BENCH_QUICK") == "1", "a smaller run of a few minutes (also BENCH_QUICK=1)")
	runs := fs.Int("runs", 1, "run the whole bench this many times, each on fresh processes, and say whether every goal's verdict held")
	ferryBin := fs.String("ferry", "bin/ferry", "ferry `binary`")
	config := fs.String("config", "testdata/bench/ferry.yaml", "ferry config for the benchmark")
	out := fs.String("out", "BENCHMARKS.md", "write the report here too (empty: stdout only)")
	only := fs.String("only", "", "comma-separated `scenarios` to run (default all): "+strings.Join(scenarioNames(), ","))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 {
		return errors.New("--runs must be at least 1")
	}
	started := time.Now()
	var outcomes []outcome
	var env *benchEnv
	for run := range *runs {
		if *runs > 1 {
			fmt.Fprintf(stderr, "=== run %d of %d\n", run+1, *runs)
		}
		env = &benchEnv{quick: *quick, ferryBin: *ferryBin, config: *config, stderr: stderr, steps: 14, step: 1250 * time.Millisecond, rounds: 5}
		if env.quick {
			env.steps, env.step, env.rounds = 9, time.Second, 3
		}
		o, err := env.run(ctx, *only)
		env.stop()
		if err != nil {
			return err
		}
		outcomes = append(outcomes, o)
	}
	report := env.report(outcomes, time.Since(started))
	fmt.Fprint(stdout, report)
	if *out != "" {
		return os.WriteFile(*out, []byte(report), 0o644)
	}
	return nil
}

// run starts the processes and runs the chosen scenarios once.
func (e *benchEnv) run(ctx context.Context, only string) (outcome, error) {
	if err := e.start(ctx); err != nil {
		return outcome{}, err
	}
	started := time.Now()
	var o outcome
	for _, sc := range scenarios {
		if only != "" && !slices.Contains(strings.Split(only, ","), sc.name) {
			continue
		}
		fmt.Fprintf(e.stderr, "== %s\n", sc.name)
		r, d, err := sc.run(e, ctx)
		for _, s := range []*server{e.ferry, e.bare, e.kafka, e.responder} {
			if gone := s.gone(); gone != nil {
				err = errors.Join(gone, err)
			}
		}
		if err != nil {
			return outcome{}, fmt.Errorf("%s: %w", sc.name, err)
		}
		o.rows, o.details = append(o.rows, r...), append(o.details, d...)
	}
	o.sections, o.bounds, o.took = e.sections, e.bounds, time.Since(started)
	return o, nil
}

// scenarios are the bench's parts, in the order they run.
var scenarios = []struct {
	name string
	run  func(*benchEnv, context.Context) ([]row, []string, error)
}{
	{"closed", (*benchEnv).closedScenario},
	{"publish", (*benchEnv).publishScenarios},
	{"cost", (*benchEnv).costScenario},
	{"reply", (*benchEnv).replyScenarios},
	{"sse", (*benchEnv).sseScenarios},
	{"replay", (*benchEnv).replayScenario},
	{"pending", (*benchEnv).pendingScenario},
	{"idle", (*benchEnv).idleScenario},
}

func scenarioNames() []string {
	var names []string
	for _, sc := range scenarios {
		names = append(names, sc.name)
	}
	return names
}

// start launches ferry and the baselines on free ports.
func (e *benchEnv) start(ctx context.Context) error {
	httpAddr, kafkaAddr := freeAddr(), freeAddr()
	dataDir, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return err
	}
	e.brokers = kafkaAddr
	e.ferryEnv = []string{"FERRY_LISTEN=" + httpAddr, "FERRY_KAFKA_LISTEN=" + kafkaAddr, "FERRY_DATA_DIR=" + dataDir}
	// Rate limits and idempotency run their scripts in Redis. The embedded
	// miniredis interprets them in Go at ~0.4 ms a call, which would make
	// the bench measure miniredis; a real Redis, as production has, is
	// used when one answers on the default port.
	e.redis = "embedded miniredis"
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:6379", 200*time.Millisecond); err == nil {
		conn.Close()
		e.ferryEnv = append(e.ferryEnv, "FERRY_REDIS_URL=redis://127.0.0.1:6379/14")
		e.redis = "Redis on 127.0.0.1:6379"
	}
	if err := e.startFerry(ctx); err != nil {
		return err
	}
	if e.bare, err = startBaseline(ctx, "bare"); err != nil {
		return err
	}
	if e.kafka, err = startBaseline(ctx, "kafka", "--brokers", kafkaAddr, "--topic", "bench.baseline"); err != nil {
		return err
	}
	e.rawTopic = "bench.raw"
	if e.token, err = e.mintToken(ctx, "orders:write"); err != nil {
		return err
	}
	if e.admin, err = e.mintToken(ctx, "admin"); err != nil {
		return err
	}
	return e.startResponder(ctx)
}

// startResponder runs `ferry respond --echo` on the sync route's topic.
func (e *benchEnv) startResponder(ctx context.Context) error {
	rcmd := exec.CommandContext(ctx, e.ferryBin, "respond", "--echo", "-c", e.config, "--brokers", e.brokers, "--topic", "bench.quotes")
	rcmd.Stderr = os.Stderr // log level warn: only problems
	if err := rcmd.Start(); err != nil {
		return fmt.Errorf("start responder: %w", err)
	}
	e.responder = newServer("echo responder", "", rcmd)
	return nil
}

// startFerry starts ferry on the env's addresses and waits until ready.
func (e *benchEnv) startFerry(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, e.ferryBin, "serve", "-c", e.config)
	cmd.Env = append(os.Environ(), e.ferryEnv...)
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devNull.Close()
	cmd.Stderr = devNull // access logs stay on, written where they cost no reader
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ferry: %w", err)
	}
	e.ferry = newServer("ferry", "http://"+e.ferryEnv[0][len("FERRY_LISTEN="):], cmd)
	if err := waitReady(ctx, e.ferry.url+"/readyz", 30*time.Second); err != nil {
		return fmt.Errorf("ferry: %w", err)
	}
	return nil
}

// peerConfig is the config of further ferry instances on the first
// one's broker (scenario idle); pendingConfig that of the ferry the
// pending scenario measures, whose broker is then another process.
const (
	peerConfig    = "testdata/bench/ferry-peer.yaml"
	pendingConfig = "testdata/bench/ferry-pending.yaml"
)

// startPeer starts a further ferry process with config on a port of its
// own, with the first one's embedded broker as its Kafka (kafka.brokers)
// and the same Redis, and waits until it is ready. Its log goes to
// stderr. The caller stops it.
func (e *benchEnv) startPeer(ctx context.Context, name, config string, stderr io.Writer) (*server, error) {
	listen := freeAddr()
	cmd := exec.CommandContext(ctx, e.ferryBin, "serve", "-c", config)
	cmd.Env = append(os.Environ(), "FERRY_LISTEN="+listen, "FERRY_BROKERS="+e.brokers)
	for _, kv := range e.ferryEnv {
		if strings.HasPrefix(kv, "FERRY_REDIS_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := newServer(name, "http://"+listen, cmd)
	if err := waitReady(ctx, p.url+"/readyz", 30*time.Second); err != nil {
		p.stopProcess()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// restartFerry gives a memory scenario a fresh ferry process, whose RSS
// no earlier scenario has grown. The embedded broker restarts with it on
// the same address but an empty data directory: reloading the records of
// the earlier scenarios would put them on the heap and drown the figure
// being measured. The clients of the baselines reconnect; the responder
// is restarted with ferry, as its consumer would otherwise hold the old
// broker's topic IDs and retry (and log) without end.
func (e *benchEnv) restartFerry(ctx context.Context) error {
	e.responder.stopProcess()
	e.ferry.stopProcess()
	dataDir, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return err
	}
	for i, kv := range e.ferryEnv {
		if strings.HasPrefix(kv, "FERRY_DATA_DIR=") {
			e.ferryEnv[i] = "FERRY_DATA_DIR=" + dataDir
		}
	}
	if err := e.startFerry(ctx); err != nil {
		return err
	}
	return e.startResponder(ctx)
}

// mintToken mints a dev JWT with scope from ferry's own `token` command.
func (e *benchEnv) mintToken(ctx context.Context, scope string) (string, error) {
	out, err := exec.CommandContext(ctx, e.ferryBin, "token", "--scope", scope, "--ttl", "1h").Output()
	if err != nil {
		return "", fmt.Errorf("ferry token --scope %s: %w", scope, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func (e *benchEnv) stop() {
	for _, s := range []*server{e.responder, e.kafka, e.bare, e.ferry} {
		s.stopProcess()
	}
}

// stopProcess interrupts the server's process and waits for it.
func (s *server) stopProcess() {
	if s != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		<-s.exited
	}
}

// startBaseline runs `ferry-load baseline KIND` as its own process, so its
// CPU and memory are measured apart from the load generator's.
func startBaseline(ctx context.Context, kind string, args ...string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"baseline", kind}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", kind, err)
	}
	return newServer("baseline "+kind, strings.TrimSpace(line), cmd), nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("not ready in time")
}

// fixedRate runs one server at one rate.
func (e *benchEnv) fixedRate(ctx context.Context, s *server, path string, body []byte, want int, rate float64, headers ...[2]string) (Result, error) {
	ht, err := newHTTPTarget("POST", s.url+path, body, want, 512, 10*time.Second, headers...)
	if err != nil {
		return Result{}, err
	}
	r := runOpenLoop(ctx, Plan{Rate: rate, Duration: 2 * e.step, Workers: 512}, ht.op)
	fmt.Fprintf(e.stderr, "  %-16s %s\n", s.name, r)
	return r, nil
}

// rawProduce runs acked single-record produces at rate, in this process,
// straight to the broker: the produce-ack floor.
func (e *benchEnv) rawProduce(ctx context.Context, rate float64, value []byte) (Result, error) {
	cl, err := kgo.NewClient(producerOpts(e.brokers)...)
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	if err := ensureTopic(ctx, cl, e.rawTopic, 3); err != nil {
		return Result{}, err
	}
	op := func(ctx context.Context) string {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: e.rawTopic, Value: value}).FirstErr(); err != nil {
			return "produce error"
		}
		return ""
	}
	r := runOpenLoop(ctx, Plan{Rate: rate, Duration: 2 * e.step, Workers: 512}, op)
	fmt.Fprintf(e.stderr, "  %-16s %s\n", "raw produce", r)
	return r, nil
}

// historyFile is the hand-kept record of optimisations with their
// before/after figures, appended to every report.
const historyFile = "testdata/bench/history.md"

// report renders the markdown report of one or more runs: each run's
// measured figures and verdicts side by side, and whether the verdicts
// held from run to run. What bounds the goals and the cost table come
// from the last run.
func (e *benchEnv) report(runs []outcome, took time.Duration) string {
	var b strings.Builder
	mode := "full"
	if e.quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	fmt.Fprintf(&b, "# ferry benchmarks\n\n`make bench` (`ferry-load bench --runs %d`), %s run, %s, took %s.\n\n", len(runs), mode, time.Now().UTC().Format("2006-01-02 15:04 UTC"), took.Round(time.Second))
	fmt.Fprintf(&b, "Machine: %s, %d cores, %s, %s/%s. Every goal is a ratio against a baseline measured in the same run, on the same broker (ferry's embedded kfake), with the same load generator (cmd/ferry-load); open-loop latencies are from each request's intended send time. ferry's rate limits and idempotency use: %s.\n\n",
		cpuModel(), runtime.NumCPU(), memTotal(), runtime.GOOS, runtime.GOARCH, e.redis)
	fmt.Fprintf(&b, "How to read it: each figure is the median of %d interleaved rounds, with the lowest and highest round in parentheses. A goal is met (yes) when every round meets it, not met (no) when none does, and within noise when its threshold lies inside the rounds' range, so that the median alone would decide by chance. The idle-subscriber scenario measures once per run, on fresh ferry processes; the pending-request scenario takes %d interleaved rounds, a fresh ferry and a fresh floor in each. ", e.rounds, e.pendingRounds())
	if len(runs) > 1 {
		fmt.Fprintf(&b, "The whole bench ran %d times, each on fresh processes; stable says whether the verdicts agree (yes), differ only through a run within noise (within noise), or contradict each other (NO).", len(runs))
	}
	b.WriteString("\n\n")
	if len(runs) == 1 {
		b.WriteString("| scenario | baseline in the same run | goal | measured | met |\n|---|---|---|---|---|\n")
		for _, r := range runs[0].rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.scenario, r.baseline, r.goal, r.measured, r.verdict)
		}
	} else {
		b.WriteString("| scenario | baseline in the same run | goal |")
		for k := range runs {
			fmt.Fprintf(&b, " run %d: measured | met |", k+1)
		}
		b.WriteString(" stable |\n|---|---|---|")
		b.WriteString(strings.Repeat("---|---|", len(runs)))
		b.WriteString("---|\n")
		for i, r := range runs[0].rows {
			fmt.Fprintf(&b, "| %s | %s | %s |", r.scenario, r.baseline, r.goal)
			var vs []verdict
			for _, o := range runs {
				if i < len(o.rows) {
					fmt.Fprintf(&b, " %s | %s |", o.rows[i].measured, o.rows[i].verdict)
					vs = append(vs, o.rows[i].verdict)
				}
			}
			fmt.Fprintf(&b, " %s |\n", stability(vs))
		}
	}
	last := runs[len(runs)-1]
	if len(last.bounds) > 0 {
		from := "this run's figures"
		if len(runs) > 1 {
			from = "the last run's figures"
		}
		fmt.Fprintf(&b, "\n## What bounds the goals on this machine\n\nFrom %s:\n\n", from)
		for _, l := range last.bounds {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, sec := range last.sections {
		b.WriteString("\n" + sec + "\n")
	}
	if history, err := os.ReadFile(historyFile); err == nil {
		b.WriteString("\n")
		b.Write(history)
	}
	b.WriteString("\n## Runs\n")
	for k, o := range runs {
		if len(runs) > 1 {
			fmt.Fprintf(&b, "\nRun %d of %d, took %s:\n", k+1, len(runs), o.took.Round(time.Second))
		}
		b.WriteString("\n```\n")
		for _, d := range o.details {
			b.WriteString(d)
			b.WriteByte('\n')
		}
		b.WriteString("```\n")
	}
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown memory"
	}
	var kb int64
	fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
	return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
}

// settle is the pause after a run that missed its bound: what an
// overloaded server still had queued (produces, fan-out) drains before
// the next run, which would otherwise measure it.
const settle = 500 * time.Millisecond

// jointRounds runs e.rounds joint sweeps of sides: the first cold, each
// later one starting from the median max of the rounds before it.
func (e *benchEnv) jointRounds(ctx context.Context, what string, start float64, bound time.Duration, names []string, sides []sweepSide) []jointRound {
	for i := range sides {
		run := sides[i].run
		sides[i].run = func(rate float64) Result {
			r := run(rate)
			if !r.meets(bound) {
				time.Sleep(settle)
			}
			return r
		}
	}
	// Warm-up, not counted: the first run of a cold process (its
	// connections, caches and heap growing) would decide round 1.
	fmt.Fprintf(e.stderr, "%s, warm-up\n", what)
	for i, sd := range sides {
		r := sd.run(cmp.Or(sd.start, start) / 2)
		fmt.Fprintf(e.stderr, "  %-16s %s\n", names[i], r)
	}
	var rounds []jointRound
	for round := range e.rounds {
		fmt.Fprintf(e.stderr, "%s, round %d\n", what, round+1)
		if round > 0 {
			for i := range sides {
				sides[i].hint = maxes(rounds, i).median()
			}
		}
		rounds = append(rounds, jointSweep(ctx, start, e.steps, bound, sides, func(i int, r Result) {
			fmt.Fprintf(e.stderr, "  %-16s %s\n", names[i], r)
		}))
	}
	return rounds
}

// maxes is side i's max rate in each round.
func maxes(rounds []jointRound, i int) spread {
	var s spread
	for _, r := range rounds {
		s = append(s, r.max[i])
	}
	return s
}

// ratios is side a's max rate over side b's in each round.
func ratios(rounds []jointRound, a, b int) spread {
	var s spread
	for _, r := range rounds {
		if r.max[b] > 0 {
			s = append(s, r.max[a]/r.max[b])
		} else {
			s = append(s, 0)
		}
	}
	return s
}

// jointSummary says at which rate every side met the bound in the rounds
// and their p99s there, side by side (medians over the rounds, ranges in
// parentheses).
func jointSummary(rounds []jointRound, names []string, bound time.Duration) string {
	var at spread
	p99 := make([]spread, len(names))
	missed := make([]int, len(names))
	for _, r := range rounds {
		at = append(at, r.at)
		if r.at <= 0 {
			continue
		}
		for i := range names {
			p99[i] = append(p99[i], r.p99[i])
			if !r.ok[i] {
				missed[i]++
			}
		}
	}
	var parts []string
	for i, n := range names {
		p := fmt.Sprintf("%s %s", n, p99[i].brief("%.2f", " ms"))
		if missed[i] > 0 {
			p += fmt.Sprintf(", over the bound in %d of them when run again", missed[i])
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("all meet p99 < %s up to %s; p99 at that rate: %s", fmtDur(bound), at.brief("%.0f", "/s"), strings.Join(parts, "; "))
}

// fmtDur prints a bound as "5 ms".
func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%g ms", float64(d.Microseconds())/1000)
}

// roundLines are the details of each round of a joint sweep.
func roundLines(rounds []jointRound, names []string) []string {
	var lines []string
	for k, r := range rounds {
		var parts []string
		for i, n := range names {
			parts = append(parts, fmt.Sprintf("%s max %.0f/s, p99 %.2f ms at %.0f/s", n, r.max[i], r.p99[i], r.at))
		}
		lines = append(lines, fmt.Sprintf("  round %d: %s", k+1, strings.Join(parts, "; ")))
	}
	return lines
}
