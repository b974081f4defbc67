package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "activitylog.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load parses args as the flags of command and loads with environment e.
func load(t *testing.T, command string, args []string, e map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Bind(fs, command)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return f.Load(env(e))
}

func TestDefaults(t *testing.T) {
	c, err := load(t, "serve", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c, Default(); got != want {
		t.Errorf("got %+v, want the defaults %+v", got, want)
	}
	if c.Addr != "127.0.0.1:8080" || c.DB != "./activitylog.db" || c.DemoInterval != 200*time.Millisecond || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("defaults changed: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

// Each layer wins over the one before: defaults < file < env < flags.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
addr: 127.0.0.1:1001     # file only
db: /from/file.db        # file, env
service: from-file       # file, env, flag
on_full: drop            # file, flag
queue_size: 100
flush_interval: 50ms
demo: true
`)
	e := map[string]string{
		"ACTIVITYLOG_CONFIG":     file,
		"ACTIVITYLOG_DB":         "/from/env.db",
		"ACTIVITYLOG_SERVICE":    "from-env",
		"ACTIVITYLOG_BATCH_SIZE": "7", // env only
		"ACTIVITYLOG_LOG_LEVEL":  "",  // empty: unset
	}
	c, err := load(t, "serve", []string{"--service", "from-flag", "--on-full=fail", "--mode", "sync"}, e)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Addr = "127.0.0.1:1001"
	want.DB = "/from/env.db"
	want.Service = "from-flag"
	want.OnFull = "fail"
	want.Mode = "sync"
	want.QueueSize = 100
	want.MaxBatch = 100 // max_batch follows a smaller queue_size unless set
	want.BatchSize = 7
	want.FlushInterval = 50 * time.Millisecond
	want.Demo = true
	if c != want {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

// --config wins over ACTIVITYLOG_CONFIG; the last of a repeated flag wins.
func TestConfigFlagAndRepeats(t *testing.T) {
	a := writeFile(t, "service: a\n")
	b := writeFile(t, "service: b\n")
	c, err := load(t, "serve", []string{"--config", b, "--db", "1.db", "--db", "2.db"}, map[string]string{"ACTIVITYLOG_CONFIG": a})
	if err != nil {
		t.Fatal(err)
	}
	if c.Service != "b" || c.DB != "2.db" {
		t.Errorf("service %q db %q, want b 2.db", c.Service, c.DB)
	}
}

func TestBoolFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want bool
	}{
		{nil, "", false},
		{[]string{"--demo"}, "", true},
		{[]string{"--demo=false"}, "true", false},
		{nil, "1", true},
	} {
		c, err := load(t, "serve", tc.args, map[string]string{"ACTIVITYLOG_DEMO": tc.env})
		if err != nil {
			t.Fatal(err)
		}
		if c.Demo != tc.want {
			t.Errorf("args %v env %q: demo %v, want %v", tc.args, tc.env, c.Demo, tc.want)
		}
	}
}

// Every refusal names the key, the value and where it came from.
func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{
			name: "enum from flag", args: []string{"--on-full", "sometimes"},
			want: `config: on_full "sometimes": must be one of block, drop, fail (set by --on-full)`,
		},
		{
			name: "enum from env", env: map[string]string{"ACTIVITYLOG_MODE": "eventually"},
			want: `config: mode "eventually": must be one of async, sync (set by ACTIVITYLOG_MODE)`,
		},
		{
			name: "duration from flag", args: []string{"--flush-interval", "soon"},
			want: `config: flush_interval "soon": is not a duration`,
		},
		{
			name: "duration without unit from file", file: "shutdown_timeout: 30\n",
			want: `config: shutdown_timeout "30": is not a duration`,
		},
		{
			name: "int from env", env: map[string]string{"ACTIVITYLOG_QUEUE_SIZE": "lots"},
			want: `config: queue_size "lots": is not an integer (set by ACTIVITYLOG_QUEUE_SIZE)`,
		},
		{
			name: "int from file", file: "service: x\nbatch_size: 1.5\n",
			want: `config: batch_size "1.5": is not an integer (set by `, // … the file's path and "line 2)"
		},
		{
			name: "bool", args: []string{"--demo=maybe"},
			want: `config: demo "maybe": is not a boolean`,
		},
		{
			name: "range", args: []string{"--queue-size", "0"},
			want: `config: queue_size "0": must be between 1 and 1000000 (set by --queue-size)`,
		},
		{
			name: "negative duration", env: map[string]string{"ACTIVITYLOG_BLOCK_TIMEOUT": "-1s"},
			want: `config: block_timeout "-1s": must be positive (set by ACTIVITYLOG_BLOCK_TIMEOUT)`,
		},
		{
			name: "cross-field", args: []string{"--queue-size", "100", "--max-batch", "200"},
			want: `config: max_batch "200": must not be more than queue_size 100 (set by --max-batch)`,
		},
		{
			name: "addr", args: []string{"--addr", "localhost"},
			want: `config: addr "localhost": must be host:port, like 127.0.0.1:8080 (set by --addr)`,
		},
		{
			name: "port", args: []string{"--addr", "127.0.0.1:99999"},
			want: `config: addr "127.0.0.1:99999": must have a port number between 0 and 65535`,
		},
		{
			name: "log level", file: "log_level: loud\n",
			want: `config: log_level "loud": must be one of debug, info, warn, error (set by `,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.env
			if tc.file != "" {
				e = map[string]string{"ACTIVITYLOG_CONFIG": writeFile(t, tc.file)}
			}
			_, err := load(t, "serve", tc.args, e)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
			if !errors.Is(err, activitylog.ErrInvalid) || !IsConfigError(err) {
				t.Errorf("error %v: want a config error wrapping ErrInvalid", err)
			}
			if tc.file != "" && !strings.Contains(err.Error(), " line ") {
				t.Errorf("error %v: want the file's line", err)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{
			name: "unknown key", file: "addr: 127.0.0.1:1\nadr: 127.0.0.1:2\n",
			want: []string{"line 2: unknown key \"adr\" (did you mean \"addr\"?); known keys: addr, db,"},
		},
		{
			name: "flag spelling", file: "on-full: drop\n",
			want: []string{"line 1: unknown key \"on-full\" (did you mean \"on_full\"?)"},
		},
		{
			name: "unknown key, no suggestion", file: "db: x.db\n\nfrobnicate: 3\n",
			want: []string{"line 3: unknown key \"frobnicate\"; known keys:"},
		},
		{
			name: "short unknown key, no suggestion", file: "a: 1\n",
			want: []string{"line 1: unknown key \"a\"; known keys:"},
		},
		{
			name: "long key, two slips", file: "flush_intervl: 1s\nshutdown_timout: 1s\n",
			want: []string{`"flush_intervl" (did you mean "flush_interval"?)`, `"shutdown_timout" (did you mean "shutdown_timeout"?)`},
		},
		{
			name: "two unknown keys", file: "a: 1\nb: 2\n",
			want: []string{`line 1: unknown key "a"`, `line 2: unknown key "b"`},
		},
		{name: "not a mapping", file: "- addr\n- db\n", want: []string{"line 1: must be a mapping"}},
		{name: "list value", file: "addr:\n  - 127.0.0.1:1\n", want: []string{"line 2: addr: must be a single value"}},
		{name: "bad yaml", file: "addr: [\n", want: []string{"is not valid YAML"}},
		{name: "duplicate key", file: "db: a\ndb: b\n", want: []string{`"db" already defined`}},
		{name: "two documents", file: "db: a\n---\ndb: b\n", want: []string{"line 2: has a second YAML document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.file)
			_, err := load(t, "serve", []string{"--config", p}, nil)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n  %v\nwant it to contain\n  %s", err, w)
				}
			}
			if !strings.Contains(err.Error(), "config: "+p) {
				t.Errorf("error %v does not name the file", err)
			}
			if !IsConfigError(err) {
				t.Errorf("IsConfigError(%v) = false", err)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := load(t, "serve", []string{"--config", p}, nil)
	if err == nil || !strings.Contains(err.Error(), "config: "+p+": cannot read: no such file or directory") {
		t.Errorf("got %v", err)
	}
}

// A file may set nothing, or leave a key without a value.
func TestEmptyFile(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "service:\n"} {
		c, err := load(t, "serve", []string{"--config", writeFile(t, text)}, nil)
		if err != nil || c != Default() {
			t.Errorf("file %q: got %+v, %v; want the defaults", text, c, err)
		}
	}
}

// Every field of Config has exactly one Setting, with distinct keys,
// flags and env vars, a usage text and a default that validates; the
// migrate command takes db.
func TestSettingsTable(t *testing.T) {
	if got, want := len(Settings), reflect.TypeFor[Config]().NumField(); got != want {
		t.Errorf("%d settings for %d Config fields", got, want)
	}
	fields := map[any]string{}
	seen := map[[2]string]bool{}
	var c Config
	for _, s := range Settings {
		for _, name := range [][2]string{{"key", s.Key}, {"flag", s.Flag}, {"env", s.Env}} {
			if seen[name] || name[1] == ConfigFlag || name[1] == ConfigEnv {
				t.Errorf("%s %s is used twice", name[0], name[1])
			}
			seen[name] = true
		}
		if s.Usage == "" {
			t.Errorf("%s has no usage", s.Key)
		}
		if s.Bool() != (s.Arg == "") {
			t.Errorf("%s: Arg %q, but bool is %v", s.Key, s.Arg, s.Bool())
		}
		p := reflect.ValueOf(s.field(&c)).Pointer()
		if other, ok := fields[p]; ok {
			t.Errorf("%s and %s set the same field", s.Key, other)
		}
		fields[p] = s.Key
		if Lookup(s.Key) != s {
			t.Errorf("Lookup(%q) does not find it", s.Key)
		}
	}
	if len(For("migrate")) == 0 || For("migrate")[0].Key != "db" {
		t.Errorf("migrate takes %v, want db first", For("migrate"))
	}
	if got := Lookup("on_full"); got.Flag != "on-full" || got.Env != "ACTIVITYLOG_ON_FULL" {
		t.Errorf("on_full: flag %q env %q", got.Flag, got.Env)
	}
}

func TestRecorderOptions(t *testing.T) {
	c := Default()
	c.Mode, c.OnFull, c.Service, c.QueueSize = "sync", "fail", "svc", 42
	o := c.RecorderOptions(nil)
	if o.Mode != activitylog.Sync || o.OnFull != activitylog.Fail || o.Service != "svc" || o.QueueSize != 42 ||
		o.BatchSize != 500 || o.FlushInterval != 200*time.Millisecond || o.BlockTimeout != time.Second || o.WriteTimeout != 10*time.Second {
		t.Errorf("got %+v", o)
	}
	c.OnFull = "drop"
	if c.RecorderOptions(nil).OnFull != activitylog.Drop {
		t.Error("on_full drop not mapped")
	}
	if d := Default(); d.RecorderOptions(nil).Mode != activitylog.Async || d.RecorderOptions(nil).OnFull != activitylog.Block {
		t.Error("defaults not mapped to async, block")
	}
}

// A huge refused value is clipped in the message.
func TestLongValueClipped(t *testing.T) {
	_, err := load(t, "serve", []string{"--mode", strings.Repeat("x", 10000)}, nil)
	if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), `config: mode "xxx`) || !strings.Contains(err.Error(), `…": must be one of async, sync`) {
		t.Errorf("got %v", err)
	}
}

// The store URL's password and query never show, in an error or a
// value; a scheme that no store has, a path that is not a URL and
// sealing on a store that cannot seal are refused, naming the setting
// and the stores that can.
func TestStoreSetting(t *testing.T) {
	s := Lookup("store")
	c := Default()
	c.Store = "postgres://audit:hunter2@db:5432/audit?password=hunter3&sslmode=require"
	if v := s.Value(&c); strings.Contains(v, "hunter") || !strings.HasPrefix(v, "postgres://audit:") {
		t.Errorf("Value = %q", v)
	}
	for _, tc := range []struct {
		store string
		seal  bool
		want  string
	}{
		{"oracle://x", false, "has scheme oracle"},
		{"audit.db", false, "must be a URL"},
		{"postgres://u:hunter2@h/db", true, ""},
		{"postgresql://u:hunter2@h/db", true, ""},
		{"mysql://u:hunter2@h/db", true, ""},
		{"clickhouse://h/db", true, "integrity sealing needs a store that seals (sqlite, postgres, postgresql, mysql); clickhouse does not yet"},
		{"mongodb://h/db", true, "mongodb does not yet"},
		{"mysql://u:hunter2@h/db", false, ""},
		{"sqlite:///var/a.db", true, ""},
		{"", true, ""},
	} {
		c := Default()
		c.Store, c.Integrity = tc.store, tc.seal
		if got := checkStore(&c); !strings.Contains(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("store %q, sealing %v: %q, want %q", tc.store, tc.seal, got, tc.want)
		}
	}
}

// A NATS URL's token (its user) never shows; nats_url with tenant
// routing and sealing is accepted (the worker seals and routes), for
// serve and worker alike.
func TestNATSSetting(t *testing.T) {
	s := Lookup("nats_url")
	c := Default()
	c.NATSURL = "nats://s3cr3t@127.0.0.1:4222"
	if v := s.Value(&c); strings.Contains(v, "s3cr3t") {
		t.Errorf("Value = %q", v)
	}
	c.DatabaseConfigKeys = "k1:" + strings.Repeat("A", 43) + "="
	c.Integrity = true
	if got := checkNATS(&c); got != "" {
		t.Errorf("nats_url with database_config_keys and integrity: %q", got)
	}
	for _, cmd := range []string{"serve", "worker"} {
		if _, err := load(t, cmd, []string{"--nats-url", "nats://127.0.0.1:4222", "--integrity",
			"--database-config-keys", c.DatabaseConfigKeys}, nil); err != nil {
			t.Errorf("%s with nats_url, integrity and database_config_keys: %v", cmd, err)
		}
	}
	c.Integrity, c.NATSURL = false, "http://127.0.0.1:4222"
	if got := checkNATS(&c); !strings.Contains(got, "nats://") {
		t.Errorf("an http URL: %q", got)
	}
}
