package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/sqlite"
)

// database-configs create and update, run as a user does: the password
// comes from a file or standard input and is stored encrypted (the
// control database's row does not hold it), list never shows it,
// update changes only the flags given and refuses to move a config to
// another host without its password, and each change is in the trail.
func TestDatabaseConfigsCreateUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "control.db")
	k1, _ := dbconfig.GenerateKey("k1")
	keys := "--database-config-keys=" + k1.String()
	const secret = "s3cret-in-the-vault"
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runBin(t, nil, "database-configs", "create", "--db", db, keys, "--name", "acme", "--engine", "postgres",
		"--host", "db1.internal", "--port", "5433", "--database", "audit_acme", "--user", "audit", "--password-file", pwFile,
		"--option", "sslmode=require", "--option", "connect_timeout=5", "--tenant", "acme", "--route-for", "all")
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, secret) {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`^created (dbc_[0-9a-f]{16}) \(acme\): postgres://audit@db1.internal:5433/audit_acme\?connect_timeout=5&sslmode=require, password stored encrypted\n$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("create: stdout %q", r.stdout)
	}
	id := m[1]

	r = runBin(t, nil, "database-configs", "list", "--db", db)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 2 ||
		strings.Join(strings.Fields(lines[1]), " ") != id+" acme postgres acme all primary" || strings.Contains(r.stdout, secret) {
		t.Fatalf("list: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runBin(t, nil, "database-configs", "list", "--db", db, "--json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 || listed[0]["has_password"] != true ||
		strings.Contains(r.stdout, secret) || strings.Contains(r.stdout, "v1:") || listed[0]["port"] != 5433.0 ||
		listed[0]["active"] != true || listed[0]["read_only"] != false {
		t.Fatalf("list --json: %v, %s", err, r.stdout)
	}

	// At rest: no column of the row holds the password; the sealed one
	// opens to it with the key.
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := raw.Query(`SELECT * FROM database_configs`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if strings.Contains(fmt.Sprintf("%s", v), secret) {
				t.Fatalf("column %s holds the password in the clear", cols[i])
			}
		}
	}
	rows.Close()
	raw.Close()
	if n != 1 {
		t.Fatalf("%d rows in database_configs, want 1", n)
	}
	kr, _ := dbconfig.NewKeyring([]dbconfig.Key{k1})
	stored := getConfig(t, db, id)
	if pw, err := kr.Decrypt(id, stored.Secret); err != nil || pw != secret {
		t.Fatalf("the stored secret opens to %q, %v", pw, err)
	}

	// Only the flags given change.
	if r := runBin(t, nil, "database-configs", "update", id, "--db", db, "--active=false", "--option", "sslmode=verify-full"); r.code != 0 ||
		!strings.HasPrefix(r.stdout, "updated "+id+" (acme): postgres://audit@db1.internal:5433/audit_acme?sslmode=verify-full, password stored encrypted") {
		t.Fatalf("update --active=false: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	got := getConfig(t, db, id)
	if got.Active || got.Host != "db1.internal" || got.Port != 5433 || got.Tenant != "acme" || !got.Primary || got.Secret != stored.Secret ||
		len(got.Options) != 1 || got.Options["sslmode"] != "verify-full" {
		t.Fatalf("after update --active=false: %+v", got)
	}

	// Another host without the password: refused, nothing changed.
	r = runBin(t, nil, "database-configs", "update", id, "--db", db, keys, "--host", "evil.example")
	if r.code != 2 || !strings.Contains(r.stderr, `--host changes where the config connects (from "db1.internal")`) ||
		!strings.Contains(r.stderr, "--password-file or --password-stdin") {
		t.Fatalf("update --host without a password: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := getConfig(t, db, id); got.Host != "db1.internal" {
		t.Fatalf("a refused update changed the host to %q", got.Host)
	}
	// With it, from standard input.
	r = runBinInput(t, "new-pw\n", nil, "database-configs", "update", id, "--db", db, keys, "--host", "db2.internal", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("update --host --password-stdin: exit %d, stderr %q", r.code, r.stderr)
	}
	got = getConfig(t, db, id)
	if pw, err := kr.Decrypt(id, got.Secret); err != nil || pw != "new-pw" || got.Host != "db2.internal" {
		t.Fatalf("after update --host --password-stdin: host %q, password %q, %v", got.Host, pw, err)
	}
	if r := runBin(t, nil, "database-configs", "update", id, "--db", db, "--no-password"); r.code != 0 || !strings.Contains(r.stdout, ", no password") {
		t.Fatalf("update --no-password: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := getConfig(t, db, id); got.Secret != "" {
		t.Fatalf("update --no-password kept a secret")
	}

	st, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.Query(ctx, activitylog.Filter{Category: "database_config"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 4 {
		t.Fatalf("%d database_config events in the trail, want 4: the create and three updates", len(page.Events))
	}
	for _, e := range page.Events {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), secret) || strings.Contains(string(b), "new-pw") {
			t.Fatalf("an event holds a password: %s", b)
		}
		if e.Extra["operation"] == "update" && e.Extra["password_changed"] == false && e.Changes["active"].New != false {
			t.Fatalf("the first update's changes: %+v", e.Changes)
		}
	}
}

// getConfig reads the stored config id from the control database db.
func getConfig(t *testing.T, db, id string) dbconfig.Config {
	t.Helper()
	st, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.DatabaseConfigs().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// create and update refuse what the API refuses, naming the flag and
// the value, and never a password; a refused create stores nothing.
func TestDatabaseConfigsCreateErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "control.db")
	k1, _ := dbconfig.GenerateKey("k1")
	keys := "--database-config-keys=" + k1.String()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("pw\n"), 0o600)
	twoLines := filepath.Join(dir, "two")
	os.WriteFile(twoLines, []byte("a\nb\n"), 0o600)
	base := []string{"database-configs", "create", "--db", db, keys, "--name", "acme", "--database", "audit"}
	if r := runBin(t, nil, append(base, "--engine", "mysql", "--host", "127.0.0.1")...); r.code != 0 {
		t.Fatalf("create: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad engine", []string{"--name", "b", "--engine", "oracle", "--host", "h"}, `--engine "oracle": must be one of sqlite, postgres, mysql, clickhouse, mongodb`},
		{"port out of range", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--port", "70000"}, `--port "70000": must be between 1 and 65535`},
		{"port not a number", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--port", "5432x"}, `--port "5432x": must be a number`},
		{"option not allowed", []string{"--name", "b", "--engine", "mysql", "--host", "h", "--option", "allowAllFiles=true"}, `--option allowAllFiles="true": `},
		{"secret option", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--option", "password=hunter2"}, `--option password: may hold a secret`},
		{"option without =", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--option", "sslmode"}, `--option "sslmode": must be KEY=VALUE`},
		{"bad route", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--route-for", "everything"}, `--route-for "everything": must be all or a kind`},
		{"primary read-only", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--primary", "--read-only"}, `--read-only "true": a primary receives`},
		{"sqlite with a host", []string{"--name", "b", "--engine", "sqlite", "--host", "h"}, `--host "h": must be empty for sqlite`},
		{"no name", []string{"--engine", "postgres", "--host", "h", "--name", ""}, `--name "": is required`},
		{"name taken", []string{"--name", "ACME", "--engine", "postgres", "--host", "h"}, `--name "ACME"`},
		{"password flag", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--password", "hunter2"}, "--password is refused: a password on the command line lands in shell history"},
		{"password two lines", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--password-file", twoLines}, "holds more than one line"},
		{"password file missing", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--password-file", filepath.Join(dir, "none")}, "--password-file: open "},
		{"two password sources", []string{"--name", "b", "--engine", "postgres", "--host", "h", "--password-file", pwFile, "--password-stdin"}, "go apart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"database-configs", "create", "--db", db, keys, "--database", "audit"}, tc.args...)
			r := runBin(t, nil, args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stdout+r.stderr, "hunter2") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
	// A password needs the keys that encrypt it.
	r := runBin(t, nil, "database-configs", "create", "--db", db, "--name", "c", "--engine", "postgres", "--host", "h", "--database", "d", "--password-file", pwFile)
	if r.code != 2 || !strings.Contains(r.stderr, "database_config_keys is not set") {
		t.Fatalf("create without keys: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runBin(t, nil, "database-configs", "update", "dbc_0000000000000000", "--db", db, "--active=false")
	if r.code != 1 || !strings.Contains(r.stderr, `no database configuration "dbc_0000000000000000"`) {
		t.Fatalf("update of no config: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runBin(t, nil, "database-configs", "list", "--db", db, "--json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("after the refusals: %v, %s; want the one config", err, r.stdout)
	}
	id := listed[0]["id"].(string)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing", nil, "nothing to change"},
		{"bad port", []string{"--port", "0x10"}, `--port "0x10": must be a number`},
		{"option of another engine", []string{"--option", "sslmode=require"}, `--option sslmode="require": `},
		{"options and no-options", []string{"--option", "tls=true", "--no-options"}, "go apart"},
		{"password flag", []string{"--password", "hunter2"}, "--password is refused"},
		{"read-only primary", []string{"--read-only"}, `--read-only "true": a primary receives`},
	} {
		t.Run("update "+tc.name, func(t *testing.T) {
			r := runBin(t, nil, append([]string{"database-configs", "update", id, "--db", db, keys}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stdout+r.stderr, "hunter2") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}
