package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// printFlags prints fs's flags for a usage message, GNU style: one-letter
// flags as -c, longer ones as --name. A one-letter flag and its long
// alias (aliases maps "c" to "config") are one entry, "-c, --config FILE",
// where the flag package would list them as two flags.
func printFlags(w io.Writer, fs *flag.FlagSet, aliases map[string]string) {
	long := make(map[string]bool, len(aliases))
	for _, l := range aliases {
		long[l] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if long[f.Name] {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		var b strings.Builder
		b.WriteString("  " + dashed(f.Name))
		if l, ok := aliases[f.Name]; ok {
			b.WriteString(", " + dashed(l))
		}
		if name != "" {
			b.WriteString(" " + strings.ToUpper(name))
		}
		b.WriteString("\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch f.DefValue {
		case "", "0", "0s", "false", "[]":
		default:
			fmt.Fprintf(&b, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w, b.String())
	})
}

// dashed is a flag's name as typed: -c, --config.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
