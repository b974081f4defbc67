package main

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/mysql"
	driver "github.com/go-sql-driver/mysql"
)

// serve --store mysql://… when ACTIVITYLOG_TEST_MYSQL_DSN names a
// server: each run in a database of its own, dropped afterwards.
func init() {
	storeCases = append(storeCases, storeCase{
		name: "mysql",
		url: func(t *testing.T) string {
			dsn := os.Getenv("ACTIVITYLOG_TEST_MYSQL_DSN")
			if dsn == "" {
				t.Skip("set ACTIVITYLOG_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' to run serve against MySQL or MariaDB")
			}
			cfg, err := driver.ParseDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("mysql", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			name := "alserve_" + strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")
			if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
				t.Fatalf("create database on %s: %v", dsn, err)
			}
			t.Cleanup(func() {
				if db, err := sql.Open("mysql", dsn); err == nil {
					db.Exec("DROP DATABASE IF EXISTS " + name)
					db.Close()
				}
			})
			return "mysql://" + cfg.User + "@" + cfg.Addr + "/" + name
		},
		open: func(t *testing.T, u string) activitylog.Store {
			s, err := mysql.Open(context.Background(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

// verify --store and export --with-proofs --store read a sealed trail in
// MySQL or MariaDB as a user with no privilege but SELECT.
func TestVerifyStoreMySQLReadOnlyUser(t *testing.T) {
	t.Parallel()
	var storeURL string
	var open func(*testing.T, string) activitylog.Store
	for _, c := range storeCases {
		if c.name == "mysql" {
			storeURL, open = c.url(t), c.open
		}
	}
	dir := t.TempDir()
	priv, pub := dir+"/k.key", dir+"/k.pub"
	if _, err := integrity.GenerateKeyFiles(priv, pub); err != nil {
		t.Fatal(err)
	}
	s := open(t, storeURL)
	sealInto(t, s.(integrity.SealStore), priv, 10)
	s.Close()

	u, err := url.Parse(storeURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", os.Getenv("ACTIVITYLOG_TEST_MYSQL_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	user := "alaud_" + strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")[:10]
	for _, q := range []string{
		"CREATE USER '" + user + "'@'%'",
		"GRANT SELECT ON " + strings.TrimPrefix(u.Path, "/") + ".* TO '" + user + "'@'%'",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		if db, err := sql.Open("mysql", os.Getenv("ACTIVITYLOG_TEST_MYSQL_DSN")); err == nil {
			db.Exec("DROP USER IF EXISTS '" + user + "'@'%'")
			db.Close()
		}
	})
	u.User = url.User(user)
	ro := u.String()
	r := runBin(t, nil, "verify", "--store", ro, "--public-key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "events 10, verified 10, unsealed 0") || !strings.HasSuffix(r.stdout, "\nOK\n") {
		t.Fatalf("verify --store as a SELECT-only user: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	out := dir + "/custom.bundle"
	if r := runBin(t, nil, "export", "--with-proofs", "--store", ro, "--out", out, "--kind", "custom", "--public-key", pub); r.code != 0 {
		t.Fatalf("export --store as a SELECT-only user: %+v", r)
	}
	if r := runBin(t, nil, "verify", "--bundle", out, "--public-key", pub); r.code != 0 || !strings.Contains(r.stdout, "events 10, verified 10") {
		t.Fatalf("verify --bundle of its export: %+v", r)
	}
}
