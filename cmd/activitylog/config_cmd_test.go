package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// activitylog config check and print, run as a user runs them.
func TestConfigCommand(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("queue_size: 0\nadr: 1.2.3.4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("queue_size: 64\nstore: postgres://audit:hunter2@127.0.0.1/audit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		env      []string
		args     []string
		code     int
		stdout   []string // each must be in stdout
		stderr   []string
		noStdout string
	}{
		{"check good", nil, []string{"config", "check", "--config", good}, 0, []string{"configuration OK", "2 from the file"}, nil, ""},
		{"check bad file, env and flag", []string{"ACTIVITYLOG_MODE=sometimes", "ACTIVITYLOG_QUEUE_SZIE=3"}, []string{"config", "check", "--config", bad, "--batch-size", "-1"}, 2,
			[]string{`unknown key "adr" (did you mean "addr"?)`, `queue_size "0"`, `mode "sometimes"`, `batch_size "-1"`, "ACTIVITYLOG_QUEUE_SZIE names no setting (did you mean ACTIVITYLOG_QUEUE_SIZE?)"},
			[]string{"5 problem(s)"}, ""},
		{"print", []string{"ACTIVITYLOG_SERVICE=billing"}, []string{"config", "print", "--config", good, "--addr", "127.0.0.1:9"}, 0,
			[]string{"queue_size: 64 # " + good + " line 1", "service: billing # ACTIVITYLOG_SERVICE", "addr: 127.0.0.1:9 # --addr", "mode: async # default", "127.0.0.1/audit"}, nil, "hunter2"},
		{"print bad", nil, []string{"config", "print", "--config", bad}, 2, nil, []string{"not valid", "config check"}, ""},
		{"no subcommand", nil, []string{"config"}, 2, nil, []string{"print or check"}, ""},
		{"unknown subcommand", nil, []string{"config", "show"}, 2, nil, []string{`unknown subcommand "show"`}, ""},
		// Every command that reads the configuration refuses a misspelt variable.
		{"migrate refuses unknown env", []string{"ACTIVITYLOG_DB_PATH=x.db"}, []string{"migrate", "--db", filepath.Join(dir, "m.db")}, 2, nil,
			[]string{"ACTIVITYLOG_DB_PATH names no setting"}, ""},
		{"users list refuses unknown env", []string{"ACTIVITYLOG_QUEUESIZE=1"}, []string{"users", "list", "--db", filepath.Join(dir, "m.db")}, 2, nil,
			[]string{"ACTIVITYLOG_QUEUESIZE names no setting (did you mean ACTIVITYLOG_QUEUE_SIZE?)"}, ""},
		{"reserved prefixes pass", []string{"ACTIVITYLOG_TEST_X=1", "ACTIVITYLOG_BENCH_Y=2"}, []string{"migrate", "--db", filepath.Join(dir, "m.db")}, 0, nil, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runBin(t, c.env, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			for _, s := range c.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range c.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if c.noStdout != "" && strings.Contains(r.stdout+r.stderr, c.noStdout) {
				t.Errorf("output holds %q:\n%s%s", c.noStdout, r.stdout, r.stderr)
			}
		})
	}
}
