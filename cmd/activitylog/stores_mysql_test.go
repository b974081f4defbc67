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
	storeURL, pub := sealedCase(t, "mysql")

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
	readsAsAuditor(t, ro, pub)
}
