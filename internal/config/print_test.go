package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
)

func check(t *testing.T, args []string, e map[string]string) (Config, map[string]string, []error) {
	t.Helper()
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := BindAll(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return f.Check(env(e))
}

// Check goes on past each problem: one of each kind, from the file, the
// environment and the flags, is reported, where Load stops at the first.
func TestCheckReportsEveryProblem(t *testing.T) {
	path := writeFile(t, "queue_size: 0\non_full: sometimes\nadr: 1.2.3.4\nbatch_siz: 3\n")
	args := []string{"--config", path, "--log-level", "loud"}
	e := map[string]string{"ACTIVITYLOG_BATCH_SIZE": "abc"}
	_, _, errs := check(t, args, e)
	var got []string
	for _, err := range errs {
		if !errors.Is(err, activitylog.ErrInvalid) {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Errorf("%v: neither invalid nor a file error", err)
			}
		}
		got = append(got, err.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{`unknown key "adr" (did you mean "addr"?)`, `unknown key "batch_siz"`, `batch_size "abc": is not an integer (set by ACTIVITYLOG_BATCH_SIZE)`,
		`on_full "sometimes"`, `queue_size "0"`, `log_level "loud"`} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in:\n%s", want, all)
		}
	}
	// Load, by contrast, stops at the first.
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Bind(fs, "serve")
	_ = fs.Parse(args)
	if _, err := f.Load(env(e)); err == nil || !strings.Contains(err.Error(), "adr") {
		t.Errorf("Load: %v", err)
	}
}

// A good configuration checks clean, and Check agrees with Load.
func TestCheckGood(t *testing.T) {
	path := writeFile(t, "queue_size: 100\non_full: drop\n")
	cfg, sources, errs := check(t, []string{"--config", path, "--addr", "127.0.0.1:9"}, map[string]string{"ACTIVITYLOG_SERVICE": "billing"})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if cfg.QueueSize != 100 || cfg.OnFull != "drop" || cfg.Addr != "127.0.0.1:9" || cfg.Service != "billing" {
		t.Errorf("config %+v", cfg)
	}
	if sources["queue_size"] != path+" line 1" || sources["service"] != "ACTIVITYLOG_SERVICE" || sources["addr"] != "--addr" {
		t.Errorf("sources %v", sources)
	}
}

// Print's output masks secrets and redacts URLs' passwords, names each
// value's source, and loads back into the same configuration once the
// secrets are given again.
func TestPrintRoundTrip(t *testing.T) {
	secret := "k1:" + strings.Repeat("A", 43) + "="
	e := map[string]string{
		"ACTIVITYLOG_STORE":                "postgres://audit:hunter2@127.0.0.1:5432/audit",
		"ACTIVITYLOG_DATABASE_CONFIG_KEYS": secret,
		"ACTIVITYLOG_QUEUE_SIZE":           "123",
		"ACTIVITYLOG_FLUSH_INTERVAL":       "750ms",
		"ACTIVITYLOG_COOKIE_SECURE":        "true",
	}
	cfg, sources, errs := check(t, []string{"--service", "it's: a \"name\""}, e)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	var out bytes.Buffer
	if err := Print(&out, &cfg, sources); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, leak := range []string{"hunter2", strings.Repeat("A", 43)} {
		if strings.Contains(text, leak) {
			t.Errorf("secret %q printed:\n%s", leak, text)
		}
	}
	for _, want := range []string{"# ACTIVITYLOG_QUEUE_SIZE", "# --service", "# default", "secret: masked"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\n"); n != len(Settings) {
		t.Errorf("%d lines for %d settings", n, len(Settings))
	}
	// Back: the printed file, with the secrets given by the environment.
	path := writeFile(t, text)
	back, _, errs := check(t, []string{"--config", path}, map[string]string{
		"ACTIVITYLOG_STORE": e["ACTIVITYLOG_STORE"], "ACTIVITYLOG_DATABASE_CONFIG_KEYS": secret})
	if len(errs) != 0 {
		t.Fatalf("printed file does not load: %v\n%s", errs, text)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, cfg)
	}
}

func TestUnknownEnv(t *testing.T) {
	errs := UnknownEnv([]string{
		"PATH=/bin", "ACTIVITYLOG_QUEUE_SIZE=1", "ACTIVITYLOG_CONFIG=x.yaml", "ACTIVITYLOG_TEST_POSTGRES_DSN=x",
		"ACTIVITYLOG_BENCH_1M=1", "ACTIVITYLOG_QUEUE_SZIE=4", "ACTIVITYLOG_NOPE=1",
	})
	if len(errs) != 2 {
		t.Fatalf("errors %v, want 2", errs)
	}
	if !strings.Contains(errs[0].Error(), "ACTIVITYLOG_QUEUE_SZIE names no setting (did you mean ACTIVITYLOG_QUEUE_SIZE?)") ||
		!strings.Contains(errs[1].Error(), "ACTIVITYLOG_NOPE names no setting;") || !errors.Is(errs[1], activitylog.ErrInvalid) {
		t.Errorf("errors %v", errs)
	}
}
