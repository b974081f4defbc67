package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/clickhouse"
)

// serve --store clickhouse://… when ACTIVITYLOG_TEST_CLICKHOUSE_DSN
// names a server: each run in a database of its own, dropped
// afterwards.
func init() {
	storeCases = append(storeCases, storeCase{
		name: "clickhouse",
		url: func(t *testing.T) string {
			dsn := os.Getenv("ACTIVITYLOG_TEST_CLICKHOUSE_DSN")
			if dsn == "" {
				t.Skip("set ACTIVITYLOG_TEST_CLICKHOUSE_DSN=clickhouse://127.0.0.1:9000/default to run serve against ClickHouse (.ci/clickhouse.sh starts one)")
			}
			base, _, _ := strings.Cut(strings.TrimPrefix(dsn, "clickhouse://"), "/")
			name := "alserve_" + strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")
			opts, err := ch.ParseDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			admin, err := ch.Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := admin.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
				admin.Close()
				t.Fatalf("create database %s on %s: %v", name, dsn, err)
			}
			t.Cleanup(func() {
				admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)
				admin.Close()
			})
			return "clickhouse://" + base + "/" + name
		},
		open: func(t *testing.T, u string) activitylog.Store {
			s, err := clickhouse.Open(context.Background(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
