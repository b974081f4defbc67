package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// TestReadOnlyServerRefuses: a ReadOnly store's queries carry the
// server's readonly setting, so that the server itself refuses what
// the Go checks of Write, Resolve and Migrate do not cover.
func TestReadOnlyServerRefuses(t *testing.T) {
	ctx := context.Background()
	dsn := os.Getenv("ACTIVITYLOG_TEST_CLICKHOUSE_DSN")
	if dsn == "" {
		t.Skip("set ACTIVITYLOG_TEST_CLICKHOUSE_DSN=clickhouse://127.0.0.1:9000/default to run against a real server")
	}
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	db := "al_" + hex.EncodeToString(b[:])
	if err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		admin.Close()
	})
	w, err := Open(ctx, dsn, &Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := Open(ctx, dsn, &Options{Database: db, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ex *ch.Exception
	if err := r.conn.Exec(ctx, "CREATE TABLE "+r.t.db+".`made` (a UInt8) ENGINE = Memory"); !errors.As(err, &ex) || ex.Code != 164 {
		t.Fatalf("CREATE TABLE through a read-only store = %v, want the server's READONLY (164)", err)
	}
	if err := r.record(ctx, 99); !errors.As(err, &ex) || ex.Code != 164 {
		t.Fatalf("INSERT through a read-only store = %v, want the server's READONLY (164)", err)
	}
	if v, err := r.SchemaVersion(ctx); err != nil || v != len(migrations(r.t)) {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
}
