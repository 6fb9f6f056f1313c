package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// errInvalidConfig is returned after the config's problems were printed.
var errInvalidConfig = errors.New("invalid config")

// checkCmd validates a config file and prints every problem, one per line.
func checkCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: ferry check FILE") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(fs.Arg(0))
	if err != nil {
		fmt.Fprint(stderr, formatErrors(err))
		return errInvalidConfig
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes, %d schemas)\n", fs.Arg(0), len(cfg.table.Routes()), len(cfg.schemas.IDs()))
	return nil
}
