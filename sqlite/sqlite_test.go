package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
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

// TestFieldsMigration opens a database that 0002 left, with events
// written as Write wrote them then (without the columns of 0003): Open
// adds the columns method, origin, category and tool, fills them from
// each event's document, and the field filters find the old events as
// Filter.Match says, the new ones too.
func TestFieldsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	es := storetest.Fixture(24)
	special := storetest.NewEvent(30)
	special.Category = `billing & "tax" <eu>`            // escaped in the document: \u0026, \", \u003c
	special.Request.Origin = "https://shop.example:8443" // a port
	special.Request.Method = "PROPFIND"
	special.Tool = "ünïcödé"
	bare := activitylog.Event{ID: activitylog.NewID(storetest.Base), Time: storetest.Base, Kind: activitylog.KindCustom,
		Action: "x", Severity: activitylog.SeverityDebug} // no request, category or tool
	es = append(es, special, bare)

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0001_init.sql", "0002_resolutions.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
		INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 1), (2, '0002_resolutions.sql', 2)`); err != nil {
		t.Fatal(err)
	}
	for i := range es {
		e := &es[i]
		data, err := json.Marshal(e) // what Write stores, byte for byte (TestAppendEventMatchesEncodingJSON)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO events (id, time, kind, action, severity, tenant, actor_id, actor_name,
			object_type, object_id, object_repr, message, path, remote_ip, status, duration, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant, e.Actor.ID, e.Actor.Name,
			e.Object.Type, e.Object.ID, e.Object.Repr, e.Message, e.Request.Path, e.Request.RemoteIP,
			int64(e.Response.Status), int64(e.Response.Duration), data); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, path, nil)
	if v, err := s.SchemaVersion(ctx); err != nil || v < 3 {
		t.Fatalf("SchemaVersion after Open = %d, %v; want at least 3", v, err)
	}
	check := func(es []activitylog.Event, f activitylog.Filter) int {
		t.Helper()
		nf, err := f.Normalize(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var want []activitylog.ID
		for i := range es {
			if nf.Match(&es[i]) {
				want = append(want, es[i].ID)
			}
		}
		f.PageSize = activitylog.MaxPageSize
		p, err := s.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []activitylog.ID
		for _, e := range p.Events {
			got = append(got, e.ID)
		}
		slices.SortFunc(want, func(a, b activitylog.ID) int { return bytes.Compare(a[:], b[:]) })
		slices.SortFunc(got, func(a, b activitylog.ID) int { return bytes.Compare(a[:], b[:]) })
		if !slices.Equal(got, want) {
			t.Errorf("%+v: found %d events %v, want %d %v", f, len(got), got, len(want), want)
		}
		if n, err := s.Count(ctx, f); err != nil || n != int64(len(want)) {
			t.Errorf("Count(%+v) = %d, %v; want %d", f, n, err, len(want))
		}
		return len(want)
	}
	filters := []activitylog.Filter{
		{Method: "GET"}, {Method: "propfind"}, {Origin: "https://partner.example"}, {Origin: "https://shop.example:8443"},
		{Category: "orders"}, {Category: `billing & "tax" <eu>`}, {Tool: "cli"}, {Tool: "ünïcödé"},
		{Method: "DELETE", Kind: activitylog.KindCRUD, Tool: "job"}, {Kind: activitylog.KindCustom},
	}
	for _, f := range filters {
		if check(es, f) == 0 {
			t.Errorf("%+v finds nothing; it tests nothing", f)
		}
	}
	// The backfill leaves no NULL, and no value where the document has none.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var nulls, empty int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM events WHERE method IS NULL OR origin IS NULL OR category IS NULL OR tool IS NULL`).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT COUNT(*) FROM events WHERE id = ? AND method = '' AND origin = '' AND category = '' AND tool = ''`, bare.ID[:]).Scan(&empty); err != nil {
		t.Fatal(err)
	}
	if nulls != 0 || empty != 1 {
		t.Errorf("after the migration %d rows have a NULL in the new columns, want 0; the bare event's are empty: %v", nulls, empty == 1)
	}
	// The events read back as they were written.
	for _, w := range []activitylog.Event{es[3], special, bare} {
		got, err := s.Get(ctx, w.ID)
		if err == nil && got.Time.Equal(w.Time) {
			got.Time = w.Time
		}
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("Get(%s) after the migration = %+v, %v; want %+v", w.ID, got, err, w)
		}
	}
	// New events are written with the columns and found with the old.
	more := []activitylog.Event{storetest.NewEvent(40), storetest.NewEvent(41)}
	if err := s.Write(ctx, more); err != nil {
		t.Fatal(err)
	}
	es = append(es, more...)
	for _, f := range filters {
		check(es, f)
	}
}

// TestOpenNamesAMissingDirectory: SQLite says only "unable to open
// database file"; Open says which directory is missing.
func TestOpenNamesAMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "no", "such", "audit.db"), "its directory " + filepath.Join(dir, "no", "such") + " does not exist"},
		{filepath.Join(notDir, "audit.db"), notDir + " is not a directory"},
	} {
		s, err := sqlite.Open(tc.path, nil)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) did not fail", tc.path)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s): %v; want it to say %q", tc.path, err, tc.want)
		}
	}
}
