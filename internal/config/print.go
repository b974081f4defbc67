package config

import (
	"flag"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/activitylog/activitylog"
	"go.yaml.in/yaml/v3"
)

// Print writes c as a YAML configuration file, every setting in the
// order of Settings, each with where its value came from as a comment
// (sources as Check returns them; "default" when absent). Secrets are
// masked and URLs' passwords hidden (Setting.Value), so the output can
// be shown and shared; with the secrets given again, it loads back into
// the same configuration.
func Print(w io.Writer, c *Config, sources map[string]string) error {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range Settings {
		v := s.Value(c)
		tag := "!!str"
		switch s.field(c).(type) {
		case *bool:
			tag = "!!bool"
		case *int, *int64:
			tag = "!!int"
		}
		src := sources[s.Key]
		if src == "" {
			src = "default"
		}
		if s.Secret && v != "" {
			src += ", secret: masked"
		}
		doc.Content = append(doc.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.Key},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v, LineComment: src})
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

// Reserved prefixes of environment variables that are not settings: the
// project's own tests and benchmarks read them.
var reservedEnv = []string{"ACTIVITYLOG_TEST_", "ACTIVITYLOG_BENCH_"}

// UnknownEnv returns an error for each variable of environ (os.Environ's
// form, NAME=value) whose name starts with ACTIVITYLOG_ but names no
// setting, ConfigEnv, or a reserved prefix (ACTIVITYLOG_TEST_,
// ACTIVITYLOG_BENCH_): a misspelt variable is refused, never silently
// ignored. A nil environ means os.Environ().
func UnknownEnv(environ []string) []error {
	if environ == nil {
		environ = os.Environ()
	}
	var errs []error
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "ACTIVITYLOG_") || name == ConfigEnv ||
			slices.ContainsFunc(reservedEnv, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		if slices.ContainsFunc(Settings, func(s *Setting) bool { return s.Env == name }) {
			continue
		}
		e := &EnvError{Name: name}
		if k := closest(strings.ToLower(strings.TrimPrefix(name, "ACTIVITYLOG_"))); k != "" {
			e.Suggest = "ACTIVITYLOG_" + strings.ToUpper(k)
		}
		errs = append(errs, e)
	}
	return errs
}

// BindAll is Bind with a flag for every setting, whichever commands
// take it: activitylog config print and check judge the configuration
// of any command.
func BindAll(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.Var(&configValue{f}, ConfigFlag, "YAML configuration file")
	for _, s := range Settings {
		fs.Var(&settingValue{f: f, s: s}, s.Flag, s.Usage)
	}
	return f
}

// EnvError is an ACTIVITYLOG_ environment variable that names no
// setting. It wraps activitylog.ErrInvalid.
type EnvError struct {
	Name    string // the variable, e.g. ACTIVITYLOG_QUEUE_SZIE
	Suggest string // the setting's variable it is closest to, if any
}

func (e *EnvError) Error() string {
	s := "config: environment variable " + e.Name + " names no setting"
	if e.Suggest != "" {
		s += " (did you mean " + e.Suggest + "?)"
	}
	return s + "; a setting's variable is ACTIVITYLOG_ and its key in upper case (docs/configuration.md)"
}

// Unwrap returns activitylog.ErrInvalid.
func (e *EnvError) Unwrap() error { return activitylog.ErrInvalid }
