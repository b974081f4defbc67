package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad values are refused naming the key and the value, and never show
// a store URL's password, however the URL is broken.
func TestBadInputRefused(t *testing.T) {
	dir := t.TempDir()
	signingKey := filepath.Join(integrityFiles(t), "k.key")
	empty := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "not.pem")
	for p, text := range map[string]string{empty: "\n", notPEM: "just text\n"} {
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"store bad host", []string{"--store", "postgres://u:s3cr3t@[::1/db"}, `store "REDACTED": is not a URL: missing ']' in host`},
		{"store password with a slash", []string{"--store", "postgres://u:s3/cr3t@h/db"}, `store "REDACTED": is not a URL: invalid port after host`},
		{"store bad escape", []string{"--store", "postgres://u:s3cr3t%zz@h/db"}, `store "REDACTED": is not a URL: invalid URL escape`},
		{"store without scheme", []string{"--store", "u:s3cr3t@h/db"}, `store "REDACTED": must be a URL`},
		{"store mysql DSN", []string{"--store", "root:s3cr3t@tcp(127.0.0.1:3306)/test"}, `store "REDACTED": must be a URL`},
		{"store key=value DSN", []string{"--store", "host=h password=s3cr3t"}, `store "REDACTED": must be a URL`},
		{"store port too large", []string{"--store", "postgres://u:s3cr3t@h:99999/db"}, `store "postgres://u:xxxxx@h:99999/db": has port 99999; a port is between 1 and 65535`},
		{"store port 0", []string{"--store", "mongodb://h:0/db"}, `store "mongodb://h:0/db": has port 0`},
		{"store sqlite without a path", []string{"--store", "sqlite://"}, `store "sqlite://": names no database file`},
		{"nats port too large", []string{"--nats-url", "nats://h:70000"}, `nats_url "nats://h:70000": has port 70000`},
		{"duration too large", []string{"--shutdown-timeout", "9999999h"}, `shutdown_timeout "9999999h": is out of range`},
		{"duration without unit", []string{"--shutdown-timeout", "5"}, `shutdown_timeout "5": is not a duration`},
		{"service control character", []string{"--service", "a\x1b[31m"}, `service "a\x1b[31m": must be UTF-8 text without control characters`},
		{"service not UTF-8", []string{"--service", "a\xff"}, `service "a\xff": must be UTF-8 text`},
		{"jwt secret file missing", []string{"--jwt-secret-file", filepath.Join(dir, "none")}, `jwt_secret_file "` + filepath.Join(dir, "none") + `": cannot read: no such file or directory`},
		{"jwt secret file empty", []string{"--jwt-secret-file", empty}, `jwt_secret_file "` + empty + `": is empty`},
		{"jwt public keys not PEM", []string{"--jwt-public-keys", notPEM}, `jwt_public_keys "` + notPEM + `": holds no PEM block`},
		{"jwks URL plain http", []string{"--jwt-jwks-url", "http://u:pw@idp.example/jwks?k=s3cr3t"}, `jwt_jwks_url "http://u:xxxxx@idp.example/jwks?REDACTED": must be https`},
		{"store password with a slash after digits", []string{"--store", "postgres://app:2024/s3cr3t@127.0.0.1/prod"}, `store "REDACTED": has an '@' outside its user and password`},
		{"store password with a slash, port too large", []string{"--store", "postgres://app:99999/s3cr3t@db/prod"}, `store "REDACTED": has an '@' outside`},
		{"store password with an @ and a slash", []string{"--store", "postgres://u:p@s3cr3t/x@h/db"}, `store "REDACTED": has an '@' outside`},
		{"nats password with a slash", []string{"--nats-url", "nats://u:1/s3cr3t@h:70000"}, `nats_url "REDACTED": has an '@' outside`},
		{"jwks URL bad escape", []string{"--jwt-jwks-url", "https://u:s3cr3t%zz@idp/jwks"}, `jwt_jwks_url "REDACTED"`},
		{"jwks URL password with a slash", []string{"--jwt-jwks-url", "https://u:1/s3cr3t@idp/jwks"}, `jwt_jwks_url "REDACTED": has an '@' outside its user and password`},
		{"witness URL password with a slash", []string{"--integrity-signing-key", signingKey, "--integrity-witness", "https://u:12/s3cr3t@h/w"}, `integrity_witness "REDACTED": holds an '@' outside a user and password`},
		{"witness URL that does not parse", []string{"--integrity-signing-key", signingKey, "--integrity-witness", "https://u:s3cr3t/x@h/w"}, `integrity_witness "REDACTED": is not a URL: invalid port after host`},
		{"jwt secret file endless", []string{"--jwt-secret-file", "/dev/zero"}, `jwt_secret_file "/dev/zero": cannot read: the file is larger than 1 MiB`},
		{"jwt public keys endless", []string{"--jwt-public-keys", "/dev/zero"}, `jwt_public_keys "/dev/zero": cannot read: the file is larger than 1 MiB`},
		{"jwt algorithm unknown", []string{"--jwt-secret-file", notPEM, "--jwt-algorithms", "HS256,bogus"}, `jwt_algorithms "HS256,bogus": is not supported`},
		{"jwt algorithm none", []string{"--jwt-secret-file", notPEM, "--jwt-algorithms", "none"}, `jwt_algorithms "none": is never accepted`},
		{"jwt algorithm no key verifies", []string{"--jwt-secret-file", notPEM, "--jwt-algorithms", "RS256"}, `jwt_algorithms "RS256": cannot be verified by any configured key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "serve", tc.args, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if !IsConfigError(err) {
				t.Errorf("IsConfigError(%v) = false", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "cr3t") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}

// The YAML file is read to a bound, so that a wrong path (a database, a
// log, /dev/zero) is refused instead of read whole; an alias to a value
// is that value.
func TestFileBoundsAndAliases(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", 1<<20)+"\naddr: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"larger than the bound", big, big + ": is larger than 1 MiB"},
		{"endless", "/dev/zero", "/dev/zero: is larger than 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.path); err != nil {
				t.Skip(err)
			}
			_, err := load(t, "serve", []string{"--config", tc.path}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}

	c, err := load(t, "serve", []string{"--config", writeFile(t, "addr: &a 127.0.0.1:9\nservice: *a\n")}, nil)
	if err != nil || c.Service != "127.0.0.1:9" {
		t.Fatalf("alias to a scalar: %+v, %v", c.Service, err)
	}
	_, err = load(t, "serve", []string{"--config", writeFile(t, "addr: &a [1]\nservice: *a\n")}, nil)
	if err == nil || !strings.Contains(err.Error(), "line 1: addr: must be a single value") {
		t.Fatalf("alias to a list: %v", err)
	}
}

// A password with an unescaped '/', '?' or '#' ends a URL's authority
// early, and url.Parse puts the rest of it in the port, the path or the
// fragment: such a URL is hidden whole wherever it is shown.
func TestRedactStrayAt(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:2024/s3cr3t@127.0.0.1/prod":    "REDACTED",
		"postgres://u:p@s3cr3t/x@h/db":                 "REDACTED",
		"mysql://u:1?s3cr3t@h/db":                      "REDACTED",
		"clickhouse://u:1#s3cr3t@h/db":                 "REDACTED",
		"postgres://u:s3cr3t@h:5432/db":                "postgres://u:xxxxx@h:5432/db",
		"postgres://h:5432/db":                         "postgres://h:5432/db",
		"postgres://h/db#s3cr3t":                       "postgres://h/db#REDACTED",
		"sqlite:///var/lib/a@b/audit.db":               "REDACTED", // hidden too: harmless
		"nats://u:1/s3cr3t@h:4222":                     "REDACTED",
		"https://u:1/s3cr3t@idp/jwks (witness, jwks)":  "",
		"https://u:s3cr3t%zz@idp/jwks (witness, jwks)": "",
		"https://idp.example/jwks?token=s3cr3t (jwks)": "",
		"https://u:s3cr3t@idp.example/jwks (witness)":  "",
		"https://idp.example/jwks#s3cr3t (jwks)":       "",
	} {
		if url, kind, ok := strings.Cut(in, " ("); ok {
			_ = kind
			if got := redactURL(url); strings.Contains(got, "s3cr3t") || strings.Contains(got, "cr3t") {
				t.Errorf("redactURL(%s) = %s", url, got)
			}
			continue
		}
		if got := RedactStore(in); got != want {
			t.Errorf("RedactStore(%s) = %s, want %s", in, got, want)
		}
	}
	// A file's name may hold an '@': a sqlite store so named is taken.
	if _, err := load(t, "serve", []string{"--store", "sqlite://" + filepath.Join(t.TempDir(), "a@b.db")}, nil); err != nil {
		t.Errorf("sqlite store with an '@' in its path: %v", err)
	}
}
