package mongo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mongo"
	"github.com/activitylog/activitylog/storetest"
)

var ctx = context.Background()

const uriEnv = "ACTIVITYLOG_TEST_MONGO_URI"

// serverURI returns the test server's URI, or skips the test when
// ACTIVITYLOG_TEST_MONGO_URI is unset. The first call checks, with a
// short timeout, that the server answers; when it does not, this and
// every later test fails at once instead of each waiting out the
// server selection timeout.
func serverURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(uriEnv)
	if uri == "" {
		t.Skip("set " + uriEnv + "=mongodb://127.0.0.1:27017/ to run against a real server (tools/ferretdb/start.sh starts FerretDB)")
	}
	probeOnce.Do(func() {
		s, err := mongo.Open(ctx, uri, &mongo.Options{ServerSelectionTimeout: 3 * time.Second, SkipIndexes: true})
		if err != nil {
			probeErr = err
			return
		}
		s.Close()
	})
	if probeErr != nil {
		t.Fatalf("%s=%s: the server does not answer (start FerretDB with tools/ferretdb/start.sh): %v", uriEnv, uri, probeErr)
	}
	return uri
}

var (
	probeOnce sync.Once
	probeErr  error
)

// randomName returns a database name no other test uses.
func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "altest_" + hex.EncodeToString(b)
}

// open opens a store in a fresh database of its own, dropped and
// closed when t ends.
func open(t testing.TB, opts *mongo.Options) *mongo.Store {
	t.Helper()
	uri := serverURI(t)
	var o mongo.Options
	if opts != nil {
		o = *opts
	}
	o.Database = randomName()
	s, err := mongo.Open(ctx, uri, &o)
	if err != nil {
		t.Fatalf("Open(%q, database %s): %v", uri, o.Database, err)
	}
	t.Cleanup(func() {
		if err := s.Drop(ctx); err != nil {
			t.Errorf("drop test database %s: %v", o.Database, err)
		}
		s.Close()
	})
	return s
}

func TestConformance(t *testing.T) {
	serverURI(t)
	storetest.Run(t, func(t *testing.T) activitylog.Store { return open(t, nil) })
}

// TestScanMatchesQuery checks Scan against paging through Query, for a
// few filters and orderings.
func TestScanMatchesQuery(t *testing.T) {
	s := open(t, nil)
	es := storetest.Fixture(40)
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, f := range []activitylog.Filter{
		{},
		{Ordering: "kind"},
		{Ordering: "-status", Kind: activitylog.KindRequest},
		{Ordering: "actor_id", Search: "a"},
	} {
		var got []string
		if err := s.Scan(ctx, f, func(e *activitylog.Event) error {
			got = append(got, e.ID.String())
			return nil
		}); err != nil {
			t.Fatalf("Scan(%+v): %v", f, err)
		}
		var want []string
		f.PageSize = 7
		for {
			p, err := s.Query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				want = append(want, e.ID.String())
			}
			if p.Next == "" {
				break
			}
			f.Cursor = p.Next
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Scan(%+v) = %v\nQuery pages = %v", f, got, want)
		}
	}
}

// TestSearchFoldsASCIIOnly checks that search folds ASCII letters and
// nothing else, and matches regular expression metacharacters
// literally.
func TestSearchFoldsASCIIOnly(t *testing.T) {
	s := open(t, nil)
	mk := func(i int, msg string) activitylog.Event {
		e := storetest.NewEvent(i)
		e.Message, e.Request.Path, e.Object.Repr, e.Actor.Name = msg, "", "", ""
		return e
	}
	es := []activitylog.Event{
		mk(0, "ÉCOLE Straße"), mk(1, "école STRASSE"), mk(2, "price (a+b)*2 [x]"), mk(3, "price a+b"), mk(4, "tab\there"),
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		search string
		want   int
	}{
		{"école", 1},   // É is not folded to é
		{"ÉCOLE", 1},   // nor é to É
		{"straSSe", 1}, // ASCII letters fold
		{"strasse", 1},
		{"STRAßE", 1},
		{"(a+b)*", 1}, // metacharacters are literal
		{"a+b", 2},
		{".", 0},
		{"\there", 1},
	} {
		n, err := s.Count(ctx, activitylog.Filter{Search: tc.search})
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(tc.want) {
			t.Errorf("Count(search %q) = %d, want %d", tc.search, n, tc.want)
		}
		var w int
		f, _ := activitylog.Filter{Search: tc.search}.Normalize(time.Now())
		for i := range es {
			if f.Match(&es[i]) {
				w++
			}
		}
		if w != tc.want {
			t.Errorf("the test is wrong: Match(search %q) selects %d, want %d", tc.search, w, tc.want)
		}
	}
}

// TestWriteRefusesUnstorable checks that an event JSON cannot hold
// fails the batch with a field error and stores nothing.
func TestWriteRefusesUnstorable(t *testing.T) {
	s := open(t, nil)
	es := storetest.Fixture(3)
	es[2].Extra = map[string]any{"f": func() {}}
	err := s.Write(ctx, es)
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Write with a func in extra: %v, want a *FieldError", err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 0 {
		t.Fatalf("after a refused batch: %d events, %v; want 0", n, err)
	}
}

// TestRetryAfterPartialWriteConverges stores part of a batch (as a
// Write that failed midway would), then writes the whole batch: each
// event ends up stored once, and the ones stored first unchanged.
func TestRetryAfterPartialWriteConverges(t *testing.T) {
	s := open(t, nil)
	es := storetest.Fixture(30)
	first := append([]activitylog.Event(nil), es[5:17]...)
	first[0].Message = "stored by the failed attempt"
	if err := s.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 30 {
		t.Fatalf("after the retry: %d events, %v; want 30", n, err)
	}
	got, err := s.Get(ctx, es[5].ID)
	if err != nil || got.Message != "stored by the failed attempt" {
		t.Fatalf("the event stored first was replaced: %q, %v", got.Message, err)
	}
}

// TestOpenCreatesIndexes checks the indexes Open creates.
func TestOpenCreatesIndexes(t *testing.T) {
	s := open(t, nil)
	checkIndexes(t, s)
}

// checkIndexes fails t unless s's events collection has every index
// of mongo.Indexes.
func checkIndexes(t *testing.T, s *mongo.Store) {
	t.Helper()
	names, err := s.IndexNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ix := range mongo.Indexes {
		if !slices.Contains(names, ix.Name) {
			t.Errorf("index %s missing; have %v", ix.Name, names)
		}
	}
}

// TestReopen opens, writes, closes and reopens the database that the
// URI's path names, as `activitylog serve --store mongodb://host/db`
// followed by a second process does. The reopen finds every index in
// place: on FerretDB v1.24.2 a createIndexes command listing them all
// again made the server panic and drop the connection ("create
// indexes: … connection closed unexpectedly").
func TestReopen(t *testing.T) {
	u, err := url.Parse(serverURI(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + randomName()
	es := storetest.Fixture(5)
	for round := range 3 {
		s, err := mongo.Open(ctx, u.String(), nil)
		if err != nil {
			t.Fatalf("Open #%d of %s: %v", round+1, u, err)
		}
		if round == 0 {
			t.Cleanup(func() {
				if s, err := mongo.Open(ctx, u.String(), &mongo.Options{SkipIndexes: true}); err == nil {
					s.Drop(ctx)
					s.Close()
				}
			})
		}
		if err := s.Write(ctx, es); err != nil { // idempotent: still 5
			t.Fatalf("Write after Open #%d: %v", round+1, err)
		}
		n, err := s.Count(ctx, activitylog.Filter{})
		if err != nil || n != int64(len(es)) {
			t.Fatalf("Count after Open #%d = %d, %v; want %d", round+1, n, err, len(es))
		}
		checkIndexes(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentOpen opens one fresh database from several goroutines
// at once: each may find an index missing that another creates
// meanwhile, and every Open must still succeed.
func TestConcurrentOpen(t *testing.T) {
	uri := serverURI(t)
	db := randomName()
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			s, err := mongo.Open(ctx, uri, &mongo.Options{Database: db})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	s, err := mongo.Open(ctx, uri, &mongo.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Drop(ctx); s.Close() }()
	checkIndexes(t, s)
}

// TestOpenRestoresMissingIndexes drops some of the indexes, as an
// administrator might, and checks that the next Open creates those
// again while the others stay.
func TestOpenRestoresMissingIndexes(t *testing.T) {
	uri := serverURI(t)
	db := randomName()
	s, err := mongo.Open(ctx, uri, &mongo.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Drop(ctx); s.Close() })
	if err := s.Write(ctx, storetest.Fixture(3)); err != nil {
		t.Fatal(err)
	}
	client, err := mongodriver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	ixv := client.Database(db).Collection(mongo.DefaultCollection).Indexes()
	for _, ix := range []string{mongo.Indexes[1].Name, mongo.Indexes[3].Name} {
		if err := ixv.DropOne(ctx, ix); err != nil {
			t.Fatalf("drop index %s: %v", ix, err)
		}
	}
	s2, err := mongo.Open(ctx, uri, &mongo.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	checkIndexes(t, s2)
}

// unusedAddr returns a loopback address nothing listens on.
func unusedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestOpenServerDown(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, err := mongo.Open(ctx, "mongodb://"+unusedAddr(t)+"/x", &mongo.Options{ServerSelectionTimeout: 300 * time.Millisecond})
	if !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("Open with no server: %v, want ErrUnavailable", err)
	}
	if errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("Open with no server: %v is also ErrInvalid", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Open with no server took %v, the timeout was 300ms", d)
	}
}

func TestOpenServerDownURITimeout(t *testing.T) {
	t.Parallel()
	_, err := mongo.Open(ctx, "mongodb://"+unusedAddr(t)+"/?serverSelectionTimeoutMS=200", nil)
	if !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("Open with no server: %v, want ErrUnavailable", err)
	}
}

func TestOpenBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uri   string
		opts  *mongo.Options
		field string
	}{
		{"postgres://127.0.0.1/x", nil, "uri"},
		{"127.0.0.1:27017", nil, "uri"},
		{"mongodb://127.0.0.1:27017/?connectTimeoutMS=abc", nil, "uri"},
		{"mongodb://u:secretpw@127.0.0.1:bad/", nil, "uri"},
		{"mongodb://", nil, "uri"},
		{"mongodb://127.0.0.1/a.b", nil, "database"},
		{"mongodb://127.0.0.1/", &mongo.Options{Database: "a/b"}, "database"},
		{"mongodb://127.0.0.1/", &mongo.Options{Database: strings.Repeat("d", 64)}, "database"},
		{"mongodb://127.0.0.1/", &mongo.Options{Collection: "ev$nts"}, "collection"},
		{"mongodb://127.0.0.1/", &mongo.Options{Collection: "system.x"}, "collection"},
		{"mongodb://127.0.0.1/", &mongo.Options{Resolutions: "events"}, "collection"},
		{"mongodb://127.0.0.1/", &mongo.Options{Resolutions: "r\x00"}, "resolutions"},
		{"mongodb://127.0.0.1/", &mongo.Options{ServerSelectionTimeout: -time.Second}, "server_selection_timeout"},
	} {
		_, err := mongo.Open(ctx, tc.uri, tc.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Open(%q, %+v) = %v, want a *FieldError naming %s", tc.uri, tc.opts, err, tc.field)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("Open(%q): the error shows the password: %v", tc.uri, err)
		}
	}
}

func TestClosed(t *testing.T) {
	// SkipIndexes and no write: the database is never created, so
	// there is nothing to drop.
	s, err := mongo.Open(ctx, serverURI(t), &mongo.Options{Database: randomName(), SkipIndexes: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Write(ctx, storetest.Fixture(1)); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := s.Query(ctx, activitylog.Filter{}); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Query after Close: %v", err)
	}
}

// TestTextOrderingIsByteOrder checks that text orderings compare bytes
// (upper case before lower case, "_" between them, non-ASCII last),
// not a locale's collation, also across keyset pages.
func TestTextOrderingIsByteOrder(t *testing.T) {
	s := open(t, nil)
	actors := []string{"b", "B", "_b", "a", "Z", "é", "e", "E", "a b", "ab", "", "~", "0"}
	es := make([]activitylog.Event, len(actors))
	for i, a := range actors {
		es[i] = storetest.NewEvent(i)
		es[i].Actor.ID = a
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	want := append([]string(nil), actors...)
	slices.Sort(want)
	for _, ordering := range []string{"actor_id", "-actor_id"} {
		var got []string
		f := activitylog.Filter{Ordering: ordering, PageSize: 3}
		for {
			p, err := s.Query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				got = append(got, e.Actor.ID)
			}
			if p.Next == "" {
				break
			}
			f.Cursor = p.Next
		}
		w := slices.Clone(want)
		if ordering[0] == '-' {
			slices.Reverse(w)
		}
		if !slices.Equal(got, w) {
			t.Errorf("ordering %s: got %q, want %q", ordering, got, w)
		}
	}
}

// TestInvalidUTF8 checks that invalid UTF-8 in an event or a filter is
// neither an error nor a server failure: it is stored, and filtered on,
// as encoding/json writes it in the stored event (U+FFFD per bad byte),
// so Filter.Match on what Get returns agrees with Count.
func TestInvalidUTF8(t *testing.T) {
	s := open(t, nil)
	e := storetest.NewEvent(1)
	e.Message, e.Actor.ID, e.Action = "bad \xff here", "u\xfe", "act\xff"
	if err := s.Write(ctx, []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Message != "bad \uFFFD here" || got.Actor.ID != "u\uFFFD" {
		t.Errorf("Get = message %q, actor id %q", got.Message, got.Actor.ID)
	}
	for _, f := range []activitylog.Filter{
		{Search: "\xff"}, {Search: "BAD \xfe"}, {ActorID: "u\xfe"}, {ActorID: "u\uFFFD"}, {Action: "act\xff"},
	} {
		n, err := s.Count(ctx, f)
		if err != nil || n != 1 {
			t.Errorf("Count(%+v) = %d, %v; want 1", f, n, err)
		}
	}
}

// TestDatabaseFromURI checks that the URI's path names the database
// when Options.Database is empty, and that Options.Database wins over
// it.
func TestDatabaseFromURI(t *testing.T) {
	base := serverURI(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := randomName()
	u.Path = "/" + name
	s1, err := mongo.Open(ctx, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s1.Drop(ctx); s1.Close() })
	if err := s1.Write(ctx, storetest.Fixture(3)); err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + randomName() // not created: Options.Database wins
	s2, err := mongo.Open(ctx, u.String(), &mongo.Options{Database: name, SkipIndexes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, err := s2.Count(ctx, activitylog.Filter{}); err != nil || n != 3 {
		t.Fatalf("Count through Options.Database %s = %d, %v; want 3", name, n, err)
	}
}
