package clickhouse_test

import (
	"errors"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/clickhouse"
	"github.com/activitylog/activitylog/storetest"
)

// tablesIn returns the names of the tables the server has in db.
func tablesIn(t *testing.T, dsn, db string) []string {
	t.Helper()
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	rows, err := admin.Query(ctx, "SELECT name FROM system.tables WHERE database = ? ORDER BY name", db)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// wantFieldError fails t unless err is an *activitylog.FieldError for
// field and value.
func wantFieldError(t *testing.T, what string, err error, field, value string) {
	t.Helper()
	fe, ok := errors.AsType[*activitylog.FieldError](err)
	if !ok || !errors.Is(err, activitylog.ErrInvalid) || fe.Field != field || fe.Value != value {
		t.Fatalf("%s = %v, want a *FieldError for %s %q", what, err, field, value)
	}
}

// TestOpenReadOnlyEmpty: ReadOnly on a database without the store's
// tables is refused naming the database, and creates no table.
func TestOpenReadOnlyEmpty(t *testing.T) {
	dsn := testDSN(t)
	db := newDatabase(t, dsn)
	s, err := clickhouse.Open(ctx, dsn, &clickhouse.Options{Database: db, ReadOnly: true})
	if err == nil {
		s.Close()
	}
	wantFieldError(t, "ReadOnly Open of an empty database", err, "database", db)
	if names := tablesIn(t, dsn, db); len(names) != 0 {
		t.Fatalf("ReadOnly Open made tables %v in %s", names, db)
	}
}

// TestOpenReadOnlyBehind: ReadOnly on a database whose migrations
// table is not at the last step is refused naming the database, and
// migrates nothing.
func TestOpenReadOnlyBehind(t *testing.T) {
	dsn := testDSN(t)
	db := newDatabase(t, dsn)
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Exec(ctx, "CREATE TABLE "+db+".events_migrations (version UInt32, applied_at Int64) ENGINE = MergeTree ORDER BY version"); err != nil {
		t.Fatal(err)
	}
	b, err := admin.PrepareBatch(ctx, "INSERT INTO "+db+".events_migrations (version, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(1), int64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	_, err = clickhouse.Open(ctx, dsn, &clickhouse.Options{Database: db, ReadOnly: true})
	wantFieldError(t, "ReadOnly Open of a database a step behind", err, "database", db)
	if names := tablesIn(t, dsn, db); len(names) != 1 {
		t.Fatalf("ReadOnly Open of a database a step behind left tables %v, want only events_migrations", names)
	}
}

// TestOpenReadOnly: ReadOnly on a migrated database reads, and refuses
// every write naming read_only.
func TestOpenReadOnly(t *testing.T) {
	dsn := testDSN(t)
	db := newDatabase(t, dsn)
	w, err := clickhouse.Open(ctx, dsn, &clickhouse.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(5)
	if err := w.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	w.Close()
	before := tablesIn(t, dsn, db)

	r, err := clickhouse.Open(ctx, dsn, &clickhouse.Options{Database: db, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.Count(ctx, activitylog.Filter{}); err != nil || n != 5 {
		t.Fatalf("Count = %d, %v; want 5", n, err)
	}
	if p, err := r.Query(ctx, activitylog.Filter{}); err != nil || len(p.Events) != 5 {
		t.Fatalf("Query = %d events, %v; want 5", len(p.Events), err)
	}
	if got, err := r.Get(ctx, es[2].ID); err != nil || got.ID != es[2].ID {
		t.Fatalf("Get = %v, %v", got.ID, err)
	}
	n := 0
	if err := r.Scan(ctx, activitylog.Filter{}, func(*activitylog.Event) error { n++; return nil }); err != nil || n != 5 {
		t.Fatalf("Scan = %d events, %v; want 5", n, err)
	}
	if _, err := r.Dashboard(ctx, activitylog.Filter{From: time.Now().AddDate(-1, 0, 0)}, nil); err != nil {
		t.Fatalf("Dashboard: %v", err)
	}
	wantFieldError(t, "Write through a read-only store", r.Write(ctx, storetest.Fixture(1)), "read_only", "true")
	wantFieldError(t, "Resolve through a read-only store",
		r.Resolve(ctx, activitylog.Resolution{EventID: es[0].ID, ResolvedBy: "auditor"}), "read_only", "true")
	_, err = r.Migrate(ctx)
	wantFieldError(t, "Migrate through a read-only store", err, "read_only", "true")
	if n, err := r.Count(ctx, activitylog.Filter{}); err != nil || n != 5 {
		t.Fatalf("Count after the refused writes = %d, %v; want 5", n, err)
	}
	if after := tablesIn(t, dsn, db); len(after) != len(before) {
		t.Fatalf("tables %v became %v", before, after)
	}
}
