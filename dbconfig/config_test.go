package dbconfig_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
)

func validConfig() dbconfig.Config {
	return dbconfig.Config{
		ID: "dbc_0123456789abcdef", Name: "acme primary", Engine: dbconfig.Postgres,
		Host: "db.internal", Port: 5432, Database: "audit", User: "audit",
		Password: "s3cr:t/p@ss?", Options: map[string]string{"sslmode": "require"},
		RouteFor: "all", Tenant: "acme", Primary: true, Active: true,
	}
}

// Validate names the field and the value of the first bad field, never
// the password.
func TestValidate(t *testing.T) {
	cases := []struct {
		name      string
		edit      func(c *dbconfig.Config)
		field     string
		value     string
		wantValid bool
	}{
		{"valid", func(c *dbconfig.Config) {}, "", "", true},
		{"valid sqlite", func(c *dbconfig.Config) {
			c.Engine, c.Host, c.Port, c.Database, c.Options = dbconfig.SQLite, "", 0, "/var/lib/acme.db", nil
		}, "", "", true},
		{"valid mysql options", func(c *dbconfig.Config) {
			c.Engine, c.Options = dbconfig.MySQL, map[string]string{"tls": "true", "timeout": "5s", "readTimeout": "30s", "writeTimeout": "30s"}
		}, "", "", true},
		{"valid mongodb options", func(c *dbconfig.Config) {
			c.Engine, c.Options = dbconfig.MongoDB, map[string]string{"authSource": "admin", "replicaSet": "rs0", "tls": "true"}
		}, "", "", true},
		// Driver parameters that read local files, send the password in
		// the clear, or name another host are refused, by allowlist.
		{"mysql allowAllFiles", func(c *dbconfig.Config) {
			c.Engine, c.Options = dbconfig.MySQL, map[string]string{"allowAllFiles": "true"}
		}, "options.allowAllFiles", "true", false},
		{"mysql allowCleartextPasswords", func(c *dbconfig.Config) {
			c.Engine, c.Options = dbconfig.MySQL, map[string]string{"allowCleartextPasswords": "1"}
		}, "options.allowCleartextPasswords", "[REDACTED]", false}, // refused as a secret name first
		{"postgres host override", func(c *dbconfig.Config) { c.Options = map[string]string{"host": "10.0.0.1"} }, "options.host", "10.0.0.1", false},
		{"postgres sslrootcert", func(c *dbconfig.Config) { c.Options = map[string]string{"sslrootcert": "/etc/shadow"} }, "options.sslrootcert", "/etc/shadow", false},
		{"postgres search_path", func(c *dbconfig.Config) { c.Options = map[string]string{"search_path": "x"} }, "options.search_path", "x", false},
		{"mongodb tlsCAFile", func(c *dbconfig.Config) {
			c.Engine, c.Options = dbconfig.MongoDB, map[string]string{"tlsCAFile": "/etc/shadow"}
		}, "options.tlsCAFile", "/etc/shadow", false},
		{"mongodb authMechanism", func(c *dbconfig.Config) {
			c.Engine, c.Options = dbconfig.MongoDB, map[string]string{"authMechanism": "PLAIN"}
		}, "options.authMechanism", "PLAIN", false},
		{"clickhouse debug", func(c *dbconfig.Config) {
			c.Engine, c.Options = dbconfig.ClickHouse, map[string]string{"debug": "true"}
		}, "options.debug", "true", false},
		{"sqlite option", func(c *dbconfig.Config) {
			c.Engine, c.Host, c.Port, c.Database, c.Options = dbconfig.SQLite, "", 0, "/var/lib/acme.db", map[string]string{"_txlock": "immediate"}
		}, "options._txlock", "immediate", false},
		{"option name case", func(c *dbconfig.Config) { c.Options = map[string]string{"SSLMODE": "disable"} }, "options.SSLMODE", "disable", false},
		{"valid ipv6 host", func(c *dbconfig.Config) { c.Host = "::1" }, "", "", true},
		{"valid kind route", func(c *dbconfig.Config) { c.RouteFor = "request" }, "", "", true},
		{"no name", func(c *dbconfig.Config) { c.Name = "" }, "name", "", false},
		{"name with newline", func(c *dbconfig.Config) { c.Name = "a\nb" }, "name", "a\nb", false},
		{"bad engine", func(c *dbconfig.Config) { c.Engine = "oracle" }, "engine", "oracle", false},
		{"bad port", func(c *dbconfig.Config) { c.Port = 70000 }, "port", "70000", false},
		{"no host", func(c *dbconfig.Config) { c.Host = "" }, "host", "", false},
		{"host with slash", func(c *dbconfig.Config) { c.Host = "evil/x" }, "host", "evil/x", false},
		{"host with at", func(c *dbconfig.Config) { c.Host = "u@h" }, "host", "u@h", false},
		{"sqlite with host", func(c *dbconfig.Config) { c.Engine, c.Port = dbconfig.SQLite, 0 }, "host", "db.internal", false},
		{"sqlite with port", func(c *dbconfig.Config) { c.Engine, c.Host = dbconfig.SQLite, "" }, "port", "5432", false},
		{"no database", func(c *dbconfig.Config) { c.Database = "" }, "database", "", false},
		{"bad route_for", func(c *dbconfig.Config) { c.RouteFor = "everything" }, "route_for", "everything", false},
		{"empty route_for", func(c *dbconfig.Config) { c.RouteFor = "" }, "route_for", "", false},
		{"primary read-only", func(c *dbconfig.Config) { c.ReadOnly = true }, "read_only", "true", false},
		{"bad option name", func(c *dbconfig.Config) { c.Options = map[string]string{"a b": "1"} }, "options", "a b", false},
		{"secret option", func(c *dbconfig.Config) { c.Options = map[string]string{"sslpassword": "hunter2"} }, "options.sslpassword", "[REDACTED]", false},
		{"option with newline", func(c *dbconfig.Config) { c.Options = map[string]string{"x": "1\n2"} }, "options.x", "1\n2", false},
		{"bad id", func(c *dbconfig.Config) { c.ID = "../x" }, "id", "../x", false},
		{"tenant with control", func(c *dbconfig.Config) { c.Tenant = "a\x00" }, "tenant", "a\x00", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.wantValid {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, activitylog.ErrInvalid) {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field || fe.Value != tc.value {
				t.Fatalf("Validate() names %q %q, want %q %q (%v)", fe.Field, fe.Value, tc.field, tc.value, err)
			}
			if strings.Contains(err.Error(), c.Password) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestURL(t *testing.T) {
	c := validConfig()
	cases := []struct {
		name     string
		c        dbconfig.Config
		password string
		want     string
	}{
		{"postgres escaped", c, c.Password, "postgres://audit:s3cr%3At%2Fp%40ss%3F@db.internal:5432/audit?sslmode=require"},
		{"no password", c, "", "postgres://audit@db.internal:5432/audit?sslmode=require"},
		{"default port", func() dbconfig.Config { c := c; c.Port = 0; c.Options = nil; return c }(), "", "postgres://audit@db.internal:5432/audit"},
		{"mysql", func() dbconfig.Config { c := c; c.Engine, c.Port, c.Options = dbconfig.MySQL, 0, nil; return c }(), "pw", "mysql://audit:pw@db.internal:3306/audit"},
		{"clickhouse", func() dbconfig.Config { c := c; c.Engine, c.Port = dbconfig.ClickHouse, 0; return c }(), "", "clickhouse://audit@db.internal:9000/audit?sslmode=require"},
		{"mongodb", func() dbconfig.Config {
			c := c
			c.Engine, c.Port, c.Options = dbconfig.MongoDB, 0, map[string]string{"authSource": "admin", "a": "x y"}
			return c
		}(), "", "mongodb://audit@db.internal:27017/audit?a=x+y&authSource=admin"},
		{"ipv6", func() dbconfig.Config { c := c; c.Host, c.Options = "::1", nil; return c }(), "", "postgres://audit@[::1]:5432/audit"},
		{"database escaped", func() dbconfig.Config { c := c; c.Database, c.Options = "a/b c", nil; return c }(), "", "postgres://audit@db.internal:5432/a%2Fb%20c"},
		{"sqlite absolute", dbconfig.Config{Engine: dbconfig.SQLite, Database: "/var/lib/a b.db"}, "", "sqlite:///var/lib/a%20b.db"},
		{"sqlite relative", dbconfig.Config{Engine: dbconfig.SQLite, Database: "data/a.db", Options: map[string]string{"_pragma": "busy_timeout(5000)"}}, "", "sqlite://data/a.db?_pragma=busy_timeout%285000%29"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.URL(tc.password); got != tc.want {
				t.Fatalf("URL = %s\nwant  %s", got, tc.want)
			}
		})
	}
}

// The JSON form never holds the password, plain or sealed.
func TestMarshalJSONHidesPassword(t *testing.T) {
	c := validConfig()
	c.Secret = "v1:k1:c2VhbGVk"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.Password, "s3cr", c.Secret, "c2VhbGVk", `"password"`, `"secret"`} {
		if strings.Contains(string(b), s) {
			t.Fatalf("JSON holds %q: %s", s, b)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "name", "engine", "host", "port", "database", "user", "options", "route_for", "tenant", "primary", "active", "read_only", "created_at", "updated_at", "has_password"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if m["has_password"] != true {
		t.Fatalf("has_password = %v, want true", m["has_password"])
	}
	c.Password, c.Secret = "", ""
	b, _ = json.Marshal(c)
	if !strings.Contains(string(b), `"has_password":false`) {
		t.Fatalf("has_password not false: %s", b)
	}
}

func TestRedactError(t *testing.T) {
	const pw = "p@ss word/1"
	err := errors.Join(activitylog.ErrUnavailable, errors.New("dial postgres://u:p%40ss+word%2F1@h/db: failed for p@ss word/1 and p%40ss%20word%2F1"))
	got := dbconfig.RedactError(err, pw)
	for _, s := range []string{pw, "p%40ss+word%2F1", "p%40ss%20word%2F1"} {
		if strings.Contains(got.Error(), s) {
			t.Fatalf("redacted error holds %q: %v", s, got)
		}
	}
	if !errors.Is(got, activitylog.ErrUnavailable) {
		t.Fatalf("redacted error lost its category: %v", got)
	}
	if errors.Unwrap(got) != nil {
		t.Fatal("the redacted error unwraps to the original")
	}
}
