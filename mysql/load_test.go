package mysql_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/sealtest"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/storetest"
)

// The store sends its batches as LOAD DATA LOCAL INFILE files where the
// server takes them (load.go), and as INSERTs where it does not: both
// forms pass the suites, and a server that stops taking LOAD DATA LOCAL
// loses no batch.

// TestConformanceInserts runs the store's suites with Options.Inserts,
// the form every Write took before LOAD DATA, and the one a server
// without local_infile gets.
func TestConformanceInserts(t *testing.T) {
	serverDSN(t)
	opts := &mysql.Options{Inserts: true}
	t.Run("store", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) activitylog.Store {
			s := open(t, opts)
			if !mysql.SendsInserts(s) {
				t.Fatal("a store opened with Inserts sends LOAD DATA")
			}
			return s
		})
	})
	t.Run("sealed", func(t *testing.T) {
		sealtest.Run(t, func(t *testing.T) sealtest.Store { return open(t, opts) }, &sealtest.Options{
			TearTail: func(t *testing.T, s sealtest.Store, chain string) {
				if _, err := s.(*mysql.Store).DB().ExecContext(ctx, `DELETE FROM seals WHERE chain = ? ORDER BY seq DESC LIMIT 1`, chain); err != nil {
					t.Fatal(err)
				}
			},
		})
	})
}

// comLoad returns the server's count of LOAD DATA statements so far.
func comLoad(t *testing.T, s *mysql.Store) int64 {
	t.Helper()
	var name string
	var n int64
	if err := s.DB().QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Com_load'").Scan(&name, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWritesLoadData checks that a store on a server with local_infile
// on sends its batches as LOAD DATA, plain and sealed, and that what it
// stores is what Get returns.
func TestWritesLoadData(t *testing.T) {
	s := open(t, nil)
	if mysql.SendsInserts(s) {
		t.Fatal("a store on a server with local_infile on sends INSERTs")
	}
	before := comLoad(t, s)
	es := storetest.Fixture(20)
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if n := comLoad(t, s) - before; n < 1 {
		t.Errorf("Write ran %d LOAD DATA statements, want at least 1", n)
	}
	for _, e := range es {
		got, err := s.Get(ctx, e.ID)
		if err != nil || got.Message != e.Message || got.Actor.ID != e.Actor.ID || !got.Time.Equal(e.Time) {
			t.Fatalf("Get(%s) = %+v, %v; want the event written", e.ID, got, err)
		}
	}
	sealed := open(t, nil)
	pub, priv, _ := ed25519.GenerateKey(nil)
	w, err := integrity.NewWriter(sealed, &integrity.WriterOptions{Chain: "load", SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	before = comLoad(t, s)
	if err := w.Write(ctx, storetest.Fixture(10)); err != nil {
		t.Fatal(err)
	}
	if n := comLoad(t, s) - before; n < 1 {
		t.Errorf("a sealed Write ran %d LOAD DATA statements, want at least 1", n)
	}
	if rep := verifyMySQL(t, sealed, pub); !rep.OK() || rep.Verified != 10 {
		t.Errorf("verify after a sealed load: %+v", rep)
	}
}

// TestLoadDataRefused turns the server's local_infile off under an open
// store: its next Write and sealed Write switch to INSERTs and store
// their batches, and a store opened then sends INSERTs from the start.
// (Other packages' stores on this server switch too while it is off,
// which is what this shows to be harmless.)
func TestLoadDataRefused(t *testing.T) {
	s := open(t, nil)
	sealed := open(t, nil)
	if mysql.SendsInserts(s) || mysql.SendsInserts(sealed) {
		t.Fatal("a store on a server with local_infile on sends INSERTs")
	}
	if _, err := s.DB().ExecContext(ctx, "SET GLOBAL local_infile = 0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := s.DB().ExecContext(ctx, "SET GLOBAL local_infile = 1"); err != nil {
			t.Errorf("turn local_infile on again: %v", err)
		}
	})
	es := storetest.Fixture(12)
	if err := s.Write(ctx, es); err != nil {
		t.Fatalf("Write after local_infile went off: %v", err)
	}
	if !mysql.SendsInserts(s) {
		t.Error("the store still sends LOAD DATA after the server refused it")
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(es))
	}

	pub, priv, _ := ed25519.GenerateKey(nil)
	w, err := integrity.NewWriter(sealed, &integrity.WriterOptions{Chain: "refused", SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, es); err != nil {
		t.Fatalf("sealed Write after local_infile went off: %v", err)
	}
	if !mysql.SendsInserts(sealed) {
		t.Error("the sealed store still sends LOAD DATA after the server refused it")
	}
	if rep := verifyMySQL(t, sealed, pub); !rep.OK() || rep.Verified != len(es) {
		t.Errorf("verify after the switch: %+v", rep)
	}

	if later := open(t, nil); !mysql.SendsInserts(later) {
		t.Error("a store opened while local_infile is off sends LOAD DATA")
	}
}

// TestLoadRefusesWarnings checks the warnings that LOAD DATA LOCAL makes
// of what a strict INSERT refuses: a row that breaks a constraint is
// refused with a FieldError and nothing of its batch (two files here)
// stored, plain or sealed; a duplicate id is not refused.
func TestLoadRefusesWarnings(t *testing.T) {
	s := open(t, &mysql.Options{BatchBytes: 64 << 10})
	es := make([]activitylog.Event, 400)
	for i := range es {
		es[i] = storetest.TrailEvent(i, storetest.Base.Add(time.Duration(i)*time.Millisecond))
	}
	if _, err := s.DB().ExecContext(ctx, "ALTER TABLE events ADD CONSTRAINT no_bad CHECK (tool <> 'BAD')"); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, 399} {
		bad := append([]activitylog.Event(nil), es...)
		bad[at].Tool = "BAD"
		err := s.Write(ctx, bad)
		if fe, ok := errors.AsType[*activitylog.FieldError](err); !ok || fe.Field != "event" || !strings.Contains(fe.Error(), "CONSTRAINT") {
			t.Errorf("Write with a bad row at %d = %v, want a FieldError naming event and the constraint", at, err)
		}
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{Chain: "warn", SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]activitylog.Event(nil), es...)
	bad[200].Tool = "BAD"
	if err := w.Write(ctx, bad); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("sealed Write with a bad row = %v, want an error wrapping ErrInvalid", err)
	}
	for _, table := range []string{"events", "seals"} {
		if n := rowCount(t, s, table); n != 0 {
			t.Errorf("after the refused batches %s has %d rows, want 0", table, n)
		}
	}
	if err := s.Write(ctx, es[:100]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, append(es, es[5])); err != nil {
		t.Fatalf("Write of a batch with 100 stored ids and one twice: %v", err)
	}
	if n, _ := s.Count(ctx, activitylog.Filter{}); n != int64(len(es)) {
		t.Errorf("Count = %d, want %d", n, len(es))
	}
}

// storedRows returns, by hex id, every column of every row of events
// (digests of the text columns), for comparing what two stores hold.
func storedRows(t *testing.T, s *mysql.Store) map[string]string {
	t.Helper()
	rows, err := s.DB().QueryContext(ctx, `SELECT HEX(id), CONCAT_WS('|', time, MD5(kind), MD5(action), MD5(severity), MD5(tenant),
		MD5(actor_id), MD5(object_type), MD5(object_id), MD5(remote_ip), MD5(method), MD5(origin), MD5(category), MD5(tool),
		status, duration, MD5(actor_name), MD5(route), MD5(geo_code), MD5(geo_country), MD5(search_message), MD5(search_path),
		MD5(search_repr), MD5(search_name), IFNULL(MD5(changes), 'NULL'), IFNULL(MD5(extra), 'NULL'), MD5(data)) FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, row string
		if err := rows.Scan(&id, &row); err != nil {
			t.Fatal(err)
		}
		out[id] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRows writes es to a store of each form and checks that both
// take them and store the same bytes.
func sameRows(t *testing.T, es []activitylog.Event, dsnParams string) {
	t.Helper()
	var got [2]map[string]string
	for k, inserts := range []bool{false, true} {
		s, err := mysql.Open(ctx, newDatabase(t)+dsnParams, &mysql.Options{Inserts: inserts})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Write(ctx, es); err != nil {
			t.Fatalf("Write (inserts %v): %v", inserts, err)
		}
		got[k] = storedRows(t, s)
	}
	if len(got[0]) != len(es) || len(got[1]) != len(es) {
		t.Fatalf("load stored %d rows, inserts %d; want %d", len(got[0]), len(got[1]), len(es))
	}
	for id, row := range got[1] {
		if got[0][id] != row {
			t.Errorf("event %s: load stored\n%s\ninserts stored\n%s", id, got[0][id], row)
		}
	}
}

// TestLoadStoresAsInserts writes values that a load file escapes (or
// must not) into every column, and ids of such bytes, in both forms:
// the rows are the same bytes.
func TestLoadStoresAsInserts(t *testing.T) {
	values := []string{"", " ", "a ", `\N`, "NULL", "\\", "a\\", "\t", "\n", "\r\n", "\x00", "\x1a", "'", "\"",
		"\xff\xfe", "é \U0001F600", `\0\t`, "x\ty\nz\\", strings.Repeat("\t", 1030), `\\N`}
	var es []activitylog.Event
	for i, v := range values {
		e := storetest.NewEvent(i)
		for k := range e.ID[:15] {
			e.ID[k] = "\t\n\\\x00N\r\x1a'"[(i+k)%8]
		}
		e.ID[15] = byte(i)
		e.Kind, e.Action, e.Tenant, e.Actor.ID, e.Object.Type = activitylog.Kind(prefixOf(v)), prefixOf(v), prefixOf(v), prefixOf(v), prefixOf(v)
		e.Severity = activitylog.Severity(v)
		e.Object.ID, e.Request.RemoteIP, e.Request.Method, e.Request.Origin, e.Category, e.Tool = v, v, v, v, v, v
		e.Actor.Name, e.Request.Route, e.Request.Geo.CountryCode, e.Request.Geo.Country = v, v, v, v
		e.Message, e.Request.Path, e.Object.Repr = v, v+"P", v+"R"
		e.Extra = map[string]any{v: v}
		e.Changes = map[string]activitylog.Change{v: {Old: v}}
		switch i % 3 {
		case 0:
			e.Changes = nil
			e.Time = time.Date(1700, 1, 1, 0, 0, 0, 1, time.UTC)
			e.Response.Duration, e.Response.Status = -1<<63, -7
		case 1:
			e.Extra = nil
			e.Response.Duration = 1<<63 - 1
		}
		es = append(es, e)
	}
	sameRows(t, es, "")
}

func prefixOf(s string) string { return s[:min(len(s), activitylog.MaxShortField)] }

// TestLoadTakesWhatInsertsTake: a load row is not the INSERT row (a tab
// in a column that is not JSON is two bytes in a file, one in a
// literal), and a valid event whose INSERT fits max_allowed_packet is
// stored in both forms, not refused by the load form for its file row.
func TestLoadTakesWhatInsertsTake(t *testing.T) {
	e := storetest.NewEvent(1)
	e.Message = strings.Repeat("\t", 30000)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	// The driver's maxAllowedPacket caps what Open reads from the server.
	sameRows(t, []activitylog.Event{e}, "?maxAllowedPacket=131072")
}

// TestOpenRefusesOwnVariables: Open sets sql_mode and max_error_count
// itself; a DSN that sets either under another spelling would win on
// some connections (the driver sets its parameters in no fixed order),
// and with max_error_count 0 a load's warnings are hidden, so a row the
// server skipped went unnoticed. Open refuses such a DSN.
func TestOpenRefusesOwnVariables(t *testing.T) {
	dsn := newDatabase(t)
	for _, p := range []string{"MAX_ERROR_COUNT=0", "@@session.max_error_count=0", "SQL_MODE=%27%27"} {
		s, err := mysql.Open(ctx, dsn+"?"+p, nil)
		if fe, ok := errors.AsType[*activitylog.FieldError](err); !ok || !strings.Contains(fe.Error(), "sets") {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open with %s = %v, want a FieldError naming the parameter", p, err)
		}
	}
}
