package mysql

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/activitylog/activitylog/storetest"
	driver "github.com/go-sql-driver/mysql"
)

// TestBuildLoadSplits checks how buildLoad cuts a batch into files: at
// most maxBytes each (a single larger row alone), at most maxLoadRows
// rows each, every row in exactly one file, and firsts naming each
// file's first event.
func TestBuildLoadSplits(t *testing.T) {
	es := make([]activitylog.Event, 2*maxLoadRows+123)
	for i := range es {
		es[i] = storetest.NewEvent(i)
		es[i].Time = storetest.Base.Add(time.Duration(i) * time.Millisecond)
	}
	es[7].Message = string(bytes.Repeat([]byte("m"), 100<<10)) // larger than a file
	for _, maxBytes := range []int{64 << 10, 1 << 30} {
		s := &Store{maxBytes: maxBytes, maxPacket: 1 << 20}
		var buf writeBuf
		if err := s.buildLoad(&buf, es); err != nil {
			t.Fatal(err)
		}
		if len(buf.ends) != len(buf.firsts) || buf.firsts[0] != 0 || buf.ends[len(buf.ends)-1] != len(buf.stmt) {
			t.Fatalf("maxBytes %d: ends %v, firsts %v", maxBytes, buf.ends, buf.firsts)
		}
		start := 0
		for k, end := range buf.ends {
			file := buf.stmt[start:end]
			rows := bytes.Count(file, []byte{'\n'})
			next := len(es)
			if k+1 < len(buf.firsts) {
				next = buf.firsts[k+1]
			}
			if rows != next-buf.firsts[k] || rows < 1 || rows > maxLoadRows || file[len(file)-1] != '\n' {
				t.Fatalf("maxBytes %d: file %d has %d rows, firsts %v", maxBytes, k, rows, buf.firsts)
			}
			if len(file) > maxBytes && rows > 1 {
				t.Fatalf("maxBytes %d: file %d is %d bytes of %d rows", maxBytes, k, len(file), rows)
			}
			// The file's first row is the event firsts names.
			e := &es[buf.firsts[k]]
			var sp eventjson.Spans
			doc, err := eventjson.Append(nil, e, &sp)
			if err != nil {
				t.Fatal(err)
			}
			if want := appendLoadRow(nil, e, doc, &sp); !bytes.HasPrefix(file, want) {
				t.Fatalf("maxBytes %d: file %d does not start with event %d", maxBytes, k, buf.firsts[k])
			}
			start = end
		}
		if maxBytes == 1<<30 && len(buf.ends) != 3 {
			t.Errorf("unbounded bytes: %d files, want 3 (rows bound them)", len(buf.ends))
		}
	}
}

// TestLoadCountsRows: a row the server skipped with a warning that
// SHOW WARNINGS does not list (max_error_count too low, whatever set
// it) fails the load, as the server stored fewer rows than the file
// has and listed no duplicate for the difference.
func TestLoadCountsRows(t *testing.T) {
	dsn := os.Getenv("ACTIVITYLOG_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip("set ACTIVITYLOG_TEST_MYSQL_DSN=root@tcp(127.0.0.1:3306)/test to run against a real server")
	}
	ctx := context.Background()
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var r [6]byte
	rand.Read(r[:])
	cfg.DBName = "al_" + hex.EncodeToString(r[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+cfg.DBName+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	defer admin.ExecContext(ctx, "DROP DATABASE "+cfg.DBName)
	s, err := Open(ctx, cfg.FormatDSN(), &Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.ExecContext(ctx, "ALTER TABLE events ADD CONSTRAINT no_bad CHECK (tool <> 'BAD')"); err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(5)
	es[2].Tool = "BAD"
	var buf writeBuf
	if err := s.buildLoad(&buf, es); err != nil {
		t.Fatal(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SET SESSION max_error_count = 0"); err != nil {
		t.Fatal(err)
	}
	if dups, err := s.load(ctx, tx, &buf, es); err == nil {
		t.Fatalf("load of 5 rows, one skipped and its warning not listed = %d duplicates, no error", dups)
	}
}
