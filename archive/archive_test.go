package archive_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/postgres"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
	"github.com/jackc/pgx/v5"
)

// day0 is the first day of the test events.
var day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// testStore is what the backends the tests run on provide: sqlite
// always, PostgreSQL when ACTIVITYLOG_TEST_POSTGRES_DSN is set.
type testStore interface {
	activitylog.Store
	integrity.SealStore
	integrity.BundleSource
}

func openStore(t *testing.T) testStore {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const postgresEnv = "ACTIVITYLOG_TEST_POSTGRES_DSN"

// openPostgres opens a store in a fresh schema, dropped when t ends.
func openPostgres(t *testing.T) testStore {
	t.Helper()
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skip("set " + postgresEnv + "=\"host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable\" to run against PostgreSQL")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "alt_archive_" + hex.EncodeToString(b)
	s, err := postgres.Open(context.Background(), dsn, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return s
}

// backends runs test on each store.
func backends(t *testing.T, test func(t *testing.T, open func(t *testing.T) testStore)) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) testStore
	}{{"sqlite", openStore}, {"postgres", openPostgres}} {
		t.Run(b.name, func(t *testing.T) { test(t, b.open) })
	}
}

// event returns a valid event of kind k (storetest.NewEvent's fields)
// at time at, with a new id.
func event(i int, k activitylog.Kind, at time.Time) activitylog.Event {
	off := map[activitylog.Kind]int{activitylog.KindRequest: 0, activitylog.KindCRUD: 1, activitylog.KindAuth: 2}[k]
	e := storetest.NewEvent(3*i + off)
	e.Time = at
	e.ID = activitylog.NewID(at)
	return e
}

// fixture is per events of each of crud and auth on each of three days
// from day0, the request events of those days, and crud events of the
// fourth day: what an archive before day0+3 of crud and auth selects
// is the first 6*per.
func fixture(per int) (selected, other []activitylog.Event) {
	n := 0
	for d := range 3 {
		for _, k := range []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth} {
			for j := range per {
				at := day0.AddDate(0, 0, d).Add(time.Duration(j)*(20*time.Hour/time.Duration(per)) + time.Duration(n)*time.Millisecond + 7)
				selected = append(selected, event(n, k, at))
				n++
			}
		}
		other = append(other, event(n, activitylog.KindRequest, day0.AddDate(0, 0, d).Add(time.Hour)))
		n++
	}
	other = append(other, event(n, activitylog.KindCRUD, day0.AddDate(0, 0, 3)), event(n+1, activitylog.KindCRUD, day0.AddDate(0, 0, 3).Add(time.Hour)))
	return selected, other
}

func request() activitylog.PurgeRequest {
	return activitylog.PurgeRequest{Before: day0.AddDate(0, 0, 3), Kinds: []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth}, AllTenants: true}
}

// get reads the events with the ids of want from s.
func sameEvents(t *testing.T, s activitylog.Querier, want []activitylog.Event) {
	t.Helper()
	for _, w := range want {
		got, err := s.Get(context.Background(), w.ID)
		if err != nil {
			t.Fatalf("Get(%s): %v", w.ID, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("event %s restored as\n%+v\nwant\n%+v", w.ID, got, w)
		}
	}
}

func count(t *testing.T, s activitylog.Querier) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), activitylog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Old events of two kinds over three days make six files, each with
// its checksum file; restoring them into a fresh store gives the same
// events, and restoring again changes nothing.
func TestArchiveAndRestore(t *testing.T) { backends(t, testArchiveAndRestore) }

func testArchiveAndRestore(t *testing.T, openStore func(t *testing.T) testStore) {
	ctx := context.Background()
	s := openStore(t)
	selected, other := fixture(4)
	if err := s.Write(ctx, append(slices.Clone(selected), other...)); err != nil {
		t.Fatal(err)
	}
	// Read them back as the store gives them (its time precision).
	var stored []activitylog.Event
	for _, e := range selected {
		got, err := s.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, got)
	}
	root := t.TempDir()
	ar, err := archive.New(archive.Dir{Root: root}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ar.Archive(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range res.Files {
		names = append(names, f.Name)
		if f.Events != 4 || f.Sealed != 0 || f.Bytes == 0 {
			t.Errorf("file %s: %d events, %d sealed, %d bytes; want 4, 0, >0", f.Name, f.Events, f.Sealed, f.Bytes)
		}
		b, err := os.ReadFile(filepath.Join(root, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if sum := fmt.Sprintf("%x", sha256.Sum256(b)); sum != f.SHA256 {
			t.Errorf("file %s: SHA-256 %s, Result says %s", f.Name, sum, f.SHA256)
		}
		side, err := os.ReadFile(filepath.Join(root, f.Name+archive.SumSuffix))
		if err != nil {
			t.Fatal(err)
		}
		if want := f.SHA256 + "  " + filepath.Base(f.Name) + "\n"; string(side) != want {
			t.Errorf("checksum file of %s = %q, want %q", f.Name, side, want)
		}
	}
	wantNames := []string{
		"crud/2026/03/01/crud-2026-03-01.ndjson.gz", "crud/2026/03/02/crud-2026-03-02.ndjson.gz", "crud/2026/03/03/crud-2026-03-03.ndjson.gz",
		"auth/2026/03/01/auth-2026-03-01.ndjson.gz", "auth/2026/03/02/auth-2026-03-02.ndjson.gz", "auth/2026/03/03/auth-2026-03-03.ndjson.gz",
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("files %q, want %q", names, wantNames)
	}
	if res.Events != 24 || res.ByKind[activitylog.KindCRUD] != 12 || res.ByKind[activitylog.KindAuth] != 12 {
		t.Errorf("result counts %d events, by kind %v; want 24, 12 each", res.Events, res.ByKind)
	}
	listed, err := archive.Dir{Root: root}.List(ctx, "")
	if err != nil || len(listed) != 12 {
		t.Fatalf("List = %q, %v; want 12 names", listed, err)
	}

	fresh := openStore(t)
	for _, name := range names {
		r, err := archive.RestoreFile(ctx, filepath.Join(root, name), fresh, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Events != 4 || r.Batches != 1 {
			t.Errorf("restore %s: %+v, want 4 events in 1 batch", name, r)
		}
	}
	if n := count(t, fresh); n != 24 {
		t.Fatalf("fresh store holds %d events, want 24", n)
	}
	sameEvents(t, fresh, stored)
	// Again, through the Archive, in batches of 3: idempotent.
	for _, name := range names {
		if _, err := archive.Restore(ctx, archive.Dir{Root: root}, name, fresh, &archive.RestoreOptions{BatchSize: 3}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, fresh); n != 24 {
		t.Fatalf("after a second restore the store holds %d events, want 24", n)
	}

	// A second run over the same events writes parts .2; a cut-off
	// inside a day gives a file of that day up to it.
	req := request()
	req.Kinds = []activitylog.Kind{activitylog.KindAuth}
	req.Before = day0.AddDate(0, 0, 1).Add(6 * time.Hour)
	res, err = ar.Archive(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 2 || res.Files[0].Name != "auth/2026/03/01/auth-2026-03-01.2.ndjson.gz" || res.Files[0].Events != 4 ||
		res.Files[1].Name != "auth/2026/03/02/auth-2026-03-02.2.ndjson.gz" || res.Files[1].Events != 2 || !res.Files[1].To.Equal(req.Before) {
		t.Errorf("second run: %+v", res.Files)
	}
}

// An archive holds events as the store holds them, also those that
// Event.Validate would refuse (no severity, an unknown action): they
// archive, read back and restore.
func TestArchiveEventsValidateRefuses(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	at := day0.Add(time.Hour)
	odd := activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: activitylog.KindAuth, Action: "teleport", Message: "odd"}
	if odd.Validate() == nil {
		t.Fatal("the odd event validates")
	}
	if err := s.Write(ctx, []activitylog.Event{odd}); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Get(ctx, odd.ID)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ar, _ := archive.New(archive.Dir{Root: root}, s, nil)
	res, err := ar.Archive(ctx, request())
	if err != nil || len(res.Files) != 1 {
		t.Fatalf("Archive = %+v, %v", res, err)
	}
	fresh := openStore(t)
	if _, err := archive.RestoreFile(ctx, filepath.Join(root, res.Files[0].Name), fresh, nil); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, fresh, []activitylog.Event{stored})
}

// The tenant scope and the records of purges: a tenant's archive holds
// its events only, named after it; a purge's records are left out, as
// a purge keeps them.
func TestArchiveTenantAndRetentionRecords(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	selected, _ := fixture(4)
	at := day0.Add(time.Hour)
	rec := activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: activitylog.KindSystem, Action: "security", Category: activitylog.CategoryRetention,
		Severity: activitylog.SeverityNotice, Message: "purge", Extra: map[string]any{"operation": activitylog.PurgeDone}}
	sys := event(99, activitylog.KindCRUD, at)
	sys.Kind, sys.Action, sys.Category = activitylog.KindSystem, "security", "other"
	if err := s.Write(ctx, append(slices.Clone(selected), rec, sys)); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ar, err := archive.New(archive.Dir{Root: root}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ar.Archive(ctx, activitylog.PurgeRequest{Before: day0.AddDate(0, 0, 3), Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	var acme int
	for _, e := range selected {
		if e.Tenant == "acme" {
			acme++
		}
	}
	if res.Events != int64(acme) || acme == 0 {
		t.Fatalf("archived %d events of acme, want %d", res.Events, acme)
	}
	for _, f := range res.Files {
		if !strings.Contains(f.Name, ".tenant=acme.") || f.Tenant != "acme" {
			t.Errorf("file %s (tenant %q): want the tenant in its name", f.Name, f.Tenant)
		}
	}
	res, err = ar.Archive(ctx, activitylog.PurgeRequest{Before: day0.AddDate(0, 0, 1), Kinds: []activitylog.Kind{activitylog.KindSystem}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0].Events != 1 || res.Files[0].Name != "system/2026/03/01/system-2026-03-01.ndjson.gz" {
		t.Fatalf("system events: %+v; want one file of one event, the purge's record left out", res.Files)
	}
	if got := archive.FileName(activitylog.KindCRUD, day0, "a/../b é", false, 3); got != "crud/2026/03/01/crud-2026-03-01.tenant=a%2F%2E%2E%2Fb%20%C3%A9.3.ndjson.gz" {
		t.Errorf("FileName = %q", got)
	}
	if err := archive.ValidName(archive.FileName(activitylog.KindCRUD, day0, "a/../b é", false, 3)); err != nil {
		t.Error(err)
	}
	if got := archive.FileName(activitylog.KindAuth, day0, "", false, 1); got != "auth/2026/03/01/auth-2026-03-01.no-tenant.ndjson.gz" {
		t.Errorf("FileName = %q", got)
	}
}

func TestArchiveRefusesBadRequest(t *testing.T) {
	s := openStore(t)
	ar, err := archive.New(archive.Dir{Root: t.TempDir()}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []activitylog.PurgeRequest{{}, {Before: day0, Kinds: []activitylog.Kind{"weather"}}} {
		var fe *activitylog.FieldError
		if _, err := ar.Archive(context.Background(), r); !errors.As(err, &fe) {
			t.Errorf("Archive(%+v) = %v, want a field error", r, err)
		}
	}
}

// gz compresses lines into an archive file's bytes.
func gz(lines ...string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	for _, l := range lines {
		io.WriteString(w, l+"\n")
	}
	w.Close()
	return b.Bytes()
}

// put writes data as the archive file path, with its checksum file.
func put(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	side := fmt.Sprintf("%x  %s\n", sha256.Sum256(data), filepath.Base(path))
	if err := os.WriteFile(path+archive.SumSuffix, []byte(side), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A damaged, truncated or oversized file, or one without its checksum,
// is refused with an error that says what and where, and nothing of it
// is written.
func TestRestoreRefusesDamage(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	selected, _ := fixture(40)
	if err := s.Write(ctx, selected); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ar, err := archive.New(archive.Dir{Root: root}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ar.Archive(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(root, res.Files[0].Name))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(must(gzip.NewReader(bytes.NewReader(good))))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	if len(lines) != 42 {
		t.Fatalf("the file has %d lines, want a header, 40 events and the end", len(lines))
	}
	with := func(i int, line string) []string {
		ls := slices.Clone(lines)
		ls[i] = line
		return ls
	}
	dir := t.TempDir()
	cases := []struct {
		name  string
		setup func(path string)
		opts  *archive.RestoreOptions
		want  string
	}{
		{"flipped byte", func(p string) {
			b := slices.Clone(good)
			b[len(b)/2] ^= 0x40
			os.WriteFile(p, b, 0o600)
			os.WriteFile(p+archive.SumSuffix, []byte(fmt.Sprintf("%x  %s\n", sha256.Sum256(good), filepath.Base(p))), 0o600)
		}, nil, "its checksum file says"},
		{"truncated", func(p string) {
			os.WriteFile(p, good[:len(good)*2/3], 0o600)
			os.WriteFile(p+archive.SumSuffix, []byte(fmt.Sprintf("%x  %s\n", sha256.Sum256(good), filepath.Base(p))), 0o600)
		}, nil, "its checksum file says"},
		{"truncated with its checksum", func(p string) { put(t, p, gz(lines[:30]...)) }, nil, "line 31: no end record after line 30: the file is truncated"},
		{"cut inside a line", func(p string) {
			put(t, p, gz(lines[:20]...)[:0])
			put(t, p, gzipRaw(strings.Join(lines[:20], "\n")+"\n"+lines[20][:50]))
		}, nil, "line 21: no newline at its end"},
		{"missing checksum", func(p string) { os.WriteFile(p, good, 0o600) }, nil, "no checksum file"},
		{"checksum of another file", func(p string) {
			os.WriteFile(p, good, 0o600)
			os.WriteFile(p+archive.SumSuffix, []byte(fmt.Sprintf("%x  other.ndjson.gz\n", sha256.Sum256(good))), 0o600)
		}, nil, `names "other.ndjson.gz"`},
		{"checksum not hex", func(p string) {
			os.WriteFile(p, good, 0o600)
			os.WriteFile(p+archive.SumSuffix, []byte(strings.Repeat("z", 64)+"  "+filepath.Base(p)+"\n"), 0o600)
		}, nil, "is not 64 hex digits"},
		{"bad kind", func(p string) {
			put(t, p, gz(with(5, strings.Replace(lines[5], `"kind":"crud"`, `"kind":"weather"`, 1))...))
		}, nil, `line 6: event 0`},
		{"bad time", func(p string) {
			put(t, p, gz(with(7, strings.Replace(lines[7], `"time":"2026`, `"time":"x2026`, 1))...))
		}, nil, `line 8: event: field "time": parsing time`},
		{"unknown member", func(p string) {
			put(t, p, gz(with(3, strings.Replace(lines[3], `{"type":"event",`, `{"type":"event","x":1,`, 1))...))
		}, nil, `line 4: event record: json: unknown field "x"`},
		{"unknown event member", func(p string) {
			put(t, p, gz(with(2, strings.Replace(lines[2], `"id":"0`, `"idx":"0`, 1))...))
		}, nil, `line 3: event: field "idx": json: unknown field "idx"`},
		{"zero id", func(p string) {
			at := regexp.MustCompile(`"event":\{"id":"[^"]*"`).FindStringIndex(lines[2])
			put(t, p, gz(with(2, lines[2][:at[0]]+`"event":{"id":"00000000-0000-0000-0000-000000000000"`+lines[2][at[1]:])...))
		}, nil, `line 3: event: field "id": invalid id "00000000-0000-0000-0000-000000000000": must not be the nil UUID`},
		{"time out of range", func(p string) {
			put(t, p, gz(with(2, strings.Replace(lines[2], `"time":"2026`, `"time":"2301`, 1))...))
		}, nil, `field "time": value 2301-`},
		{"not JSON", func(p string) { put(t, p, gz(with(9, "{nope")...)) }, nil, `line 10: not a JSON object`},
		{"event removed", func(p string) { put(t, p, gz(slices.Delete(slices.Clone(lines), 4, 5)...)) }, nil, "line 41: end: it counts 0 chains, 0 checkpoints, 0 consistency proofs, 0 prune records, 0 sealed and 40 unsealed events; the file holds 0, 0, 0, 0, 0 and 39"},
		{"record after the end", func(p string) { put(t, p, gz(append(slices.Clone(lines), lines[3])...)) }, nil, `line 43: a "event" record after the end record`},
		{"no header", func(p string) { put(t, p, gz(lines[1:]...)) }, nil, `line 1: the first record is "event", not the header`},
		{"line too long", func(p string) { put(t, p, good) }, &archive.RestoreOptions{Read: archive.ReadOptions{MaxLineBytes: 1000}}, "line 2: longer than 1000 bytes (MaxLineBytes)"},
		{"too many events", func(p string) { put(t, p, good) }, &archive.RestoreOptions{Read: archive.ReadOptions{MaxEvents: 10}}, "line 12: more than 10 events (MaxEvents)"},
		{"too large", func(p string) { put(t, p, good) }, &archive.RestoreOptions{Read: archive.ReadOptions{MaxBytes: 5000}}, "more than 5000 bytes (MaxBytes)"},
		{"inflates too much", func(p string) { put(t, p, good) }, &archive.RestoreOptions{Read: archive.ReadOptions{MaxBytes: int64(len(good) + 100)}}, "decompresses to more than"},
		{"trailing data", func(p string) { put(t, p, append(slices.Clone(good), 0, 1, 2)) }, nil, "data after the end of the gzip stream"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("f%d.ndjson.gz", i))
			c.setup(p)
			fresh := openStore(t)
			_, err := archive.RestoreFile(ctx, p, fresh, c.opts)
			if !errors.Is(err, archive.ErrDamaged) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("RestoreFile = %v, want ErrDamaged and %q", err, c.want)
			}
			t.Log(err)
			if n := count(t, fresh); n != 0 {
				t.Fatalf("%d events written from a refused file", n)
			}
		})
	}
	// The good file still restores, also as plain NDJSON.
	p := filepath.Join(dir, "plain.ndjson")
	put(t, p, plain)
	fresh := openStore(t)
	if r, err := archive.RestoreFile(ctx, p, fresh, nil); err != nil || r.Events != 40 {
		t.Fatalf("RestoreFile(plain) = %+v, %v", r, err)
	}
}

func gzipRaw(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
