package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/activitylog/activitylog/storetest"
	"github.com/jackc/pgx/v5"
)

// dsnEnv names the server the integration tests use.
const dsnEnv = "ACTIVITYLOG_TEST_POSTGRES_DSN"

// testDSN returns the test server's DSN, and skips t without one.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip("set " + dsnEnv + "=\"host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable\" to run against a real server")
	}
	return dsn
}

// randomSchema returns a fresh schema name, and drops the schema when
// t ends.
func randomSchema(t testing.TB, dsn string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "alt_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+quoteIdent(schema)+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openTest opens a store in a fresh schema, closed and dropped when t
// ends.
func openTest(t testing.TB, opts *Options) *Store {
	t.Helper()
	dsn := testDSN(t)
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Schema = randomSchema(t, dsn)
	s, err := Open(context.Background(), dsn, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) activitylog.Store { return openTest(t, nil) })
}

// TestConformanceStaged runs the suite with every Write taking the path
// a retried batch takes: COPY into the staging table, then INSERT …
// SELECT … ON CONFLICT DO NOTHING.
func TestConformanceStaged(t *testing.T) {
	storetest.Run(t, func(t *testing.T) activitylog.Store {
		s := openTest(t, nil)
		s.staged = true
		return s
	})
}

func TestAnalyzer(t *testing.T) {
	storetest.RunAnalyzer(t, func(t *testing.T) activitylog.Store { return openTest(t, nil) })
}

// TestPartitions writes events across several months, and finds each
// in the partition of its month, the default partition empty.
func TestPartitions(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	months := []time.Time{
		time.Date(2024, 1, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(2025, 7, 4, 1, 2, 3, 4, time.UTC),
		time.Date(2199, 12, 31, 23, 0, 0, 0, time.UTC),
	}
	var es []activitylog.Event
	for i, m := range months {
		e := storetest.NewEvent(i)
		e.Time = m
		es = append(es, e)
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	rows, err := s.pool.Query(ctx, `SELECT c.relname, (SELECT count(*) FROM events e WHERE e.tableoid = c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		got[name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for name, want := range map[string]int{
		"events_m202401": 1, "events_m202402": 2,
		"events_m202507": 1, "events_m219912": 1, "events_m220001": 0, // the month after the latest, made ahead
		"events_default":                                   0,
		monthly.partName(monthly.start(now)):               0, // made by Open
		monthly.partName(monthly.next(monthly.start(now))): 0,
	} {
		n, ok := got[name]
		if !ok {
			t.Errorf("no partition %s; have %v", name, got)
			continue
		}
		if n != want {
			t.Errorf("partition %s holds %d events, want %d", name, n, want)
		}
	}
	for i := range es {
		g, err := s.Get(ctx, es[i].ID)
		if err != nil || !g.Time.Equal(es[i].Time) {
			t.Errorf("Get(%s) = %v, %v", es[i].ID, g.Time, err)
		}
	}
	// A second store on the same schema knows the partitions: writing
	// there again creates nothing and stores nothing twice.
	s2, err := Open(ctx, os.Getenv(dsnEnv), &Options{Schema: s.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if n, err := s2.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(es))
	}
}

// TestPartitionIntervals checks each interval's periods and names, and
// that a schema keeps the interval it was made with.
func TestPartitionIntervals(t *testing.T) {
	at := time.Date(2026, 11, 24, 21, 30, 0, 0, time.UTC) // a Tuesday
	for _, c := range []struct {
		iv         interval
		start, end time.Time
		name       string
	}{
		{daily, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), "events_d20261124"},
		{weekly, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), "events_w20261123"},
		{monthly, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "events_m202611"},
		{yearly, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "events_y2026"},
	} {
		st := c.iv.start(at)
		if !st.Equal(c.start) || !c.iv.next(st).Equal(c.end) || c.iv.partName(st) != c.name {
			t.Errorf("%s: start %v, end %v, name %s; want %v, %v, %s", c.iv.name(), st, c.iv.next(st), c.iv.partName(st), c.start, c.end, c.name)
		}
		if p, ok := c.iv.parseName(c.name); !ok || !p.Equal(c.start) {
			t.Errorf("%s: parseName(%s) = %v, %v", c.iv.name(), c.name, p, ok)
		}
		if iv, ok := parseInterval(c.iv.name()); !ok || iv != c.iv {
			t.Errorf("parseInterval(%s) = %v, %v", c.iv.name(), iv, ok)
		}
	}
	if _, ok := monthly.parseName("events_m202613"); ok {
		t.Error("parseName accepted month 13")
	}

	s := openTest(t, &Options{PartitionInterval: "day"})
	ctx := context.Background()
	e := storetest.NewEvent(0)
	e.Time = at
	if err := s.Write(ctx, []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	var part string
	if err := s.pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM events WHERE id = $1`, [16]byte(e.ID)).Scan(&part); err != nil {
		t.Fatal(err)
	}
	if part != "events_d20261124" {
		t.Errorf("the event is in %s, want events_d20261124", part)
	}
	// The schema keeps its interval: another is refused, none takes it.
	dsn := os.Getenv(dsnEnv)
	_, err := Open(ctx, dsn, &Options{Schema: s.Schema(), PartitionInterval: "month"})
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "partition interval" {
		t.Errorf("Open with another interval: %v, want a FieldError naming partition interval", err)
	}
	s2, err := Open(ctx, dsn, &Options{Schema: s.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.interval != daily {
		t.Errorf("Open without an interval took %s, want day", s2.interval.name())
	}
}

// TestIdempotentAcrossTimes writes an id again with another time (in
// another partition): the stored event stays as it was, once.
func TestIdempotentAcrossTimes(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	e := storetest.NewEvent(1)
	if err := s.Write(ctx, []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	moved := e
	moved.Time = e.Time.AddDate(-1, 0, 0)
	moved.Message = "moved"
	if err := s.Write(ctx, []activitylog.Event{moved, storetest.NewEvent(2)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v; want 2", n, err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil || !got.Time.Equal(e.Time) || got.Message != e.Message {
		t.Errorf("Get = %v %q, %v; want the first write, %v %q", got.Time, got.Message, err, e.Time, e.Message)
	}
	// The same, from goroutines at once: one of them stores the id.
	f := storetest.NewEvent(3)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := f
			g.Time = f.Time.AddDate(0, -i, 0)
			if err := s.Write(ctx, []activitylog.Event{g}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 3 {
		t.Fatalf("after concurrent writes of one id: Count = %d, %v; want 3", n, err)
	}
}

// TestWriteAllOrNothing makes the database refuse one row of a batch,
// and cancels a batch in the middle of its COPY: neither stores
// anything, and the store works on.
func TestWriteAllOrNothing(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	// A constraint this test adds refuses one row, in the INSERT … SELECT
	// after the COPY.
	if _, err := s.pool.Exec(ctx, `ALTER TABLE events ADD CONSTRAINT no_bad CHECK (action <> 'bad')`); err != nil {
		t.Fatal(err)
	}
	batch := make([]activitylog.Event, 500)
	for i := range batch {
		batch[i] = storetest.TrailEvent(i, storetest.Base.Add(time.Duration(i)*time.Millisecond))
	}
	batch[377].Action = "bad"
	err := s.Write(ctx, batch)
	if err == nil || !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("Write with a refused row: %v, want an error wrapping ErrUnavailable", err)
	}
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != 0 {
		t.Fatalf("a refused batch stored %d events", n)
	}
	var ids int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM event_ids`).Scan(&ids); err != nil || ids != 0 {
		t.Fatalf("a refused batch left %d ids, %v", ids, err)
	}

	// Cancelled in the middle of the COPY.
	batch[377].Action = "GET"
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	testHookCopyRow = func(c context.Context, i int) {
		if c == cctx && i == 250 {
			cancel()
			time.Sleep(50 * time.Millisecond) // let pgx see it mid-COPY
		}
	}
	defer func() { testHookCopyRow = nil }()
	if err := s.Write(cctx, batch); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write cancelled mid-COPY: %v, want context.Canceled", err)
	}
	testHookCopyRow = nil
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != 0 {
		t.Fatalf("a cancelled batch stored %d events", n)
	}
	if err := s.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != int64(len(batch)) {
		t.Fatalf("after failed writes a good one stored %d events, want %d", n, len(batch))
	}
}

// TestConcurrentOpen opens one new schema from several goroutines at
// once: each migration is applied once, and every Open succeeds.
func TestConcurrentOpen(t *testing.T) {
	dsn := testDSN(t)
	schema := randomSchema(t, dsn)
	ctx := context.Background()
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, dsn, &Options{Schema: schema, MaxConns: 2})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var rows, distinct int
	if err := stores[0].pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || distinct != len(ms) {
		t.Errorf("schema_migrations has %d rows, %d versions; want %d each", rows, distinct, len(ms))
	}
	if v, err := stores[n-1].SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].version {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
	if applied, err := stores[0].Migrate(ctx); err != nil || applied != 0 {
		t.Errorf("Migrate again applied %d, %v; want 0", applied, err)
	}
}

// TestBadOptions refuses bad DSNs and options with a FieldError naming
// them, before any connection.
func TestBadOptions(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		dsn   string
		opts  *Options
		field string
	}{
		{"postgres://u:secret@127.0.0.1:notaport/db", nil, "dsn"},
		{"host=127.0.0.1 port=abc password=secret", nil, "dsn"},
		{"postgres://127.0.0.1/db?sslmode=sometimes", nil, "dsn"},
		{"postgres://127.0.0.1/db", &Options{PartitionInterval: "fortnight"}, "partition interval"},
		{"postgres://127.0.0.1/db", &Options{MaxConns: -1}, "max conns"},
		{"postgres://127.0.0.1/db", &Options{Schema: strings.Repeat("s", 64)}, "schema"},
	} {
		_, err := Open(ctx, c.dsn, c.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("Open(%q, %+v) = %v, want a FieldError naming %s", c.dsn, c.opts, err, c.field)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error shows the password: %v", c.dsn, err)
		}
	}
}

// TestServerDown opens a store on a port nobody listens on.
func TestServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // now nobody listens there
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Open(ctx, "host=127.0.0.1 port="+strconv.Itoa(port)+" user=postgres dbname=test sslmode=disable connect_timeout=2", nil)
	if !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("Open of a server that is down: %v, want an error wrapping ErrUnavailable", err)
	}
}

// TestClosed: every method fails after Close, with ErrUnavailable.
func TestClosed(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	s.Close()
	if err := s.Write(ctx, []activitylog.Event{storetest.NewEvent(0)}); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := s.Query(ctx, activitylog.Filter{}); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Query after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestText checks the mapping of text columns: NUL and invalid bytes
// become U+FFFD, as encoding/json writes invalid bytes.
func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "ünï": "ünï", "a\x00b": "a\uFFFDb", "a\xffb\xfe": "a\uFFFDb\uFFFD", "": "",
	} {
		if got := text(in); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`{"a":"x\u0000"}`: `{"a":"x\ufffd"}`, `{"a":"\\u0000"}`: ``, `{"a":1}`: ``,
	} {
		got, ok := withoutNUL([]byte(in))
		if ok != (want != "") || string(got) != want {
			t.Errorf("withoutNUL(%s) = %s, %v; want %s", in, got, ok, want)
		}
	}
}

// TestOddStrings stores NUL and invalid UTF-8 in filtered fields and in
// extra: the write succeeds and the filters find them.
func TestOddStrings(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	e := storetest.NewEvent(0)
	e.Actor.ID = "u\x00x"
	e.Message = "bad \xff byte"
	e.Extra = map[string]any{"nul": "a\x00b"}
	if err := s.Write(ctx, []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []activitylog.Filter{{ActorID: "u\x00x"}, {Search: "bad \xff"}} {
		if n, err := s.Count(ctx, f); err != nil || n != 1 {
			t.Errorf("Count(%+v) = %d, %v; want 1", f, n, err)
		}
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil || got.Extra["nul"] != "a\x00b" {
		t.Errorf("Get: extra %q, %v", got.Extra["nul"], err)
	}
}

// monthEvents returns n events of NewEvent's kinds, at t plus minutes.
func monthEvents(from, n int, t time.Time) []activitylog.Event {
	es := make([]activitylog.Event, n)
	for i := range es {
		es[i] = storetest.NewEvent(from + i)
		es[i].Time = t.Add(time.Duration(i) * time.Minute)
	}
	return es
}

func partitionNames(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	ps, err := s.listPartitions(context.Background(), s.pool)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, p := range ps {
		m[p.name] = true
	}
	return m
}

// TestDropBefore drops the partitions wholly before a time, and their
// ids: a dropped event is gone, and written again is stored again.
func TestDropBefore(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	jan := monthEvents(0, 10, time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC))
	feb := monthEvents(10, 10, time.Date(2024, 2, 10, 0, 0, 0, 0, time.UTC))
	now := monthEvents(20, 5, time.Now().UTC().Add(-time.Hour))
	for _, es := range [][]activitylog.Event{jan, feb, now} {
		if err := s.Write(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	dropped, err := s.DropBefore(ctx, time.Date(2024, 2, 15, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[0] != "events_m202401" {
		t.Fatalf("DropBefore dropped %v, want [events_m202401]", dropped)
	}
	if ps := partitionNames(t, s); ps["events_m202401"] || !ps["events_m202402"] {
		t.Errorf("partitions after DropBefore: %v", ps)
	}
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != 15 {
		t.Errorf("Count after DropBefore = %d, want 15", n)
	}
	if _, err := s.Get(ctx, jan[0].ID); !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("Get of a dropped event: %v, want ErrNotFound", err)
	}
	var ids int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM event_ids`).Scan(&ids); err != nil || ids != 15 {
		t.Errorf("event_ids holds %d ids after DropBefore, %v; want 15", ids, err)
	}
	// Written again, a dropped event is stored again, in a new partition.
	if err := s.Write(ctx, jan[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, jan[0].ID); err != nil {
		t.Errorf("Get of a dropped event written again: %v", err)
	}
	if _, err := s.DropBefore(ctx, time.Time{}); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("DropBefore(zero time): %v, want ErrInvalid", err)
	}
}

// TestPurge deletes by kind and tenant row by row, then every tenant and
// kind, which drops whole partitions except one holding a record of a
// purge, which is kept.
func TestPurge(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	jan := monthEvents(0, 12, time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC))
	feb := monthEvents(12, 12, time.Date(2024, 2, 10, 0, 0, 0, 0, time.UTC))
	rec := storetest.NewEvent(99)
	rec.Kind, rec.Action, rec.Category = activitylog.KindSystem, "security", activitylog.CategoryRetention
	rec.Time = time.Date(2024, 2, 20, 0, 0, 0, 0, time.UTC)
	now := monthEvents(30, 6, time.Now().UTC().Add(-time.Hour))
	for _, es := range [][]activitylog.Event{jan, feb, {rec}, now} {
		if err := s.Write(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	cut := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	old := append(append([]activitylog.Event{}, jan...), feb...)
	want := func(keep func(e *activitylog.Event) bool) (int64, map[activitylog.Kind]int64) {
		var n int64
		by := map[activitylog.Kind]int64{}
		for i := range old {
			if keep(&old[i]) {
				n++
				by[old[i].Kind]++
			}
		}
		return n, by
	}
	// One tenant's crud events, row by row.
	res, err := s.Purge(ctx, activitylog.PurgeRequest{Before: cut, Kinds: []activitylog.Kind{activitylog.KindCRUD}, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	isAcmeCRUD := func(e *activitylog.Event) bool { return e.Kind == activitylog.KindCRUD && e.Tenant == "acme" }
	n, by := want(isAcmeCRUD)
	if n == 0 || res.Deleted != n || res.ByKind[activitylog.KindCRUD] != by[activitylog.KindCRUD] {
		t.Errorf("Purge(acme crud) = %+v, want %d deleted", res, n)
	}
	if ps := partitionNames(t, s); !ps["events_m202401"] || !ps["events_m202402"] {
		t.Errorf("a purge of one tenant dropped a partition: %v", ps)
	}
	// Everything before the cut: January dropped whole, February row by
	// row, its record of a purge kept.
	res, err = s.Purge(ctx, activitylog.PurgeRequest{Before: cut, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	n, by = want(func(e *activitylog.Event) bool { return !isAcmeCRUD(e) })
	if res.Deleted != n || len(res.ByKind) != len(by) {
		t.Errorf("Purge(all) = %+v, want %d deleted, %v", res, n, by)
	}
	for k, c := range by {
		if res.ByKind[k] != c {
			t.Errorf("Purge(all) deleted %d %s events, want %d", res.ByKind[k], k, c)
		}
	}
	if ps := partitionNames(t, s); ps["events_m202401"] || !ps["events_m202402"] {
		t.Errorf("partitions after the purge: %v; want January dropped, February kept", ps)
	}
	if c, _ := s.Count(ctx, activitylog.Filter{}); c != int64(len(now)+1) {
		t.Errorf("Count after the purges = %d, want %d", c, len(now)+1)
	}
	if _, err := s.Get(ctx, rec.ID); err != nil {
		t.Errorf("the record of a purge is gone: %v", err)
	}
	var ids int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM event_ids`).Scan(&ids); err != nil || ids != len(now)+1 {
		t.Errorf("event_ids holds %d ids after the purges, %v; want %d", ids, err, len(now)+1)
	}
	if _, err := s.Purge(ctx, activitylog.PurgeRequest{}); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("Purge without Before: %v, want ErrInvalid", err)
	}
}

// TestColumns reads back every column Write fills, as SQL sees it.
func TestColumns(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	e := storetest.NewEvent(3)
	e.Request.Geo.CountryCode = "DE"
	bare := activitylog.Event{ID: activitylog.NewID(e.Time), Time: e.Time.Add(time.Second), Kind: activitylog.KindCustom,
		Action: "x", Severity: activitylog.SeverityDebug}
	if err := s.Write(ctx, []activitylog.Event{e, bare}); err != nil {
		t.Fatal(err)
	}
	var (
		id                                                                       [16]byte
		ns, duration                                                             int64
		status                                                                   int32
		kind, action, severity, tenant, actorID, actorName, objType, objID, repr string
		message, path, route, ip, method, origin, category, tool, code, country  string
		changes, extra                                                           map[string]any
		data                                                                     []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT `+strings.Join(stageColumns, ", ")+` FROM events WHERE id = $1`, [16]byte(e.ID)).Scan(
		&id, &ns, &kind, &action, &severity, &tenant, &actorID, &actorName, &objType, &objID, &repr, &message, &path, &route, &ip,
		&status, &duration, &method, &origin, &category, &tool, &code, &country, &changes, &extra, &data)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{id, ns, kind, action, severity, tenant, actorID, actorName, objType, objID, repr, message, path, route, ip,
		int(status), duration, method, origin, category, tool, code, country, changes["status"], extra["i"]}
	want := []any{[16]byte(e.ID), e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant, e.Actor.ID, e.Actor.Name,
		e.Object.Type, e.Object.ID, e.Object.Repr, e.Message, e.Request.Path, e.Request.Route, e.Request.RemoteIP,
		e.Response.Status, int64(e.Response.Duration), e.Request.Method, e.Request.Origin, e.Category, e.Tool,
		e.Request.Geo.CountryCode, e.Request.Geo.Country, map[string]any{"old": "new", "new": "paid"}, e.Extra["i"]}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("column %s = %#v, want %#v", stageColumns[i], got[i], want[i])
		}
	}
	var sp eventjson.Spans
	if doc, _ := eventjson.Append(nil, &e, &sp); string(doc) != string(data) {
		t.Errorf("data = %s, want %s", data, doc)
	}
	// Without changes and extra: NULLs; the route falls back to the path.
	var nulls int
	if err := s.pool.QueryRow(ctx, `SELECT num_nulls(changes, extra) FROM events WHERE id = $1`, [16]byte(bare.ID)).Scan(&nulls); err != nil || nulls != 2 {
		t.Errorf("changes and extra of an event without them: %d NULLs, %v; want 2", nulls, err)
	}
}

// TestScanAndCountUpTo: Scan gives what walking Query gives, in order,
// and stops at fn's error; CountUpTo stops at its limit.
func TestScanAndCountUpTo(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	es := storetest.Fixture(30)
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, f := range []activitylog.Filter{{}, {Ordering: "status"}, {Kind: activitylog.KindCRUD, Ordering: "-actor_id"}, {Search: "event 1"}} {
		var want []activitylog.ID
		g := f
		g.PageSize = 7
		for {
			p, err := s.Query(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				want = append(want, e.ID)
			}
			if p.Next == "" {
				break
			}
			g.Cursor = p.Next
		}
		var got []activitylog.ID
		if err := s.Scan(ctx, f, func(e *activitylog.Event) error { got = append(got, e.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Scan(%+v) = %d events, Query %d; they differ", f, len(got), len(want))
		}
		if n, err := s.CountUpTo(ctx, f, 5); err != nil || n != int64(min(5, len(want))) {
			t.Errorf("CountUpTo(%+v, 5) = %d, %v; want %d", f, n, err, min(5, len(want)))
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.Scan(ctx, activitylog.Filter{}, func(e *activitylog.Event) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Errorf("Scan stopped by fn: %v after %d events, want stop after 3", err, n)
	}
	if err := s.Scan(ctx, activitylog.Filter{Kind: "nope"}, nil); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("Scan with a bad filter: %v", err)
	}
}

// ReadOnly opens a migrated schema for reading (and the server refuses
// its writes); a schema without the tables, or one a migration behind,
// is refused naming schema, and nothing is made in it.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dsn := testDSN(t)
	schema := randomSchema(t, dsn)
	if _, err := Open(ctx, dsn, &Options{Schema: schema, ReadOnly: true}); !errors.Is(err, activitylog.ErrInvalid) || !strings.Contains(err.Error(), "holds no activitylog tables") {
		t.Fatalf("ReadOnly Open of an empty schema = %v, want a FieldError naming schema", err)
	}
	var exists bool
	if err := pgxQueryRow(t, dsn, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || exists {
		t.Fatalf("the read-only Open made the schema (%v, %v)", exists, err)
	}
	w, err := Open(ctx, dsn, &Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(5)
	if err := w.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := Open(ctx, dsn, &Options{Schema: schema, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.Count(ctx, activitylog.Filter{}); err != nil || n != 5 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	if err := r.Write(ctx, storetest.Fixture(1)); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Fatalf("Write through a read-only store = %v, want the server's refusal", err)
	}
	if _, err := pgxExec(t, dsn, `DELETE FROM `+quoteIdent(schema)+`.schema_migrations WHERE version = (SELECT max(version) FROM `+quoteIdent(schema)+`.schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn, &Options{Schema: schema, ReadOnly: true}); !errors.Is(err, activitylog.ErrInvalid) || !strings.Contains(err.Error(), "run activitylog migrate") {
		t.Fatalf("ReadOnly Open of a schema a migration behind = %v", err)
	}
}

func pgxQueryRow(t *testing.T, dsn, q string, args ...any) pgx.Row {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c.QueryRow(context.Background(), q, args...)
}

func pgxExec(t *testing.T, dsn, q string) (int64, error) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	tag, err := c.Exec(context.Background(), q)
	return tag.RowsAffected(), err
}
