package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

var ctx = context.Background()

func open(t *testing.T, path string, opts *sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) activitylog.Store {
		return open(t, filepath.Join(t.TempDir(), "audit.db"), nil)
	})
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) activitylog.Store {
		return open(t, ":memory:", nil)
	})
}

func TestConformanceNoBackgroundCheckpoints(t *testing.T) {
	storetest.Run(t, func(t *testing.T) activitylog.Store {
		return open(t, filepath.Join(t.TempDir(), "audit.db"), &sqlite.Options{CheckpointInterval: -1, CheckpointPages: 10, ReadConns: 1})
	})
}

func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v < 1 {
		t.Fatalf("SchemaVersion after Open = %d, %v; want at least 1", v, err)
	}
	if n, err := s.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("Migrate after Open applied %d, %v; want 0", n, err)
	}
	applied := migrations(t, path)
	if len(applied) != v {
		t.Fatalf("schema_migrations has %d rows, want %d: %v", len(applied), v, applied)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening the file again applies nothing: the rows, and the times
	// they were applied, stay as they were.
	s = open(t, path, nil)
	if n, err := s.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("Migrate after reopening applied %d, %v; want 0", n, err)
	}
	if v2, err := s.SchemaVersion(ctx); err != nil || v2 != v {
		t.Fatalf("SchemaVersion after reopening = %d, %v; want %d", v2, err, v)
	}
	again := migrations(t, path)
	if len(again) != len(applied) {
		t.Fatalf("reopening changed schema_migrations: %v, was %v", again, applied)
	}
	for k, at := range applied {
		if again[k] != at {
			t.Errorf("migration %s was applied again: at %d, first at %d", k, again[k], at)
		}
	}
}

// migrations returns the rows of schema_migrations: name → applied_at.
func migrations(t *testing.T, path string) map[string]int64 {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for want := 1; rows.Next(); want++ {
		var (
			v    int
			name string
			at   int64
		)
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Errorf("schema_migrations: version %d (%s), want %d", v, name, want)
		}
		out[name] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSkipMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := open(t, path, &sqlite.Options{SkipMigrate: true})
	if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of a new file = %d, %v; want 0", v, err)
	}
	n, err := s.Migrate(ctx)
	if err != nil || n < 1 {
		t.Fatalf("Migrate of a new file applied %d, %v; want at least 1", n, err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != n {
		t.Fatalf("SchemaVersion after Migrate = %d, %v; want %d", v, err, n)
	}
	if err := s.Write(ctx, storetest.Fixture(3)); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	// Two processes (here: two stores) migrating one new file at once
	// apply each migration once between them.
	path := filepath.Join(t.TempDir(), "audit.db")
	a := open(t, path, &sqlite.Options{SkipMigrate: true})
	b := open(t, path, &sqlite.Options{SkipMigrate: true})
	var wg sync.WaitGroup
	var na, nb int
	var ea, eb error
	wg.Add(2)
	go func() { defer wg.Done(); na, ea = a.Migrate(ctx) }()
	go func() { defer wg.Done(); nb, eb = b.Migrate(ctx) }()
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("Migrate: %v, %v", ea, eb)
	}
	v, err := a.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if na+nb != v {
		t.Errorf("the two Migrates applied %d and %d migrations, want %d in all", na, nb, v)
	}
}

func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	es := storetest.Fixture(30)
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the write-ahead log is still there: %v", err)
	}

	s = open(t, path, nil)
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)) {
		t.Fatalf("after reopening: Count = %d, %v; want %d", n, err, len(es))
	}
	for _, e := range es {
		got, err := s.Get(ctx, e.ID)
		if err != nil {
			t.Fatalf("after reopening: Get(%s): %v", e.ID, err)
		}
		if got.Message != e.Message || !got.Time.Equal(e.Time) {
			t.Errorf("after reopening: Get(%s) = %q at %v, want %q at %v", e.ID, got.Message, got.Time, e.Message, e.Time)
		}
	}
	// And it takes more.
	if err := s.Write(ctx, []activitylog.Event{storetest.NewEvent(100)}); err != nil {
		t.Fatal(err)
	}
}

// TestFailedBatchStoresNothing makes the database refuse one event in
// the middle of a batch that spans several INSERT statements: nothing of
// the batch may remain, and the store must go on working.
func TestFailedBatchStoresNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := open(t, path, nil)
	if err := s.Write(ctx, storetest.Fixture(5)); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.message = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned event'); END`); err != nil {
		t.Fatal(err)
	}

	batch := make([]activitylog.Event, 1300) // three statements: 512, 512, 320
	for i := range batch {
		batch[i] = storetest.NewEvent(1000 + i)
	}
	batch[1100].Message = "poison" // in the last statement
	if err := s.Write(ctx, batch); err == nil {
		t.Fatal("Write of a batch with a refused event succeeded")
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 5 {
		t.Fatalf("after a failed batch: Count = %d, %v; want the 5 from before", n, err)
	}
	if _, err := s.Get(ctx, batch[0].ID); !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("the first event of the failed batch: %v, want ErrNotFound", err)
	}

	if _, err := db.Exec(`DROP TRIGGER poison`); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, batch); err != nil {
		t.Fatalf("the same batch, once the database takes it: %v", err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 5+int64(len(batch)) {
		t.Fatalf("Count = %d, %v; want %d", n, err, 5+len(batch))
	}
}

func TestUnencodableEventIsRefused(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "audit.db"), nil)
	es := storetest.Fixture(3)
	es[2].Extra = map[string]any{"ratio": func() {}}
	err := s.Write(ctx, es)
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "extra.ratio" || !errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("Write of an event with a func in extra: %v, want a FieldError for extra.ratio", err)
	}
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != 0 {
		t.Fatalf("a refused batch stored %d events", n)
	}
}

func TestTimeOutOfRangeIsRefused(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "audit.db"), nil)
	for _, when := range []time.Time{{}, time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC)} {
		es := storetest.Fixture(2)
		es[1].Time = when
		err := s.Write(ctx, es)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != "time" {
			t.Errorf("Write of an event at %v: %v, want a FieldError for time", when, err)
		}
	}
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != 0 {
		t.Fatalf("refused batches stored %d events", n)
	}
}

func TestClosed(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	_, qerr := s.Query(ctx, activitylog.Filter{})
	_, cerr := s.Count(ctx, activitylog.Filter{})
	_, gerr := s.Get(ctx, activitylog.NewID(time.Now()))
	_, merr := s.Migrate(ctx)
	for name, err := range map[string]error{
		"Write": s.Write(ctx, storetest.Fixture(1)), "Query": qerr, "Count": cerr, "Get": gerr, "Migrate": merr,
		"Ping": s.Ping(ctx),
	} {
		if !errors.Is(err, activitylog.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
}

func TestOpenPaths(t *testing.T) {
	dir := t.TempDir()
	t.Run("default", func(t *testing.T) {
		t.Chdir(dir)
		s := open(t, "", nil)
		if s.Path() != sqlite.DefaultPath {
			t.Errorf("Path() = %q, want %q", s.Path(), sqlite.DefaultPath)
		}
		if _, err := os.Stat(filepath.Join(dir, sqlite.DefaultPath)); err != nil {
			t.Errorf("Open(\"\") made no %s: %v", sqlite.DefaultPath, err)
		}
	})
	t.Run("uri", func(t *testing.T) {
		path := filepath.Join(dir, "uri.db")
		s := open(t, "file:"+path+"?cache=private", nil)
		if err := s.Write(ctx, storetest.Fixture(2)); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("the URI made no file: %v", err)
		}
	})
	t.Run("bad", func(t *testing.T) {
		if _, err := sqlite.Open(filepath.Join(dir, "a?b.db"), nil); !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("Open of a path with ?: %v, want ErrInvalid", err)
		}
		if _, err := sqlite.Open(filepath.Join(dir, "no", "such", "dir.db"), nil); err == nil {
			t.Error("Open in a directory that does not exist succeeded")
		}
	})
}

// TestReadsDoNotWaitForWrites holds a write transaction open on another
// connection and checks that queries still answer.
func TestReadsDoNotWaitForWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := open(t, path, &sqlite.Options{BusyTimeout: 200 * time.Millisecond})
	if err := s.Write(ctx, storetest.Fixture(3)); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 3 {
		t.Errorf("Count while another connection writes: %d, %v", n, err)
	}
	// The store's own write waits for the lock, then gives up.
	err = s.Write(ctx, []activitylog.Event{storetest.NewEvent(9)})
	if !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Write while another connection holds the lock: %v, want ErrUnavailable", err)
	}
}
