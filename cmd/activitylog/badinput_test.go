package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command and subcommand answers --help with its help on standard
// output and exit status 0; so does help itself.
func TestHelpFlagEverywhere(t *testing.T) {
	t.Parallel()
	var cases [][]string
	for _, c := range commands {
		cases = append(cases, []string{c.name, "--help"})
		for _, s := range c.subs {
			if s.name != "" {
				cases = append(cases, []string{c.name, s.name, "--help"})
			}
		}
	}
	cases = append(cases, []string{"help", "-h"}, []string{"config", "check", "--help"})
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			r := runBin(t, nil, args...)
			if r.code != 0 || r.stdout == "" || r.stderr != "" {
				t.Fatalf("exit %d, stdout %d bytes, stderr %q", r.code, len(r.stdout), r.stderr)
			}
		})
	}
	// config takes a word (print or check) its flags do not show.
	if r := runBin(t, nil, "config", "--help"); !strings.HasPrefix(r.stdout, "Usage: activitylog config print|check [flags]\n") {
		t.Errorf("config --help: %q", strings.SplitN(r.stdout, "\n", 2)[0])
	}
	// A command whose only subcommand is unnamed (cleanup, verify) has
	// its flags under its own name, with no space before the colon.
	if r := runBin(t, nil, "help"); strings.Contains(r.stdout, " :\n") {
		t.Errorf("help has a heading with a space before its colon")
	}
}

// A bad command line or configuration exits 2, says which flag or
// setting and value, shows no password, and leaves nothing behind: no
// database created, no file half written.
func TestBadInputLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	if r := runBin(t, nil, "migrate", "--db", db); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	pub := filepath.Join(dir, "k.pub")
	missing := filepath.Join(dir, "missing.db")
	bundle := filepath.Join(dir, "out.bundle")
	for _, tc := range []struct {
		name string
		args []string
		want string
		none string // a file that must not exist afterwards
	}{
		{"bool flag value", []string{"users", "list", "--db", db, "--json=maybe"}, `--json "maybe": is not a boolean`, ""},
		{"duration flag value", []string{"api-keys", "create", "--db", db, "--name", "x", "--scopes", "ingest", "--expires", "5"}, `--expires "5": is not a duration`, ""},
		{"zero expiry", []string{"api-keys", "create", "--db", missing, "--name", "x", "--scopes", "ingest", "--expires", "0s"}, `--expires "0s": must be positive`, missing},
		{"int flag value", []string{"cleanup", "--db", db, "--days", "x"}, `--days "x": is not an integer`, ""},
		{"int flag out of range", []string{"cleanup", "--db", db, "--days", "99999999999999999999"}, `--days "99999999999999999999": is out of range`, ""},
		{"cleanup of a missing db", []string{"cleanup", "--db", missing, "--days", "5", "--dry-run"}, `--db "` + missing + `"`, missing},
		{"purge of a missing db", []string{"purge", "--db", missing, "--all", "--dry-run"}, `--db "` + missing + `"`, missing},
		{"purge kinds and all", []string{"purge", "--db", db, "--kind", "crud,auth", "--all", "--confirm"}, `--kind "crud,auth" and --all`, ""},
		{"store without a file", []string{"cleanup", "--db", db, "--days", "5", "--dry-run", "--store", "sqlite://"}, `store "sqlite://": names no database file`, ""},
		{"store URL that does not parse", []string{"cleanup", "--db", db, "--days", "5", "--store", "postgres://u:s3cr3t@[::1/db"}, `store "REDACTED": is not a URL`, ""},
		{"store port out of range", []string{"purge", "--db", db, "--all", "--dry-run", "--store", "mysql://u:s3cr3t@127.0.0.1:99999/db"}, `has port 99999`, ""},
		{"zero findings", []string{"verify", "--db", db, "--max-findings", "0"}, `--max-findings 0: must be at least 1`, ""},
		{"negative findings", []string{"verify", "--db", db, "--max-findings", "-1"}, `--max-findings -1: must be at least 1`, ""},
		{"bundle is a directory", []string{"verify", "--bundle", dir, "--public-key", pub}, `--bundle "` + dir + `": is a directory`, ""},
		{"export cut short", []string{"export", "--db", db, "--with-proofs", "--out", bundle, "--chain", "nochain"}, `--chain`, bundle},
		{"archive file missing", []string{"archive", "restore", "--db", db, filepath.Join(dir, "none.gz")}, `FILE "` + filepath.Join(dir, "none.gz") + `": no such file`, ""},
		{"archive file a directory", []string{"archive", "restore", "--db", db, dir}, `FILE "` + dir + `": is not a regular file`, ""},
		{"archive limit zero", []string{"archive", "restore", "--db", db, "--max-events", "0", pub}, `--max-events 0: must be at least 1`, ""},
		{"key name with a control character", []string{"keys", "generate", "--dir", dir, "--name", "a\x1bb"}, `--name "a\x1bb"`, filepath.Join(dir, "a\x1bb.key")},
		{"password file a directory", []string{"database-configs", "create", "--db", db, "--name", "n", "--engine", "postgres", "--host", "h", "--database", "d", "--password-file", dir}, `--password-file "` + dir + `": is a directory`, ""},
		{"worker without nats_url", []string{"worker", "--db", missing}, "nats_url is required", missing},
		{"serve with a missing jwt secret", []string{"serve", "--db", missing, "--addr", "127.0.0.1:0", "--jwt-secret-file", filepath.Join(dir, "none")}, `jwt_secret_file "` + filepath.Join(dir, "none") + `": cannot read`, missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, nil, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2; stdout %q", r.code, r.stdout)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "s3cr3t") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("stderr shows a password or a stack: %q", r.stderr)
			}
			if tc.none != "" {
				if _, err := os.Stat(tc.none); err == nil {
					os.Remove(tc.none)
					t.Errorf("%s was left behind", tc.none)
				}
			}
		})
	}
}

// TestWitnessUnreachableFails: a witness URL that does not answer fails
// the check (exit 1); a witness URL that is not one is a bad command line
// (exit 2).
func TestWitnessUnreachableFails(t *testing.T) {
	db := filepath.Join(t.TempDir(), "a.db")
	if r := runBin(t, nil, "migrate", "--db", db); r.code != 0 {
		t.Fatalf("migrate: exit %d, stderr %q", r.code, r.stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	for _, tc := range []struct {
		witness string
		code    int
		want    string
	}{
		{"http://" + addr + "/witness", 1, "unavailable"},
		{down.URL + "/witness", 1, "503 Service Unavailable"},
		{"ftp://" + addr + "/witness", 2, "--witness"},
	} {
		r := runBin(t, nil, "verify", "--db", db, "--witness", tc.witness)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("--witness %s: exit %d, stderr %q; want exit %d and %q", tc.witness, r.code, r.stderr, tc.code, tc.want)
		}
	}
	// A token file is read to a bound: /dev/zero is refused, not read
	// until memory runs out.
	r := runBin(t, nil, "verify", "--db", db, "--witness", down.URL+"/witness", "--witness-token-file", "/dev/zero")
	if r.code != 2 || !strings.Contains(r.stderr, "is larger than 64 KiB") {
		t.Errorf("--witness-token-file /dev/zero: exit %d, stderr %q", r.code, r.stderr)
	}
}
