package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/activitylog/activitylog/internal/config"
)

// processEnviron lists the process's environment; main sets it, so that
// the in-process tests, which pass their own lookupEnv, are not judged
// by the test process's variables.
var processEnviron func() []string

// unknownEnv reports the ACTIVITYLOG_ variables of the process that name
// no setting, which every command that reads the configuration refuses.
func unknownEnv() []error {
	if processEnviron == nil {
		return nil
	}
	return config.UnknownEnv(processEnviron())
}

var configCommand = &command{
	name:     "config",
	synopsis: "config print|check [flags]",
	summary:  "print the effective configuration, secrets masked, or check it",
	about: "activitylog config print shows every setting's value as the defaults, the YAML file (--config or ACTIVITYLOG_CONFIG), " +
		"the ACTIVITYLOG_* environment and the flags make it, each with where it came from, secrets masked; the output is a YAML file " +
		"that loads back. activitylog config check validates the same and reports every bad key and value, one a line, each naming " +
		"the key, the value and where it was set: unknown keys in the file, unknown ACTIVITYLOG_ variables, values that do not parse or " +
		"are out of range, and settings that do not go together. It exits 0 when the configuration is good, 2 when not. " +
		"Both take every setting as a flag, whichever command uses it (docs/configuration.md).",
}

func init() { configCommand.raw = runConfig }

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	usage := func() {
		fmt.Fprintln(stderr, "Usage: activitylog config print|check [--config FILE] [--SETTING VALUE …]")
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "activitylog config: no subcommand given: print or check")
		usage()
		return exitUsage
	}
	sub := args[0]
	switch sub {
	case "print", "check":
	case "-h", "-help", "--help", "help":
		commandUsage(stdout, configCommand)
		return exitOK
	default:
		fmt.Fprintf(stderr, "activitylog config: unknown subcommand %q: print or check\n", sub)
		usage()
		return exitUsage
	}
	name := "config " + sub
	fs := flag.NewFlagSet("activitylog "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := config.BindAll(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, configCommand)
			return exitOK
		}
		fmt.Fprintf(stderr, "activitylog %s: %s\n", name, flagError(err))
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "activitylog %s: unexpected argument %q\n", name, fs.Arg(0))
		return exitUsage
	}
	cfg, sources, errs := flags.Check(lookupEnv)
	errs = append(errs, unknownEnv()...)
	if sub == "print" {
		if len(errs) > 0 {
			fmt.Fprintf(stderr, "activitylog %s: the configuration is not valid; run activitylog config check for every problem: %v\n", name, errs[0])
			return exitUsage
		}
		if err := config.Print(stdout, &cfg, sources); err != nil {
			fmt.Fprintf(stderr, "activitylog %s: %v\n", name, err)
			return exitFailure
		}
		return exitOK
	}
	n := 0
	for _, err := range errs {
		// The file's unknown keys come joined: one line each.
		var j interface{ Unwrap() []error }
		if errors.As(err, &j) {
			for _, e := range j.Unwrap() {
				fmt.Fprintln(stdout, e)
				n++
			}
			continue
		}
		fmt.Fprintln(stdout, err)
		n++
	}
	if n > 0 {
		fmt.Fprintf(stderr, "activitylog config check: %d problem(s)\n", n)
		return exitUsage
	}
	fmt.Fprintf(stdout, "configuration OK: %d settings, %d set (%s)\n", len(config.Settings), len(sources), sourcesSummary(sources))
	return exitOK
}

// sourcesSummary says how many settings came from each kind of source.
func sourcesSummary(sources map[string]string) string {
	var file, env, flags int
	for _, s := range sources {
		switch {
		case len(s) > 2 && s[:2] == "--":
			flags++
		case len(s) > 12 && s[:12] == "ACTIVITYLOG_":
			env++
		default:
			file++
		}
	}
	return fmt.Sprintf("%d from the file, %d from the environment, %d from flags", file, env, flags)
}
