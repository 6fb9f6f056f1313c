package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// errInvalidConfig is returned after the config's problems were printed.
var errInvalidConfig = errors.New("invalid config")

// defaultConfigFile is the config serve and respond read without -c.
const defaultConfigFile = "ferry.yaml"

// configAlias makes -c and --config one flag in usage messages.
var configAlias = map[string]string{"c": "config"}

// reportConfigError prints a config's problems and returns the error that
// run reports. A file that does not exist is named as such, not called an
// invalid config; with hint, the message says which file to pass.
func reportConfigError(stderr io.Writer, err error, hint bool) error {
	if errors.Is(err, errNoConfigFile) {
		if hint {
			return fmt.Errorf("%w; pass one with -c FILE (the quickstart, from the repository root: -c testdata/ferry.yaml)", err)
		}
		return err
	}
	fmt.Fprint(stderr, formatErrors(err))
	return errInvalidConfig
}

// checkCmd validates a config file and prints every problem, one per line,
// or its warnings (on stderr) and "ok".
func checkCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: ferry check FILE (or -c FILE, as serve takes it)") }
	var path string
	fs.StringVar(&path, "c", "", "config `file`")
	fs.StringVar(&path, "config", "", "config `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case path == "" && fs.NArg() == 1:
		path = fs.Arg(0)
	case path == "" || fs.NArg() != 0:
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return reportConfigError(stderr, err, false)
	}
	for _, w := range cfg.warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes, %d schemas)\n", path, len(cfg.table.Routes()), len(cfg.schemas.IDs()))
	return nil
}
