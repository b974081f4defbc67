package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// sealedTrail makes a SQLite store that serve wrote with sealing on, and
// returns it with the directory of the signing key k.key and k.pub.
func sealedTrail(t *testing.T) (dir, db string) {
	t.Helper()
	dir = t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	db = filepath.Join(dir, "s.db")
	s := startServe(t, "--db", db, "--integrity-signing-key", filepath.Join(dir, "k.key"), "--integrity-checkpoint-interval", "100ms")
	postEvents(t, s, s.key, 3)
	time.Sleep(400 * time.Millisecond) // a checkpoint covers them
	s.stop(t)
	return dir, db
}

// noFlagPhrase is how the refusal says a command lacks a flag.
var noFlagPhrase = regexp.MustCompile(`no --[a-z-]+ flag`)

// The refusal of sealing off on a sealed store names only the ways the
// command at hand takes the integrity settings: users and api-keys take
// no --integrity-signing-key (they say "unknown flag" to it), so to them
// it names the environment variable; and following its advice works.
func TestSealedRefusalNamesWhatTheCommandTakes(t *testing.T) {
	t.Parallel()
	dir, db := sealedTrail(t)
	key := filepath.Join(dir, "k.key")
	flagToken := regexp.MustCompile(`--[a-z][a-z-]*`)
	for _, tc := range []struct {
		cmd     string
		args    []string
		hasFlag bool // takes --integrity-signing-key
	}{
		{"api-keys", []string{"api-keys", "create", "--db", db, "--name", "x", "--scopes", "ingest"}, false},
		{"users", []string{"users", "create", "--db", db, "--username", "ann", "--password-stdin"}, false},
		{"cleanup", []string{"cleanup", "--days", "1", "--db", db}, true},
		{"purge", []string{"purge", "--all", "--confirm", "--db", db}, true},
	} {
		r := runBinInput(t, "a long passphrase\n", nil, tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, "holds 1 sealed chains") {
			t.Errorf("%s with sealing off: %+v", tc.cmd, r)
			continue
		}
		// Every flag the advice offers is one the command takes.
		known := flagNames(t, tc.cmd)
		for _, f := range flagToken.FindAllString(noFlagPhrase.ReplaceAllString(r.stderr, ""), -1) {
			if !slices.Contains(known, strings.TrimPrefix(f, "--")) {
				t.Errorf("%s: the refusal offers %s, which it does not take: %s", tc.cmd, f, r.stderr)
			}
		}
		if !strings.Contains(r.stderr, "ACTIVITYLOG_INTEGRITY_SIGNING_KEY=PATH") || strings.Contains(r.stderr, "a flag,") {
			t.Errorf("%s: the refusal does not name the environment variable alone: %s", tc.cmd, r.stderr)
		}
		if offers := strings.Contains(noFlagPhrase.ReplaceAllString(r.stderr, ""), "--integrity-signing-key"); offers != tc.hasFlag {
			t.Errorf("%s: offers --integrity-signing-key: %v, want %v: %s", tc.cmd, offers, tc.hasFlag, r.stderr)
		}
	}
	// The advice, followed, works.
	env := []string{"ACTIVITYLOG_INTEGRITY_SIGNING_KEY=" + key}
	if r := runBin(t, env, "api-keys", "create", "--db", db, "--name", "x", "--scopes", "ingest"); r.code != 0 {
		t.Fatalf("api-keys create with the variable set: %+v", r)
	}
	if r := runBinInput(t, "a long passphrase\n", env, "users", "create", "--db", db, "--username", "ann", "--password-stdin"); r.code != 0 {
		t.Fatalf("users create with the variable set: %+v", r)
	}
	if code, rep := verifyReport(t, "--db", db, "--public-key", filepath.Join(dir, "k.pub")); code != 0 || !rep.OK() || rep.Unsealed != 0 {
		t.Fatalf("verify: exit %d, %+v", code, rep)
	}
}

// suggested splits a command serve suggests into the environment set in
// front of it and its arguments (without "activitylog"), with each
// placeholder NAME replaced by name.
func suggested(t *testing.T, line, name string) (env, args []string) {
	t.Helper()
	words := strings.Fields(line)
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) == 0 || words[0] != "activitylog" {
		t.Fatalf("not a command: %q", line)
	}
	for _, w := range words[1:] {
		if w == "NAME" {
			w = name
		}
		args = append(args, w)
	}
	return env, args
}

// The credential commands serve suggests at startup, at its first start
// and at the next, work as shown on the sealed database it writes.
func TestServeSuggestsCredentialCommandsThatWork(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	db := filepath.Join(dir, "s.db")
	args := []string{"--db", db, "--integrity-signing-key", filepath.Join(dir, "k.key"), "--integrity-checkpoint-interval", "100ms"}

	s := startServe(t, args...)
	postEvents(t, s, s.key, 2)
	s.stop(t)
	first := s.log.String()
	s = startServe(t, args...)
	s.stop(t)
	m := regexp.MustCompile(`new_key="((?:[^"\\]|\\.)*)"`).FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("no new_key in the log of the second start:\n%s", s.log.String())
	}
	again, err := strconv.Unquote(`"` + m[1] + `"`)
	if err != nil {
		t.Fatal(err)
	}

	lines := map[string]string{"again": again}
	for _, label := range []string{"More keys", "Users who sign in"} {
		m := regexp.MustCompile(`(?m)^activitylog: ` + label + `: (.*)$`).FindStringSubmatch(first)
		if m == nil {
			t.Fatalf("no %q line at the first start:\n%s", label, first)
		}
		lines[label] = m[1]
	}
	for label, line := range lines {
		env, args := suggested(t, line, "n"+strconv.Itoa(len(label)))
		if r := runBinInput(t, "a long passphrase\n", env, args...); r.code != 0 {
			t.Errorf("%s: %q as suggested: %+v", label, line, r)
		}
	}
	if code, rep := verifyReport(t, "--db", db, "--public-key", filepath.Join(dir, "k.pub")); code != 0 || !rep.OK() || rep.Unsealed != 0 {
		t.Fatalf("verify: exit %d, %+v", code, rep)
	}
}

// fileState is what a command must leave as it was: the bytes of db and
// of its write-ahead log (if any), and db's modification time.
func fileState(t *testing.T, db string) string {
	t.Helper()
	var b bytes.Buffer
	for _, p := range []string{db, db + "-wal"} {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(p + "\n")
		b.Write(data)
	}
	st, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString(st.ModTime().String())
	return b.String()
}

// A dry run on a sealed store without the signing key counts and exits
// 0, with a note that a real run needs the key; it writes nothing, not
// even a migration; a real run still refuses.
func TestCleanupDryRunOnSealedStore(t *testing.T) {
	t.Parallel()
	dir, db := sealedTrail(t)
	seedOld(t, db, 60, "", 3, activitylog.KindCRUD)
	before := fileState(t, db)

	for _, args := range [][]string{
		{"cleanup", "--days", "30", "--dry-run", "--db", db},
		{"purge", "--kind", "crud", "--dry-run", "--db", db}, // the 3 and serve's
	} {
		r := runBin(t, nil, args...)
		if r.code != 0 || !regexp.MustCompile(`crud\s+[3-9]\b`).MatchString(r.stdout) ||
			!strings.Contains(r.stderr, "holds 1 sealed chains") || !strings.Contains(r.stderr, "--integrity-signing-key") {
			t.Errorf("%s --dry-run with sealing off: %+v", args[0], r)
		}
	}
	r := runBin(t, nil, "cleanup", "--days", "30", "--dry-run", "--json", "--db", db)
	var plan struct{ Count int64 }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &plan) != nil || plan.Count != 3 {
		t.Errorf("cleanup --dry-run --json: %+v", r)
	}
	// With the key too, a dry run opens no sealer: nothing is written.
	if r := runBin(t, nil, "cleanup", "--days", "30", "--dry-run", "--db", db, "--integrity-signing-key", filepath.Join(dir, "k.key")); r.code != 0 || r.stderr != "" {
		t.Errorf("cleanup --dry-run with the key: %+v", r)
	}
	if after := fileState(t, db); after != before {
		t.Errorf("the dry runs changed %s", db)
	}

	// A real run without the key still refuses, and deletes nothing.
	if r := runBin(t, nil, "cleanup", "--days", "30", "--db", db); r.code != 1 || !strings.Contains(r.stderr, "holds 1 sealed chains") {
		t.Errorf("cleanup without the key: %+v", r)
	}
	if n := countKind(t, db, activitylog.Filter{Kind: activitylog.KindCRUD, To: time.Now().AddDate(0, 0, -30)}); n != 3 {
		t.Errorf("after the refused run, %d old crud events, want 3", n)
	}

	// A file without the schema is not migrated by a dry run.
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, nil, "cleanup", "--days", "30", "--dry-run", "--db", empty)
	if st, err := os.Stat(empty); err != nil || st.Size() != 0 || r.code != 1 || !strings.Contains(r.stderr, "activitylog migrate") {
		t.Errorf("dry run on an empty file: %+v, %v", r, err)
	}
}
