// Command activitylog runs the activitylog audit trail as a service: an
// embedded SQLite store, the Recorder that batches events into it, and
// the REST API that ingests and queries them.
//
//	activitylog serve --demo     # API on http://127.0.0.1:8080, a demo shop making events
//	activitylog migrate          # create or upgrade the schema, print its version
//	activitylog users create --username ann --permissions view_all_logs --password-stdin
//	activitylog api-keys create --name billing --scopes ingest --tenant acme
//	activitylog version
//	activitylog help [command]
//
// The API requires authentication (docs/authentication.md). On its
// first start over a database with no user and no API key, serve
// prints a superuser API key, once.
//
// Every setting is a flag, an ACTIVITYLOG_* environment variable and a
// key of an optional YAML file, in that order of precedence; run
// `activitylog help` for the full list.
//
// # Exit status
//
// 0 on success (serve: after a graceful shutdown on SIGINT or SIGTERM),
// 1 when a command fails at run time, 2 for a bad command line or a bad
// configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/activitylog/activitylog/internal/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	// The first SIGINT or SIGTERM ends ctx: serve drains its queue within
	// shutdown_timeout. The second closes force: serve stops waiting,
	// hands what is left to the spool (when spool_dir is set) and says
	// how many events it spooled. A third exits at once.
	ctx, cancel := context.WithCancel(context.Background())
	force := make(chan struct{})
	sig := make(chan os.Signal, 3)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		cancel()
		<-sig
		close(force)
		<-sig
		fmt.Fprintln(os.Stderr, "activitylog: third signal: exiting now")
		os.Exit(exitFailure)
	}()
	processEnviron = os.Environ
	os.Exit(run(withForce(ctx, force), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}

// command is one subcommand.
type command struct {
	name    string
	summary string // one line, for the command list
	about   string // a paragraph, for the command's help
	// synopsis, when set, is what follows "activitylog " on its usage
	// line, for a command whose arguments the flags do not say.
	synopsis string
	// flags says the command takes configuration flags (config.For).
	flags bool
	run   func(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error
	// subs, when set, are the command's subcommands (activitylog users
	// create), which run instead of run.
	subs []*subcommand
	// raw, when set, runs instead of both, with the arguments as given
	// and nothing loaded: activitylog config, which must judge a
	// configuration that does not load.
	raw func(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int
}

var commands = []*command{
	{
		name:    "serve",
		summary: "run the REST API; with --demo, also a demo shop that makes events",
		about: "Opens the SQLite database (running its migrations), starts the recorder that writes to it, " +
			"and serves the REST API: POST and GET /api/v1/events, GET /api/v1/events/{id}, /healthz, /readyz, " +
			"and the recorder's counters at GET /debug/vars. Every API route but /healthz, /readyz and /api/v1/openapi.json needs credentials: " +
			"an API key, a session from POST /api/v1/auth/login, or a JWT when a jwt_ key is set (docs/authentication.md). " +
			"On the first start over a database with no user and no API key, it prints a superuser API key, once. With --demo, a small instrumented shop is mounted " +
			"under /demo/ and driven by a traffic generator. With integrity_signing_key set, every stored event is sealed into a hash chain " +
			"with signed checkpoints, and the integrity API (public key, verify, proofs, a status per listed event) is mounted (docs/sealing.md). On SIGINT or SIGTERM it stops accepting requests, " +
			"writes every queued event and closes the database, within shutdown_timeout; a second signal stops it at once. " +
			"With store set, events go to that store (postgres://, mysql://, clickhouse://, mongodb://; docs/storage.md) while db keeps users and keys; " +
			"with nats_url, they are published to NATS JetStream for activitylog worker to store (docs/nats.md).",
		flags: true,
		run:   serve,
	},
	{
		name:    "migrate",
		summary: "create or upgrade the database schema, and print its version",
		about:   "Opens the SQLite database, applies the migrations it lacks, and prints the schema version and how many migrations were applied.",
		flags:   true,
		run:     migrate,
	},
	workerCommand,
	usersCommand,
	apiKeysCommand,
	databaseConfigsCommand,
	keysCommand,
	verifyCommand,
	exportCommand,
	cleanupCommand,
	purgeCommand,
	archiveCommand,
	configCommand,
	{
		name:    "version",
		summary: "print the version",
		about:   "Prints the version of this binary, from its build information.",
		run:     printVersion,
	},
	{
		name:    "help",
		summary: "print this help, or a command's: activitylog help serve",
	},
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run is the whole command, minus the process: it returns the exit
// code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "activitylog: no command given")
		fmt.Fprint(stderr, shortUsage())
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(rest, stdout, stderr)
	case "-version", "--version":
		name = "version"
	}
	cmd := lookup(name)
	if cmd == nil {
		if strings.HasPrefix(name, "-") {
			fmt.Fprintf(stderr, "activitylog: unknown flag %s: flags go after the command, as in: activitylog serve %s\n", name, name)
		} else {
			fmt.Fprintf(stderr, "activitylog: unknown command %q\n", name)
		}
		fmt.Fprint(stderr, shortUsage())
		return exitUsage
	}
	if cmd.raw != nil {
		return cmd.raw(ctx, rest, stdout, stderr, lookupEnv)
	}
	if cmd.subs != nil {
		return runSub(ctx, cmd, rest, stdin, stdout, stderr, lookupEnv)
	}

	fs, flags := flagSet(cmd)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, cmd)
			return exitOK
		}
		fmt.Fprintf(stderr, "activitylog %s: %s\nRun 'activitylog %s --help' for usage.\n", cmd.name, flagError(err), cmd.name)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "activitylog %s: unexpected argument %q\nRun 'activitylog %s --help' for usage.\n", cmd.name, fs.Arg(0), cmd.name)
		return exitUsage
	}
	var cfg config.Config
	if cmd.flags {
		var err error
		if cfg, err = flags.Load(lookupEnv); err != nil {
			fmt.Fprintf(stderr, "activitylog %s: %v\n", cmd.name, err)
			return exitUsage
		}
		if errs := unknownEnv(); len(errs) > 0 {
			fmt.Fprintf(stderr, "activitylog %s: %v\n", cmd.name, errors.Join(errs...))
			return exitUsage
		}
	}
	if err := cmd.run(ctx, cfg, stdout, stderr); err != nil {
		if errors.Is(err, errUsage) {
			// A setting the command needs and lacks (worker without
			// nats_url): a bad configuration, found before any work.
			fmt.Fprintf(stderr, "activitylog %s: %s\n", cmd.name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
			return exitUsage
		}
		fmt.Fprintf(stderr, "activitylog %s: %v\n", cmd.name, err)
		return exitFailure
	}
	return exitOK
}

// flagSet returns the flags of cmd: the configuration flags if it takes
// them, and -h/--help in any case.
func flagSet(cmd *command) (*flag.FlagSet, *config.Flags) {
	fs := flag.NewFlagSet("activitylog "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed by run
	var flags *config.Flags
	if cmd.flags {
		flags = config.Bind(fs, cmd.name)
	}
	return fs, flags
}

// flagError rephrases the flag package's errors with the -- spelling
// that the help shows.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag --" + name + " needs a value"
	}
	return strings.Replace(msg, " for flag -", " for flag --", 1)
}

// badValue matches the flag package's error for a value its flag
// refuses: invalid value "x" for flag -name: parse error, or invalid
// boolean value "x" for -name: ….
var badValue = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:]+): (.*)$`)

// flagErrorIn is flagError for the flags of fs: a value refused by a
// flag of the standard types is named with the flag and what it must
// be, rather than the flag package's "parse error".
func flagErrorIn(fs *flag.FlagSet, err error) string {
	m := badValue.FindStringSubmatch(err.Error())
	if m == nil {
		return flagError(err)
	}
	value, name, reason := m[1], m[2], m[3]
	if f := fs.Lookup(name); f != nil {
		g, _ := f.Value.(flag.Getter)
		var v any
		if g != nil {
			v = g.Get()
		}
		switch v.(type) {
		case bool:
			reason = "is not a boolean: use true or false"
		case time.Duration:
			reason = "is not a duration: use a number and a unit, like 30m or 720h"
		case int, int64, uint, uint64:
			reason = "is not an integer"
			if strings.HasSuffix(m[3], "out of range") {
				reason = "is out of range"
			}
		}
	}
	return "--" + name + " " + value + ": " + reason
}

func help(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0, len(args) == 1 && slices.Contains([]string{"-h", "-help", "--help"}, args[0]):
		fullUsage(stdout)
		return exitOK
	case len(args) > 1:
		fmt.Fprintf(stderr, "activitylog help: unexpected argument %q\n", args[1])
		return exitUsage
	}
	cmd := lookup(args[0])
	if cmd == nil || cmd.name == "help" {
		if cmd != nil {
			fullUsage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "activitylog help: unknown command %q\n", args[0])
		fmt.Fprint(stderr, shortUsage())
		return exitUsage
	}
	commandUsage(stdout, cmd)
	return exitOK
}
