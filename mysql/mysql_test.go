package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/storetest"
	driver "github.com/go-sql-driver/mysql"
)

const envDSN = "ACTIVITYLOG_TEST_MYSQL_DSN"

var ctx = context.Background()

// serverDSN returns the DSN of the test server, or skips t when none
// is set.
func serverDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(envDSN)
	if dsn == "" {
		t.Skip("set " + envDSN + "=root@tcp(127.0.0.1:3306)/test to run against a real server")
	}
	return dsn
}

// newDatabase creates a database of its own for t, dropped when t ends,
// and returns a DSN (the driver's form) that names it.
func newDatabase(t testing.TB) string {
	t.Helper()
	cfg, err := driver.ParseDSN(serverDSN(t))
	if err != nil {
		t.Fatalf("%s: %v", envDSN, err)
	}
	var r [6]byte
	rand.Read(r[:])
	name := "al_" + hex.EncodeToString(r[:])
	admin := cfg.Clone()
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		db.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		db.Close()
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// open opens a store in a fresh database.
func open(t testing.TB, opts *mysql.Options) *mysql.Store {
	t.Helper()
	s, err := mysql.Open(ctx, newDatabase(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	serverDSN(t)
	storetest.Run(t, func(t *testing.T) activitylog.Store { return open(t, nil) })
}

// TestConformanceSmallStatements runs the suite with statements of
// 64 KiB, so that LargeBatch and others span several statements in
// one transaction.
func TestConformanceSmallStatements(t *testing.T) {
	serverDSN(t)
	storetest.Run(t, func(t *testing.T) activitylog.Store { return open(t, &mysql.Options{BatchBytes: 64 << 10}) })
}

func TestAnalyzer(t *testing.T) {
	serverDSN(t)
	storetest.RunAnalyzer(t, func(t *testing.T) activitylog.Store { return open(t, nil) })
}

// TestURLAndNativeDSN opens the same database through both forms of DSN.
func TestURLAndNativeDSN(t *testing.T) {
	native := newDatabase(t)
	cfg, err := driver.ParseDSN(native)
	if err != nil {
		t.Fatal(err)
	}
	u := "mysql://" + cfg.User
	if cfg.Passwd != "" {
		u += ":" + cfg.Passwd
	}
	u += "@" + cfg.Addr + "/" + cfg.DBName + "?timeout=5s"
	a, err := mysql.Open(ctx, native, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := mysql.Open(ctx, u, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", u, err)
	}
	defer b.Close()
	es := storetest.Fixture(3)
	if err := a.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Count(ctx, activitylog.Filter{}); err != nil || n != 3 {
		t.Errorf("Count through the URL's store = %d, %v; want 3", n, err)
	}
	if b.Database() != cfg.DBName {
		t.Errorf("Database() = %q, want %q", b.Database(), cfg.DBName)
	}
}

// TestBadDSN checks that a DSN or an option that cannot be used is
// refused with a FieldError naming it, and that no password shows.
func TestBadDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn   string
		opts  *mysql.Options
		field string
	}{
		{"", nil, "dsn"},
		{"mysql://root:hunter2@127.0.0.1:3306", nil, "dsn"},            // no database
		{"root:hunter2@tcp(127.0.0.1:3306)/", nil, "dsn"},              // no database
		{"root:hunter2@tcp(127.0.0.1:3306", nil, "dsn"},                // no slash
		{"root:hunter2@tcp(127.0.0.1:3306/db", nil, "dsn"},             // unclosed address
		{"postgres://root:hunter2@127.0.0.1/db", nil, "dsn"},           // another scheme
		{"mysql://root:hunter2@127.0.0.1/db?timeout=soon", nil, "dsn"}, // a bad parameter
		{"mysql://root:hunter2@127.0.0.1:3306/db/more", nil, "dsn"},    // a path
		{"mysql://root:hunter2@:3306/db%zz", nil, "dsn"},               // bad escape
		{"root@tcp(127.0.0.1:3306)/db", &mysql.Options{MaxConns: -1}, "max_conns"},
		{"root@tcp(127.0.0.1:3306)/db", &mysql.Options{BatchBytes: 100}, "batch_bytes"},
		{"root@tcp(127.0.0.1:3306)/db", &mysql.Options{DialTimeout: -time.Second}, "dial_timeout"},
	} {
		_, err := mysql.Open(ctx, tc.dsn, tc.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("Open(%q, %+v) = %v, want a FieldError naming %s", tc.dsn, tc.opts, err, tc.field)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): the error shows the password: %v", tc.dsn, err)
		}
		if tc.field == "dsn" && tc.dsn != "" && fe.Value == "" {
			t.Errorf("Open(%q): the error names no value: %v", tc.dsn, err)
		}
	}
}

// TestUnknownDatabase opens a database the server does not have, and
// with a user it does not know: both are the DSN's fault.
func TestUnknownDatabase(t *testing.T) {
	cfg, err := driver.ParseDSN(serverDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = "al_no_such_database"
	other := cfg.Clone()
	other.DBName, other.User, other.Passwd = "test", "al_nobody", "hunter2"
	for _, dsn := range []string{cfg.FormatDSN(), other.FormatDSN()} {
		_, err := mysql.Open(ctx, dsn, nil)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != "dsn" || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v, want a FieldError naming dsn, without the password", dsn, err)
		}
	}
}

// TestServerDown opens a store on a port where no server listens.
func TestServerDown(t *testing.T) {
	for _, dsn := range []string{"root@tcp(127.0.0.1:1)/test", "mysql://root@127.0.0.1:1/test"} {
		_, err := mysql.Open(ctx, dsn, &mysql.Options{DialTimeout: 2 * time.Second})
		if !errors.Is(err, activitylog.ErrUnavailable) {
			t.Errorf("Open(%q) with no server = %v, want an error wrapping ErrUnavailable", dsn, err)
		}
	}
}

// TestClosed checks that every method fails after Close, with
// ErrUnavailable.
func TestClosed(t *testing.T) {
	s := open(t, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	id := activitylog.NewID(time.Now())
	for name, err := range map[string]error{
		"Write":   s.Write(ctx, storetest.Fixture(1)),
		"Ping":    s.Ping(ctx),
		"Resolve": s.Resolve(ctx, activitylog.Resolution{EventID: id, ResolvedBy: "ann"}),
	} {
		if !errors.Is(err, activitylog.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Get after Close: %v", err)
	}
	if _, err := s.Query(ctx, activitylog.Filter{}); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Query after Close: %v", err)
	}
	if _, err := s.Count(ctx, activitylog.Filter{}); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Count after Close: %v", err)
	}
}

// TestBatchWithBadRowStoresNothing writes batches in which one event
// fails, before and after the first statement: nothing of either is
// stored.
func TestBatchWithBadRowStoresNothing(t *testing.T) {
	s := open(t, &mysql.Options{BatchBytes: 64 << 10})
	// Refused in Go: an action longer than the column.
	es := storetest.Fixture(10)
	es[7].Action = strings.Repeat("a", activitylog.MaxShortField+1)
	err := s.Write(ctx, es)
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "action" {
		t.Errorf("Write with a 1025-byte action = %v, want a FieldError naming action", err)
	}
	// Refused by the server, in the last of several statements: make
	// the last event's row break a column constraint the encoder
	// cannot see, by dropping the table's room for it.
	big := make([]activitylog.Event, 600)
	for i := range big {
		big[i] = storetest.TrailEvent(i, storetest.Base.Add(time.Duration(i)*time.Millisecond))
	}
	if _, err := s.DB().ExecContext(ctx, "ALTER TABLE events ADD CONSTRAINT no_bad CHECK (action <> 'BAD')"); err != nil {
		t.Fatal(err)
	}
	big[len(big)-1].Action = "BAD"
	err = s.Write(ctx, big)
	if fe, ok := errors.AsType[*activitylog.FieldError](err); !ok || fe.Field != "event" {
		t.Fatalf("Write of a batch whose last row breaks a constraint: %v, want a FieldError naming event", err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 0 {
		t.Fatalf("after failed batches the store has %d events (%v), want 0", n, err)
	}
	big[len(big)-1].Action = "GET"
	if err := s.Write(ctx, big); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != int64(len(big)) {
		t.Errorf("after a good batch: %d events, want %d", n, len(big))
	}
}

// TestConcurrentOpens opens one fresh database from several goroutines
// at once: each migrates or waits, and the migrations run once.
func TestConcurrentOpens(t *testing.T) {
	dsn := newDatabase(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	stores := make(chan *mysql.Store, n)
	for range n {
		wg.Go(func() {
			s, err := mysql.Open(ctx, dsn, nil)
			if err != nil {
				errs <- err
				return
			}
			stores <- s
		})
	}
	wg.Wait()
	close(errs)
	close(stores)
	for err := range errs {
		t.Error(err)
	}
	var s *mysql.Store
	for x := range stores {
		s = x
		defer x.Close()
	}
	if s == nil {
		t.Fatal("no store opened")
	}
	var rows, versions int
	if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != versions || rows == 0 {
		t.Errorf("schema_migrations has %d rows of %d versions: a migration ran twice", rows, versions)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != versions {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, versions)
	}
	if applied, err := s.Migrate(ctx); err != nil || applied != 0 {
		t.Errorf("Migrate again = %d, %v; want 0", applied, err)
	}
}

// TestSearchFoldsASCIIOnly checks what no collation gives: ASCII
// letters fold, other letters do not, and accents are not ignored.
func TestSearchFoldsASCIIOnly(t *testing.T) {
	s := open(t, nil)
	now := time.Now().UTC()
	mk := func(msg string) activitylog.Event {
		return activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCustom, Action: "x",
			Severity: activitylog.SeverityInfo, Message: msg}
	}
	es := []activitylog.Event{mk("Zoë Müller"), mk("ZOË MÜLLER"), mk("zoe muller"), mk("Straße"), mk("a\x00b"), mk("trailing ")}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"zoë", "ZOË", "müller", "MÜLLER", "zoe", "o", "ss", "STRASSE", "strasse", "straße", "\x00", "a\x00B", "trailing ", "trailing  ", "ing"} {
		f := activitylog.Filter{Search: q}
		var want []string
		nf, _ := f.Normalize(now)
		for i := range es {
			if nf.Match(&es[i]) {
				want = append(want, es[i].Message)
			}
		}
		p, err := s.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range p.Events {
			got = append(got, e.Message)
		}
		if strings.Join(sorted(got), "|") != strings.Join(sorted(want), "|") {
			t.Errorf("Search %q found %q, want %q", q, got, want)
		}
	}
}

// TestExactMatchKeepsSpaces checks the filters against values that
// a PAD SPACE collation would take as equal.
func TestExactMatchKeepsSpaces(t *testing.T) {
	s := open(t, nil)
	now := time.Now().UTC()
	var es []activitylog.Event
	for _, tenant := range []string{"acme", "acme ", "ACME", "acmé"} {
		es = append(es, activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCustom, Action: "x",
			Severity: activitylog.SeverityInfo, Tenant: tenant, Actor: activitylog.Actor{ID: tenant}})
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, f := range []activitylog.Filter{{Tenant: "acme"}, {Tenant: "acme "}, {ActorID: "ACME"}, {ActorID: "acmé"}} {
		if n, err := s.Count(ctx, f); err != nil || n != 1 {
			t.Errorf("Count(%+v) = %d, %v; want 1", f, n, err)
		}
	}
	p, err := s.Query(ctx, activitylog.Filter{Ordering: "tenant"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range p.Events {
		got = append(got, e.Tenant)
	}
	if want := []string{"ACME", "acme", "acme ", "acmé"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ordered by tenant: %q, want %q (bytes)", got, want)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestSpecialBytes writes values with every byte that a string literal
// escapes, in every column, and reads them back by Get and by each
// filter: Write escapes its own statements.
func TestSpecialBytes(t *testing.T) {
	s := open(t, nil)
	now := time.Now().UTC()
	odd := "q' d\" b\\ n\n r\r z\x1a nul\x00 t\t ü 💥 \\' '' \\N \\\\"
	e := activitylog.Event{
		ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCRUD, Action: odd, Severity: activitylog.SeverityInfo,
		Message: odd, Tenant: odd, Actor: activitylog.Actor{ID: odd, Name: odd},
		Object:   activitylog.Object{Type: odd, ID: odd, Repr: odd},
		Request:  activitylog.Request{Path: odd, Origin: odd, Method: "GET", RemoteIP: "::1", Route: odd},
		Category: odd, Tool: odd,
		Changes: map[string]activitylog.Change{odd: {Old: odd, New: nil}},
		Extra:   map[string]any{odd: odd, "username": odd},
	}
	// Bytes that are not UTF-8 are stored and matched as they are in
	// the columns (the JSON document has U+FFFD for them, as
	// encoding/json writes).
	bad := storetest.NewEvent(100)
	bad.Tenant, bad.Actor.ID = "bad\xff\xfe", "\xc3"
	other := append(storetest.Fixture(3), bad)
	if err := s.Write(ctx, append(other, e)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(e.Time) || got.Message != odd || got.Changes[odd].Old != odd || got.Extra[odd] != odd || got.Object.Repr != odd {
		t.Errorf("Get returned %+v, want the odd values back", got)
	}
	for _, f := range []activitylog.Filter{
		{Action: odd}, {Tenant: odd}, {ActorID: odd}, {ObjectType: odd}, {ObjectID: odd}, {Origin: odd},
		{Category: odd}, {Tool: odd}, {Search: odd}, {Search: "nul\x00 t"}, {Search: "Q' D\""},
	} {
		p, err := s.Query(ctx, f)
		if err != nil {
			t.Fatalf("Query(%+v): %v", f, err)
		}
		if len(p.Events) != 1 || p.Events[0].ID != e.ID {
			t.Errorf("Query(%+v) found %d events, want the odd one", f, len(p.Events))
		}
	}
	for _, f := range []activitylog.Filter{{Tenant: "bad\xff\xfe"}, {ActorID: "\xc3"}} {
		if p, err := s.Query(ctx, f); err != nil || len(p.Events) != 1 || p.Events[0].ID != bad.ID {
			t.Errorf("Query(%+v) = %d events, %v; want the one with those bytes", f, len(p.Events), err)
		}
	}
	var username string
	if err := s.DB().QueryRowContext(ctx, "SELECT JSON_UNQUOTE(JSON_EXTRACT(extra, '$.username')) FROM events WHERE id = ?", e.ID[:]).Scan(&username); err != nil || username != odd {
		t.Errorf("the extra column's username = %q, %v; want %q", username, err, odd)
	}
}

// TestRefusedEvents checks the events Write cannot store faithfully:
// each is refused with a FieldError, and nothing of its batch stored.
func TestRefusedEvents(t *testing.T) {
	s := open(t, nil)
	long := strings.Repeat("x", activitylog.MaxShortField+1)
	for _, tc := range []struct {
		field string
		edit  func(e *activitylog.Event)
	}{
		{"time", func(e *activitylog.Event) { e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"kind", func(e *activitylog.Event) { e.Kind = activitylog.Kind(long) }},
		{"tenant", func(e *activitylog.Event) { e.Tenant = long }},
		{"actor.id", func(e *activitylog.Event) { e.Actor.ID = long }},
		{"object.type", func(e *activitylog.Event) { e.Object.Type = long }},
		{"extra.price", func(e *activitylog.Event) { e.Extra = map[string]any{"price": func() {}} }},
		{"event", func(e *activitylog.Event) { e.Message = strings.Repeat("m", 17<<20) }}, // above max_allowed_packet (16 MiB here)
	} {
		es := storetest.Fixture(4)
		tc.edit(&es[2])
		err := s.Write(ctx, es)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Write with a bad %s = %v, want a FieldError naming it", tc.field, err)
		}
	}
	// A filter-only field longer than its column is kept in part, and
	// no filter value (at most 1024 bytes) equals it.
	es := storetest.Fixture(2)
	es[0].Request.Origin = long + "tail"
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, es[0].ID); err != nil || got.Request.Origin != long+"tail" {
		t.Errorf("a long origin did not round-trip: %v", err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{Origin: long[:activitylog.MaxShortField]}); err != nil || n != 0 {
		t.Errorf("a 1024-byte prefix of a longer origin matched %d events, %v; want none", n, err)
	}
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != 2 {
		t.Errorf("the store has %d events, want 2 (the refused batches stored nothing)", n)
	}
}

// TestRetryAcrossStatements writes a batch of several statements in
// which later statements hold ids stored already, and one id twice:
// the new events are stored, and the stored ones left as they were.
func TestRetryAcrossStatements(t *testing.T) {
	s := open(t, &mysql.Options{BatchBytes: 64 << 10})
	es := make([]activitylog.Event, 1200)
	for i := range es {
		es[i] = storetest.TrailEvent(i, storetest.Base.Add(time.Duration(i)*time.Millisecond))
	}
	if err := s.Write(ctx, es[300:600]); err != nil {
		t.Fatal(err)
	}
	again := append([]activitylog.Event(nil), es...)
	again[400].Message = "changed?"
	again = append(again, es[900])
	if err := s.Write(ctx, again); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(es))
	}
	if got, err := s.Get(ctx, es[400].ID); err != nil || got.Message != es[400].Message {
		t.Errorf("a stored event changed: %q, %v", got.Message, err)
	}
}

// ReadOnly opens a migrated database for reading, and the server
// refuses its writes; a database without the tables, or a migration
// behind, is refused naming it, and nothing is made in it.
func TestOpenReadOnly(t *testing.T) {
	dsn := newDatabase(t)
	if _, err := mysql.Open(ctx, dsn, &mysql.Options{ReadOnly: true}); !errors.Is(err, activitylog.ErrInvalid) || !strings.Contains(err.Error(), "holds no activitylog tables") {
		t.Fatalf("ReadOnly Open of an empty database = %v, want a FieldError naming database", err)
	}
	w, err := mysql.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, storetest.Fixture(5)); err != nil {
		t.Fatal(err)
	}
	r, err := mysql.Open(ctx, dsn, &mysql.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.Count(ctx, activitylog.Filter{}); err != nil || n != 5 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	if err := r.Write(ctx, storetest.Fixture(1)); err == nil || !strings.Contains(strings.ToLower(err.Error()), "read only") {
		t.Fatalf("Write through a read-only store = %v, want the server's refusal", err)
	}
	if _, err := w.DB().ExecContext(ctx, `DELETE FROM schema_migrations ORDER BY version DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := mysql.Open(ctx, dsn, &mysql.Options{ReadOnly: true}); !errors.Is(err, activitylog.ErrInvalid) || !strings.Contains(err.Error(), "run activitylog migrate") {
		t.Fatalf("ReadOnly Open of a database a migration behind = %v", err)
	}
}
