package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/activitylog/activitylog/internal/config"
)

const width = 78

const precedence = "Every setting can be given as a flag, as an environment variable, or as a key of a YAML file " +
	"named by --config or ACTIVITYLOG_CONFIG (unknown keys are refused). Flags win over the environment, " +
	"which wins over the file, which wins over the defaults. An empty environment variable counts as unset. " +
	"Durations are written like 200ms, 5s or 1m30s."

func shortUsage() string {
	return commandList() + "\nRun 'activitylog help' for every flag, or 'activitylog <command> --help'.\n"
}

func commandList() string {
	var b strings.Builder
	b.WriteString("Usage: activitylog <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s  %s\n", c.name, c.summary)
	}
	return b.String()
}

// fullUsage documents every command and every flag.
func fullUsage(w io.Writer) {
	fmt.Fprintln(w, "activitylog: an audit trail for Go services, with its REST API.")
	fmt.Fprintln(w)
	fmt.Fprint(w, commandList())
	fmt.Fprintln(w)
	fmt.Fprint(w, wrap(precedence, 0))
	for _, c := range commands {
		if !c.flags {
			continue
		}
		if c.subs != nil {
			groupFlagHelp(w, c)
			continue
		}
		fmt.Fprintf(w, "\nFlags of activitylog %s:\n", c.name)
		flagHelp(w, c)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, wrap(exitStatus, 0))
}

const exitStatus = "Exit status: 0 on success, 1 when the command fails, 2 for a bad command line or configuration."

// commandUsage documents one command and its flags.
func commandUsage(w io.Writer, c *command) {
	if c.subs != nil {
		fmt.Fprint(w, subList(c))
		fmt.Fprintln(w)
		fmt.Fprint(w, wrap(c.about, 0))
		fmt.Fprintln(w)
		fmt.Fprint(w, wrap(precedence, 0))
		groupFlagHelp(w, c)
		fmt.Fprintln(w)
		fmt.Fprint(w, wrap(exitStatus, 0))
		return
	}
	if c.synopsis != "" {
		fmt.Fprintf(w, "Usage: activitylog %s\n\n", c.synopsis)
	} else if c.flags {
		fmt.Fprintf(w, "Usage: activitylog %s [flags]\n\n", c.name)
	} else {
		fmt.Fprintf(w, "Usage: activitylog %s\n\n", c.name)
	}
	fmt.Fprint(w, wrap(c.about, 0))
	if c.flags {
		fmt.Fprintln(w)
		fmt.Fprint(w, wrap(precedence, 0))
		fmt.Fprintln(w, "\nFlags:")
		flagHelp(w, c)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, wrap(exitStatus, 0))
}

func flagHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "  --%s FILE\n", config.ConfigFlag)
	fmt.Fprint(w, wrap("YAML file of settings, keyed by the yaml names shown here; it may hold the settings of every command.", 6))
	fmt.Fprint(w, wrap("env "+config.ConfigEnv+", default none", 6))
	for _, s := range config.For(c.name) {
		if s.Arg == "" {
			fmt.Fprintf(w, "  --%s\n", s.Flag)
		} else {
			fmt.Fprintf(w, "  --%s %s\n", s.Flag, s.Arg)
		}
		fmt.Fprint(w, wrap(s.Usage, 6))
		fmt.Fprintf(w, "      %s\n", s.Describe()) // one line, however long: it is looked up as a whole
	}
}

// subUsage documents one subcommand and its flags.
func subUsage(w io.Writer, c *command, s *subcommand) {
	fmt.Fprintf(w, "Usage: activitylog %s %s [flags]%s\n\n", c.name, s.name, strings.TrimRight(" "+s.args, " "))
	fmt.Fprint(w, wrap(s.summary+".", 0))
	fmt.Fprintln(w)
	fmt.Fprint(w, wrap(c.about, 0))
	fmt.Fprintln(w, "\nFlags:")
	subFlagHelp(w, c, s)
	fmt.Fprintln(w)
	fmt.Fprint(w, wrap(exitStatus, 0))
}

// groupFlagHelp documents the flags of every subcommand of c: the
// configuration flags they share, then each one's own.
func groupFlagHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "\nFlags of every activitylog %s subcommand:\n", c.name)
	flagHelp(w, c)
	for _, s := range c.subs {
		var b strings.Builder
		ownFlagHelp(&b, s)
		if b.Len() > 0 {
			// A command run with no subcommand named (verify, cleanup)
			// has one whose name is "".
			fmt.Fprintf(w, "\nFlags of activitylog %s:\n%s", strings.TrimSpace(c.name+" "+s.name), b.String())
		}
	}
}

// subFlagHelp documents the configuration flags of c and the flags of
// its subcommand s.
func subFlagHelp(w io.Writer, c *command, s *subcommand) {
	flagHelp(w, c)
	ownFlagHelp(w, s)
}

// ownFlagHelp documents the flags of s that are not settings.
func ownFlagHelp(w io.Writer, s *subcommand) {
	fs := flag.NewFlagSet(s.name, flag.ContinueOnError)
	s.define(fs)
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if _, ok := f.Value.(interface{ IsBoolFlag() bool }); ok {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s\n", strings.TrimSpace(f.Name+" "+arg))
		fmt.Fprint(w, wrap(usage, 6))
	})
}

// wrap breaks text into lines of at most width columns, each indented
// by indent spaces, and ends it with a newline.
func wrap(text string, indent int) string {
	var b strings.Builder
	pad := strings.Repeat(" ", indent)
	line := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && line+1+len(word) > width {
			b.WriteString("\n")
			line = 0
		}
		if line == 0 {
			b.WriteString(pad)
			line = indent
		} else {
			b.WriteString(" ")
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	b.WriteString("\n")
	return b.String()
}
