package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/postgres"
	"github.com/jackc/pgx/v5"
)

// serve --store postgres://… when ACTIVITYLOG_TEST_POSTGRES_DSN names a
// server: each run in a database of its own, dropped afterwards.
func init() {
	storeCases = append(storeCases, storeCase{
		name: "postgres",
		url: func(t *testing.T) string {
			dsn := os.Getenv("ACTIVITYLOG_TEST_POSTGRES_DSN")
			if dsn == "" {
				t.Skip("set ACTIVITYLOG_TEST_POSTGRES_DSN='host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable' to run serve against PostgreSQL")
			}
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatalf("connect to %s: %v", dsn, err)
			}
			defer conn.Close(ctx)
			name := "alserve_" + strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				c, err := pgx.Connect(ctx, dsn)
				if err != nil {
					return
				}
				defer c.Close(ctx)
				c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			})
			cc := conn.Config()
			u := url.URL{Scheme: "postgres", User: url.UserPassword(cc.User, "secret-pw"), Host: fmt.Sprintf("%s:%d", cc.Host, cc.Port), Path: "/" + name, RawQuery: "sslmode=disable"}
			return u.String()
		},
		open: func(t *testing.T, u string) activitylog.Store {
			s, err := postgres.Open(context.Background(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

// verify --store and export --with-proofs --store read a sealed trail in
// PostgreSQL as a role that may only SELECT, as an auditor's is: they
// migrate nothing, make nothing and write nothing.
func TestVerifyStorePostgresReadOnlyRole(t *testing.T) {
	t.Parallel()
	storeURL, pub := sealedCase(t, "postgres")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	role := "alauditor_" + strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + postgres.DefaultSchema + " TO " + role,
		"GRANT SELECT ON ALL TABLES IN SCHEMA " + postgres.DefaultSchema + " TO " + role,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, storeURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "DROP OWNED BY "+role)
		c.Exec(ctx, "DROP ROLE "+role)
	})
	u, err := url.Parse(storeURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	ro := u.String()

	readsAsAuditor(t, ro, pub)
	// The store opened read only refuses to write, whatever the role.
	rs, err := postgres.Open(ctx, storeURL, &postgres.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if err := rs.Write(ctx, []activitylog.Event{{ID: activitylog.NewID(time.Now()), Time: time.Now(), Kind: activitylog.KindCustom,
		Action: "x", Severity: activitylog.SeverityInfo}}); err == nil {
		t.Fatal("a store opened read only wrote")
	}
	if n, err := rs.Count(ctx, activitylog.Filter{}); err != nil || n != 10 {
		t.Fatalf("count through the read-only store: %d, %v", n, err)
	}
}
