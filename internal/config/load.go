package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/activitylog/activitylog"
	"go.yaml.in/yaml/v3"
)

// Flags are the flags of one subcommand, bound to a flag.FlagSet by
// Bind. It keeps the text of each flag given, in order, and parses it in
// Load, so that a bad flag value is reported as any bad setting is.
type Flags struct {
	config    string
	configSet bool
	given     []given
}

type given struct {
	s    *Setting
	text string
}

// Bind defines on fs the --config flag and a flag for each setting that
// command takes (see For). Call Load after fs.Parse.
func Bind(fs *flag.FlagSet, command string) *Flags {
	f := &Flags{}
	fs.Var(&configValue{f}, ConfigFlag, "YAML configuration file")
	for _, s := range For(command) {
		fs.Var(&settingValue{f: f, s: s}, s.Flag, s.Usage)
	}
	return f
}

type configValue struct{ f *Flags }

func (v *configValue) String() string {
	if v == nil || v.f == nil {
		return ""
	}
	return v.f.config
}

func (v *configValue) Set(s string) error {
	v.f.config, v.f.configSet = s, true
	return nil
}

type settingValue struct {
	f    *Flags
	s    *Setting
	text string
}

func (v *settingValue) String() string {
	if v == nil {
		return ""
	}
	return v.text
}

func (v *settingValue) Set(text string) error {
	v.text = text
	v.f.given = append(v.f.given, given{v.s, text})
	return nil
}

// IsBoolFlag lets a boolean setting be given as --demo, without a value.
func (v *settingValue) IsBoolFlag() bool { return v != nil && v.s != nil && v.s.Bool() }

// Load returns the configuration made of the defaults, the YAML file
// (the --config flag, else ACTIVITYLOG_CONFIG), the environment as
// lookupEnv reports it (os.LookupEnv in the command), and the flags
// given, each layer winning over the one before, and validated. An
// environment variable that is set but empty counts as unset.
//
// A nil f means no flags were given.
func (f *Flags) Load(lookupEnv func(string) (string, bool)) (Config, error) {
	c, _, errs := f.load(lookupEnv, false)
	if len(errs) > 0 {
		return c, errs[0]
	}
	return c, nil
}

// Check loads the configuration as Load does, but goes on past each
// refused value to report every one (and every problem of the file), in
// the order Load meets them. It also returns where each key's value
// came from: the file and line, the environment variable or the flag;
// a key that is absent has its default.
func (f *Flags) Check(lookupEnv func(string) (string, bool)) (Config, map[string]string, []error) {
	return f.load(lookupEnv, true)
}

func (f *Flags) load(lookupEnv func(string) (string, bool), all bool) (Config, map[string]string, []error) {
	if f == nil {
		f = &Flags{}
	}
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	c := Default()
	sources := map[string]string{}
	var errs []error
	// fail records err, and says whether to stop.
	fail := func(err error) bool {
		errs = append(errs, err)
		return !all
	}

	path := f.config
	if !f.configSet {
		path, _ = lookupEnv(ConfigEnv)
	}
	if path != "" {
		var ferrs []error
		if err := loadFile(&c, path, sources, &ferrs, all); err != nil {
			ferrs = append(ferrs, err)
		}
		for _, err := range ferrs {
			if fail(err) {
				return c, sources, errs
			}
		}
	}
	for _, s := range Settings {
		text, ok := lookupEnv(s.Env)
		if !ok || text == "" {
			continue
		}
		if err := set(&c, s, text, s.Env, sources); err != nil && fail(err) {
			return c, sources, errs
		}
	}
	for _, g := range f.given {
		if err := set(&c, g.s, g.text, "--"+g.s.Flag, sources); err != nil && fail(err) {
			return c, sources, errs
		}
	}
	// A Recorder refuses a Commit larger than its queue: unless it was
	// set, max_batch follows a smaller queue_size.
	if _, set := sources["max_batch"]; !set && c.MaxBatch > c.QueueSize && c.QueueSize > 0 {
		c.MaxBatch = c.QueueSize
	}
	if len(errs) > 0 {
		// Checks that read several settings would judge values that
		// were refused (left at their defaults): only the values that
		// parsed are checked, and only their own check.
		refused := map[string]bool{}
		for _, err := range errs {
			var ce *Error
			if errors.As(err, &ce) {
				refused[ce.Key] = true
			}
		}
		for _, s := range Settings {
			if refused[s.Key] {
				continue
			}
			if err := s.validate(&c); err != nil {
				err.(*Error).Source = sources[s.Key]
				errs = append(errs, err)
			}
		}
		return c, sources, errs
	}
	for _, s := range Settings {
		if err := s.validate(&c); err != nil {
			err.(*Error).Source = sources[s.Key]
			if fail(err) {
				return c, sources, errs
			}
		}
	}
	return c, sources, errs
}

func set(c *Config, s *Setting, text, source string, sources map[string]string) error {
	if reason := parse(s.field(c), text); reason != "" {
		if s.Secret {
			text = activitylog.DefaultMask
		} else if s.redact != nil {
			text = s.redact(text)
		}
		return &Error{Key: s.Key, Value: text, Reason: reason, Source: source}
	}
	sources[s.Key] = source
	return nil
}

// FileError is a YAML file that could not be read or parsed.
type FileError struct {
	Path string
	Line int    // 0 when the error is not about one line
	Msg  string // what is wrong
	Err  error  // the underlying error, if any
}

func (e *FileError) Error() string {
	s := "config: " + e.Path
	if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	return s + ": " + e.Msg
}

func (e *FileError) Unwrap() error { return e.Err }

// fileType is a struct with a yaml.Node field per setting, tagged with
// its key, so that the decoder refuses unknown keys (KnownFields) and
// keeps each value's line for error messages.
var fileType = func() reflect.Type {
	fields := make([]reflect.StructField, len(Settings))
	for i, s := range Settings {
		fields[i] = reflect.StructField{
			Name: "F" + strconv.Itoa(i),
			Type: reflect.TypeFor[yaml.Node](),
			Tag:  reflect.StructTag(`yaml:"` + s.Key + `"`),
		}
	}
	return reflect.StructOf(fields)
}()

// MaxFileBytes bounds the YAML file: every setting fits in a few
// kilobytes, and reading is bounded so that a wrong path (a log, a
// database, /dev/zero) is refused rather than read into memory whole.
const MaxFileBytes = 1 << 20

func loadFile(c *Config, path string, sources map[string]string, errs *[]error, all bool) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	return loadYAML(c, path, b, sources, errs, all)
}

// readFile reads the YAML file at path, at most MaxFileBytes of it.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Msg: "cannot read: " + unwrapPathError(err), Err: err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &FileError{Path: path, Msg: "cannot read: " + unwrapPathError(err), Err: err}
	}
	if len(b) > MaxFileBytes {
		return nil, &FileError{Path: path, Msg: "is larger than " + strconv.Itoa(MaxFileBytes>>20) + " MiB: is it the configuration file?"}
	}
	return b, nil
}

// loadYAML sets c from the YAML document b, read from path. With all,
// the values refused are appended to errs and the others still set;
// otherwise the first is returned.
func loadYAML(c *Config, path string, b []byte, sources map[string]string, errs *[]error, all bool) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	v := reflect.New(fileType)
	if err := dec.Decode(v.Interface()); err != nil && !errors.Is(err, io.EOF) {
		// With all, unknown keys and the like (a TypeError: the rest
		// of the document was decoded) are reported and the known
		// keys still judged.
		var te *yaml.TypeError
		if !all || !errors.As(err, &te) {
			return yamlError(path, err)
		}
		*errs = append(*errs, yamlError(path, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return &FileError{Path: path, Line: extra.Line, Msg: "has a second YAML document; put every setting in one"}
	}
	for i, s := range Settings {
		n := v.Elem().Field(i).Interface().(yaml.Node)
		// An alias (key: *name) stands for the node its anchor marks.
		for line := n.Line; n.Kind == yaml.AliasNode && n.Alias != nil; {
			n = *n.Alias
			n.Line = line
		}
		switch {
		case n.Kind == 0: // absent
			continue
		case n.Kind != yaml.ScalarNode:
			return &FileError{Path: path, Line: n.Line, Msg: s.Key + ": must be a single value, not a list or a mapping"}
		case n.Tag == "!!null": // "key:" with no value: as if absent
			continue
		}
		if err := set(c, s, n.Value, path+" line "+strconv.Itoa(n.Line), sources); err != nil {
			if !all {
				return err
			}
			*errs = append(*errs, err)
		}
	}
	return nil
}

func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (.+) not found in type`)
	lineMsg      = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// yamlError rephrases the decoder's errors: an unknown key is named,
// with the known keys and, when one is close, a suggestion.
func yamlError(path string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := lineMsg.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return &FileError{Path: path, Line: line, Msg: "is not valid YAML: " + msg, Err: err}
	}
	var errs []error
	for _, e := range te.Errors {
		if m := unknownField.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			msg := "unknown key " + strconv.Quote(m[2])
			if k := closest(m[2]); k != "" {
				msg += " (did you mean " + strconv.Quote(k) + "?)"
			}
			errs = append(errs, &FileError{Path: path, Line: line, Msg: msg + "; known keys: " + knownKeys(), Err: err})
			continue
		}
		msg, line := e, 0
		if m := lineMsg.FindStringSubmatch(e); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		if strings.Contains(msg, "into struct") {
			msg = "must be a mapping of keys to values, like \"addr: 127.0.0.1:8080\""
		}
		errs = append(errs, &FileError{Path: path, Line: line, Msg: msg, Err: err})
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

func knownKeys() string {
	keys := make([]string, len(Settings))
	for i, s := range Settings {
		keys[i] = s.Key
	}
	return strings.Join(keys, ", ")
}

// closest returns the key nearest to k by edit distance, if it is near
// enough to be a slip (one edit in a short key, two in a long one; or k
// is the flag spelling of it), else "".
func closest(k string) string {
	norm := strings.ReplaceAll(strings.ToLower(k), "-", "_")
	best, bestD := "", min(2, max(1, len(norm)/3))+1
	for _, s := range Settings {
		if d := distance(norm, s.Key); d < bestD {
			best, bestD = s.Key, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Describe returns the other names and the default of the setting, as
// help texts show them: "env ACTIVITYLOG_ADDR, yaml addr, default
// 127.0.0.1:8080".
func (s *Setting) Describe() string {
	def := s.Default()
	if def == "" {
		def = `""`
	}
	return fmt.Sprintf("env %s, yaml %s, default %s", s.Env, s.Key, def)
}
