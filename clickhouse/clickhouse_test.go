package clickhouse_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/clickhouse"
	"github.com/activitylog/activitylog/storetest"
)

const dsnEnv = "ACTIVITYLOG_TEST_CLICKHOUSE_DSN"

var ctx = context.Background()

// testDSN returns the DSN of the test server, and skips the test when
// none is set.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip("set " + dsnEnv + "=clickhouse://127.0.0.1:9000/default to run against a real server (.ci/clickhouse.sh starts one)")
	}
	return dsn
}

// newDatabase creates a database of its own for t, al_<random>, and
// drops it when t ends.
func newDatabase(t testing.TB, dsn string) string {
	t.Helper()
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
		t.Fatalf("create database %s: %v", db, err)
	}
	t.Cleanup(func() {
		if err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
		admin.Close()
	})
	return db
}

// open opens a store in a database of its own.
func open(t testing.TB) *clickhouse.Store {
	t.Helper()
	dsn := testDSN(t)
	db := newDatabase(t, dsn)
	s, err := clickhouse.Open(ctx, dsn, &clickhouse.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) activitylog.Store { return open(t) })
}

func TestAnalyzer(t *testing.T) {
	testDSN(t)
	storetest.RunAnalyzer(t, func(t *testing.T) activitylog.Store { return open(t) })
}

// odd are strings that a store that built its SQL by hand would break
// on, or fold, or cut short.
var odd = []string{
	`it's`, `a\b`, `\'`, `'; DROP TABLE events; --`, "nul\x00byte", "\xff\xfe not UTF-8 \xc3",
	`100%_`, "?", `\?`, "ÅSA åsa", "tab\tnew\nline", `"quoted"`, "`backtick`", "",
}

// TestOddStrings writes events whose every filtered field holds one of
// odd, reads each back whole, filters on every field by its exact
// value, and searches for it: Query, Count and Get agree with
// Filter.Match.
func TestOddStrings(t *testing.T) {
	s := open(t)
	var es []activitylog.Event
	for i, v := range odd {
		e := storetest.NewEvent(i)
		e.Action, e.Tenant, e.Actor.ID, e.Actor.Name = "act"+v, v, "u"+v, "name "+v
		e.Object.Type, e.Object.ID, e.Object.Repr = "t"+v, v, "repr "+v
		e.Message, e.Request.Path, e.Category, e.Tool, e.Request.Origin = "msg "+v, "/p/"+v, v, v, v
		e.Extra = map[string]any{v: v, "username": v}
		e.Request.Headers = map[string]string{v: v}
		es = append(es, e)
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, w := range es {
		got, err := s.Get(ctx, w.ID)
		if err != nil {
			t.Fatalf("Get(%s): %v", w.ID, err)
		}
		if !got.Time.Equal(w.Time) || got.Message != w.Message || got.Tenant != w.Tenant || got.Action != w.Action ||
			got.Actor.Name != w.Actor.Name || got.Object != w.Object || got.Request.Path != w.Request.Path ||
			got.Category != w.Category || got.Tool != w.Tool || got.Request.Origin != w.Request.Origin {
			t.Errorf("Get(%s) = %+v, want %+v", w.ID, got, w)
		}
		// The fields with columns of their own or in attrs come back
		// byte for byte; the maps are JSON, where each byte that is not
		// valid UTF-8 becomes U+FFFD (as encoding/json writes it).
		j := viaJSON(t, w)
		if got.Extra[j.Tenant] != j.Tenant || got.Request.Headers[j.Tenant] != j.Tenant {
			t.Errorf("Get(%s): the maps did not round-trip: %v, %v", w.ID, got.Extra, got.Request.Headers)
		}
		want := w
		want.Time = w.Time.UTC()
		want.Extra, want.Request.Headers = j.Extra, j.Request.Headers
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Get(%s):\n got %+v\nwant %+v", w.ID, got, want)
		}
	}
	check := func(f activitylog.Filter) {
		t.Helper()
		nf, err := f.Normalize(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range es {
			if nf.Match(&es[i]) {
				want = append(want, es[i].ID.String())
			}
		}
		f.PageSize = 1000
		p, err := s.Query(ctx, f)
		if err != nil {
			t.Fatalf("Query(%+v): %v", f, err)
		}
		var got []string
		for _, e := range p.Events {
			got = append(got, e.ID.String())
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Query(%+v) = %v, want %v", f, got, want)
		}
		if n, err := s.Count(ctx, f); err != nil || n != int64(len(want)) {
			t.Errorf("Count(%+v) = %d, %v; want %d", f, n, err, len(want))
		}
	}
	for _, v := range odd {
		check(activitylog.Filter{Tenant: v})
		check(activitylog.Filter{Action: "act" + v})
		check(activitylog.Filter{ActorID: "u" + v})
		check(activitylog.Filter{ObjectType: "t" + v, ObjectID: v})
		check(activitylog.Filter{Category: v, Tool: v, Origin: v})
		check(activitylog.Filter{Search: v})
		check(activitylog.Filter{Search: strings.ToUpper(v)})
	}
	// An ordering by a text field compares bytes: the non-UTF-8 tenant
	// (0xff) sorts last.
	p, err := s.Query(ctx, activitylog.Filter{Ordering: "-tenant", PageSize: 1})
	if err != nil || len(p.Events) != 1 || p.Events[0].Tenant != "\xff\xfe not UTF-8 \xc3" {
		t.Errorf("Query(-tenant) = %+v, %v; want the tenant that starts with 0xff first", p.Events, err)
	}
	// Suspects counts the usernames, odd ones included.
	if _, err := s.Suspects(ctx, activitylog.Filter{}, 1); err != nil {
		t.Error(err)
	}
}

// viaJSON returns e as encoding/json writes and reads it back.
func viaJSON(t *testing.T, e activitylog.Event) activitylog.Event {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var out activitylog.Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSearchFoldsASCIIOnly checks that Search folds A-Z and nothing
// else, as Filter.Match does: "åsa" does not find "ÅSA".
func TestSearchFoldsASCIIOnly(t *testing.T) {
	s := open(t)
	e := storetest.NewEvent(0)
	e.Message = "ÅSA Zoë"
	if err := s.Write(ctx, []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	for search, want := range map[string]int64{"åsa": 0, "ÅSA": 1, "Åsa": 1, "zoë": 1, "ZOË": 0, "ZOë": 1} {
		if n, err := s.Count(ctx, activitylog.Filter{Search: search}); err != nil || n != want {
			t.Errorf("Count(search %q) = %d, %v; want %d", search, n, err, want)
		}
	}
}

// TestServerDown opens a store on a port where no server listens: the
// error wraps ErrUnavailable and is not ErrInvalid.
func TestServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = clickhouse.Open(ctx, "clickhouse://"+addr+"/default?dial_timeout=2s", nil)
	if !errors.Is(err, activitylog.ErrUnavailable) || errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("Open with no server: %v, want an error wrapping ErrUnavailable", err)
	}
}

// TestClosed checks that a closed store answers ErrUnavailable.
func TestClosed(t *testing.T) {
	s := open(t)
	s.Close()
	if err := s.Write(ctx, storetest.Fixture(1)); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := s.Count(ctx, activitylog.Filter{}); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Count after Close: %v", err)
	}
}

// TestBadDSN checks that each bad DSN or option is refused with a
// *FieldError naming the field and its value, before any connection.
func TestBadDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn          string
		opts         *clickhouse.Options
		field, value string
	}{
		{"postgres://127.0.0.1:9000/default", nil, "scheme", "postgres"},
		{"http://127.0.0.1:8123/default", nil, "scheme", "http"},
		{"clickhouse:///default", nil, "host", ""},
		{"clickhouse://127.0.0.1:99999/default", nil, "port", "99999"},
		{"clickhouse://127.0.0.1:x/default", nil, "dsn", "clickhouse://127.0.0.1:x/default"},
		{"clickhouse://127.0.0.1:9000/bad-name", nil, "database", "bad-name"},
		{"clickhouse://127.0.0.1:9000/default?dial_timeout=soon", nil, "dial_timeout", "soon"},
		{"clickhouse://127.0.0.1:9000/default?max_open_conns=-1", nil, "max_open_conns", "-1"},
		{"clickhouse://127.0.0.1:9000/default?secure=maybe", nil, "secure", "maybe"},
		{"clickhouse://127.0.0.1:9000/default?compress=snappy", nil, "compress", "snappy"},
		{"clickhouse://127.0.0.1:9000/default", &clickhouse.Options{Table: "events; DROP"}, "table", "events; DROP"},
		{"clickhouse://127.0.0.1:9000/default", &clickhouse.Options{Database: "a.b"}, "database", "a.b"},
		{"clickhouse://127.0.0.1:9000/default", &clickhouse.Options{MaxConns: -1}, "max_conns", "-1"},
		{"::not a url", nil, "dsn", "::not a url"},
	} {
		_, err := clickhouse.Open(ctx, tc.dsn, tc.opts)
		fe, ok := errors.AsType[*activitylog.FieldError](err)
		if !ok || !errors.Is(err, activitylog.ErrInvalid) || fe.Field != tc.field || fe.Value != tc.value {
			t.Errorf("Open(%q, %+v) = %v, want a *FieldError for %s %q", tc.dsn, tc.opts, err, tc.field, tc.value)
		}
	}
}

// TestRefusedByServer checks the refusals that only the server can
// make: a database it does not have, a setting it does not know.
func TestRefusedByServer(t *testing.T) {
	dsn := testDSN(t)
	u := strings.TrimSuffix(strings.SplitN(dsn, "?", 2)[0], "/default")
	for _, tc := range []struct {
		dsn          string
		field, value string
	}{
		{u + "/al_no_such_database", "database", "al_no_such_database"},
		{dsn + sep(dsn) + "sslmode=require", "dsn", "sslmode"},
	} {
		_, err := clickhouse.Open(ctx, tc.dsn, nil)
		fe, ok := errors.AsType[*activitylog.FieldError](err)
		if !ok || fe.Field != tc.field || fe.Value != tc.value {
			t.Errorf("Open(%q) = %v, want a *FieldError for %s %q", tc.dsn, err, tc.field, tc.value)
		}
	}
}

func sep(dsn string) string {
	if strings.Contains(dsn, "?") {
		return "&"
	}
	return "?"
}

// TestBatchAcrossMonthsConverges writes part of a batch that spans
// three months, as a Write that failed after storing one month's part
// would leave it, then the whole batch, as the Recorder's retry would:
// every event is stored exactly once.
func TestBatchAcrossMonthsConverges(t *testing.T) {
	s := open(t)
	var es []activitylog.Event
	for i := range 30 {
		e := storetest.NewEvent(i)
		e.Time = time.Date(2026, time.Month(1+i%3), 1+i, 12, 0, 0, i, time.UTC)
		e.ID = activitylog.NewID(e.Time)
		es = append(es, e)
	}
	var february []activitylog.Event
	for _, e := range es {
		if e.Time.Month() == time.February {
			february = append(february, e)
		}
	}
	if err := s.Write(ctx, february); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Write(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)) {
		t.Fatalf("Count = %d, %v; want %d: each event once", n, err, len(es))
	}
	for _, e := range es {
		if _, err := s.Get(ctx, e.ID); err != nil {
			t.Errorf("Get(%s): %v", e.ID, err)
		}
	}
}

// TestRefusesUnstorable checks the events Write refuses, naming the
// field, and that it then stores nothing of the batch.
func TestRefusesUnstorable(t *testing.T) {
	s := open(t)
	for _, tc := range []struct {
		field string
		bad   func(e *activitylog.Event)
	}{
		{"time", func(e *activitylog.Event) { e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"request.geo.lat", func(e *activitylog.Event) { e.Request.Geo.Lat = nan() }},
		{"extra.x", func(e *activitylog.Event) { e.Extra = map[string]any{"x": nan()} }},
		{"changes.x.new", func(e *activitylog.Event) { e.Changes = map[string]activitylog.Change{"x": {New: func() {}}} }},
	} {
		es := storetest.Fixture(3)
		tc.bad(&es[2])
		err := s.Write(ctx, es)
		fe, ok := errors.AsType[*activitylog.FieldError](err)
		if !ok || fe.Field != tc.field {
			t.Errorf("Write with a bad %s: %v, want a *FieldError naming it", tc.field, err)
		}
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 0 {
		t.Errorf("after refused batches: %d events, %v; want none", n, err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// TestConcurrentRetries writes the same batches from several goroutines
// at once, as retries racing each other would: each event once.
func TestConcurrentRetries(t *testing.T) {
	s := open(t)
	es := storetest.Fixture(40)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			batch := slices.Clone(es[i*2 : i*2+20])
			errs <- s.Write(ctx, batch)
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 34 {
		t.Errorf("Count = %d, %v; want 34", n, err)
	}
}

// TestGetAnyID gets, resolves and rewrites events whose ids do not
// carry their time: a version 7 id made years before the event, and a
// version 4 id. Get looks near the id's time first; these it must find
// by reading every id.
func TestGetAnyID(t *testing.T) {
	s := open(t)
	es := storetest.Fixture(3)
	es[0].ID = activitylog.NewID(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	copy(es[1].ID[:], "\x10\x32\x54\x76\x98\xba\x4c\xde\x80\x11\x22\x33\x44\x55\x66\x77") // version 4
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, es); err != nil { // a retry
		t.Fatal(err)
	}
	for _, e := range es {
		got, err := s.Get(ctx, e.ID)
		if err != nil || got.ID != e.ID || got.Message != e.Message {
			t.Errorf("Get(%s) = %s, %v", e.ID, got.ID, err)
		}
		if err := s.Resolve(ctx, activitylog.Resolution{EventID: e.ID, ResolvedBy: "ann"}); err != nil {
			t.Errorf("Resolve(%s): %v", e.ID, err)
		}
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 3 {
		t.Errorf("Count = %d, %v; want 3", n, err)
	}
	var v4 activitylog.ID
	copy(v4[:], "\x10\x32\x54\x76\x98\xba\x4c\xde\x80\x11\x22\x33\x44\x55\x66\x78")
	if _, err := s.Get(ctx, v4); !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("Get of an unknown version 4 id: %v, want ErrNotFound", err)
	}
}
