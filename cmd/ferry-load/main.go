// Command ferry-load is ferry's open-loop load generator and benchmark
// driver. Operations start at fixed intervals whatever the server does, and
// latency is measured from each operation's intended start (so a stalled
// server cannot hide its queue), into HdrHistograms. With --closed it is a
// closed-loop generator instead, as wrk is: each connection sends its next
// request as soon as the previous one answered.
//
//	ferry-load publish --url http://127.0.0.1:8080/v1/orders --body order.json --rate 2000
//	ferry-load publish --url ... --sweep --p99 5ms      find the highest rate with p99 < 5ms
//	ferry-load publish --url ... --closed --conns 64    closed loop (wrk's model): the most it serves
//	ferry-load baseline bare                            serve the bare-Fiber baseline
//	ferry-load bench [--quick] [--runs 2]               every scenario next to its baseline
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ferry-load:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage:
  ferry-load publish  --url URL [--body FILE] [-H 'Name: value'] (--rate R | --sweep [--p99 5ms] | --closed [--conns 64]) [--duration 10s] [--pid PID]
  ferry-load request-reply --url URL ...   (same flags; a 200 is success)
  ferry-load baseline bare|kafka|kafka-reply|sse|pending [--brokers host:port --topic T] [--hold 15s]
  ferry-load bench [--quick] [--runs 2] [--only publish,closed,...] [--ferry bin/ferry] [--out BENCHMARKS.md]
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "publish":
		return loadCmd(ctx, args[1:], 202, stdout, stderr)
	case "request-reply":
		return loadCmd(ctx, args[1:], 200, stdout, stderr)
	case "baseline":
		return baselineCmd(ctx, args[1:], stdout)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "hold-sse": // the idle scenario's child processes (hold.go)
		return holdCmd(ctx, args[1:], os.Stdin, stdout)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

type headerFlags [][2]string

func (h *headerFlags) String() string { return fmt.Sprint(*h) }
func (h *headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("header %q: want 'Name: value'", v)
	}
	*h = append(*h, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	return nil
}

// loadCmd runs publish or request-reply load against a URL.
func loadCmd(ctx context.Context, args []string, want int, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "target `URL`")
	bodyFile := fs.String("body", "", "request body `file` (default: a small JSON object)")
	rate := fs.Float64("rate", 1000, "operations per second")
	dur := fs.Duration("duration", 10*time.Second, "how long to run at each rate")
	workers := fs.Int("workers", 512, "most operations in flight")
	doSweep := fs.Bool("sweep", false, "find the highest rate with p99 under --p99")
	closed := fs.Bool("closed", false, "closed loop instead: --conns connections, each sending its next request as soon as the previous one answered, for --duration")
	conns := fs.Int("conns", 64, "connections of --closed")
	p99 := fs.Duration("p99", 5*time.Millisecond, "p99 bound for --sweep")
	pid := fs.Int("pid", 0, "server `PID` whose CPU and RSS to report")
	var headers headerFlags
	fs.Var(&headers, "H", "request header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("--url is required")
	}
	body := []byte(`{"customer_id":"c-1","items":[{"sku":"A-1","qty":1,"price":1}]}`)
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			return err
		}
		body = b
	}
	if *closed && *doSweep {
		return errors.New("--closed and --sweep exclude each other")
	}
	if *closed {
		*workers = *conns
	}
	ht, err := newHTTPTarget("POST", *target, body, want, *workers, 30*time.Second, headers...)
	if err != nil {
		return err
	}
	before, _ := procIf(*pid)
	var res Result
	switch {
	case *closed:
		res = runClosedLoop(ctx, *conns, *dur, ht.op)
	case *doSweep:
		res, _ = sweep(ctx, *rate, *dur, *p99, *workers, 12, ht.op, func(r Result) { fmt.Fprintln(stderr, "  ", r) })
	default:
		res = runOpenLoop(ctx, Plan{Rate: *rate, Duration: *dur, Workers: *workers}, ht.op)
	}
	fmt.Fprintln(stdout, res)
	if *pid != 0 {
		after, err := procIf(*pid)
		if err == nil && res.OK > 0 {
			fmt.Fprintf(stdout, "server: %.3f CPU s per 1000 requests, RSS %.1f MB\n",
				(after.CPUSeconds-before.CPUSeconds)*1000/float64(res.OK+res.Errors()), float64(after.RSSBytes)/(1<<20))
		}
	}
	return nil
}

func procIf(pid int) (procUsage, error) {
	if pid == 0 {
		return procUsage{}, errors.New("no pid")
	}
	return readProc(pid)
}
