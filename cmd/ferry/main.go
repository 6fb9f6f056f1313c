// Command ferry is an event-driven HTTP gateway for Apache Kafka.
//
//	ferry serve -c ferry.yaml   run the gateway
//	ferry check ferry.yaml      validate a config and exit
//	ferry token --scope S       mint a dev JWT (testdata/keys, dev only)
//	ferry respond --echo        run a demo responder
//	ferry replay TOPIC          print a topic's records from a gateway
//	ferry tail STREAM           follow a stream of a gateway
//	ferry healthcheck [URL]     exit 0 when /readyz answers 200
//	ferry version               print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `ferry is an event-driven HTTP gateway for Apache Kafka.

Usage:
  ferry serve -c FILE     run the gateway with the config FILE (--config)
  ferry check FILE        validate a config file (or -c FILE); exit 1 listing every problem
  ferry token [flags]     mint a dev JWT signed with testdata/keys/dev-jwt.key (dev only)
  ferry respond --echo    run a demo responder that answers request/response routes
  ferry replay TOPIC      print a topic's records between two points in time (--from -15m)
  ferry tail STREAM       print a stream's records as they arrive
  ferry healthcheck [URL] exit 0 if the gateway's /readyz answers 200 (containers)
  ferry version           print the version

Run 'ferry COMMAND -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a command-line mistake: exit code 2.
var errUsage = errors.New("usage")

// run dispatches a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(ctx, args[1:], stderr)
	case "check":
		err = checkCmd(args[1:], stdout, stderr)
	case "token":
		err = tokenCmd(args[1:], stdout, stderr)
	case "respond":
		err = respondCmd(ctx, args[1:], stderr)
	case "replay":
		err = replayCmd(ctx, args[1:], stdout, stderr)
	case "tail":
		err = tailCmd(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		err = healthcheckCmd(ctx, args[1:], stderr)
	case "version":
		fmt.Fprintln(stdout, "ferry", version)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
}
