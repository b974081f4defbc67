package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"log"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/stallproxy"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/storetest"
	driver "github.com/go-sql-driver/mysql"
)

// openLockStores opens two stores on one fresh database, as two
// replicas would, closed when t ends.
func openLockStores(t *testing.T, opts *mysql.Options) (a, b *mysql.Store) {
	t.Helper()
	dsn := newDatabase(t)
	for _, p := range []**mysql.Store{&a, &b} {
		s, err := mysql.Open(ctx, dsn, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		*p = s
	}
	return a, b
}

func mustTryLock(t *testing.T, s *mysql.Store, name string, want bool) *mysql.Lock {
	t.Helper()
	l, ok, err := s.TryLock(ctx, name)
	if err != nil {
		t.Fatalf("TryLock(%q): %v", name, err)
	}
	if ok != want || (l != nil) != want {
		t.Fatalf("TryLock(%q) = %v, %v; want taken %v", name, l, ok, want)
	}
	if l != nil {
		t.Cleanup(func() { l.Release(context.Background()) })
	}
	return l
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestLockExclusive: of two replicas on one database, only one takes a
// lock, and a second TryLock of the holder fails too (another
// connection); the other replica takes it after Release. Other names,
// and the same name in another database, are other locks.
func TestLockExclusive(t *testing.T) {
	t.Parallel()
	a, b := openLockStores(t, nil)
	other := open(t, nil) // another database of the server

	la := mustTryLock(t, a, "retention", true)
	mustTryLock(t, b, "retention", false)
	mustTryLock(t, a, "retention", false) // not reentrant: another connection of a
	mustTryLock(t, b, "health", true)
	mustTryLock(t, other, "retention", true)

	if err := la.Check(ctx); err != nil {
		t.Fatalf("Check on a held lock: %v", err)
	}
	if isClosed(la.Lost()) {
		t.Fatal("Lost closed on a held lock")
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !isClosed(la.Lost()) {
		t.Error("Lost not closed after Release")
	}
	if err := la.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if err := la.Check(ctx); !errors.Is(err, mysql.ErrLockLost) {
		t.Errorf("Check after Release = %v, want ErrLockLost", err)
	}
	lb := mustTryLock(t, b, "retention", true)
	mustTryLock(t, a, "retention", false)
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	mustTryLock(t, a, "retention", true)
}

// TestLockKey: the server-side name depends on the database and the
// name only, fits the server's 64 characters whatever the name's
// length, and a name the server would refuse as it is still works.
func TestLockKey(t *testing.T) {
	t.Parallel()
	a, b := openLockStores(t, nil)
	other := open(t, nil)
	long := strings.Repeat("x", 200)
	keys := map[string]string{}
	for _, c := range []struct {
		label string
		s     *mysql.Store
		name  string
	}{
		{"a retention", a, "retention"},
		{"a health", a, "health"},
		{"other retention", other, "retention"},
		{"a long", a, long},
		{"a é", a, "é"},
	} {
		l := mustTryLock(t, c.s, c.name, true)
		if n := len(l.Key()); n > 64 {
			t.Errorf("%s: Key %q has %d characters, more than 64", c.label, l.Key(), n)
		}
		if l.Name() != c.name {
			t.Errorf("%s: Name() = %q, want %q", c.label, l.Name(), c.name)
		}
		if prev, ok := keys[l.Key()]; ok {
			t.Errorf("%s and %s have the same key %s", prev, c.label, l.Key())
		}
		keys[l.Key()] = c.label
		if c.s == a {
			// b, on a's database, contends for the same key.
			mustTryLock(t, b, c.name, false)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		lb := mustTryLock(t, b, c.name, true)
		if c.s == a && lb.Key() != l.Key() {
			t.Errorf("%s: key %q in one store, %q in another on the same database", c.label, l.Key(), lb.Key())
		}
		lb.Release(ctx)
	}
}

// TestLockPool: a refused TryLock gives its connection back to the
// pool, and a released lock gives its connection back.
func TestLockPool(t *testing.T) {
	t.Parallel()
	a, b := openLockStores(t, &mysql.Options{MaxConns: 2})
	mustTryLock(t, a, "job", true)
	for range 5 {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, ok, err := b.TryLock(tctx, "job")
		cancel()
		if err != nil || ok {
			t.Fatalf("TryLock of a held lock = %v, %v; want false, nil", ok, err)
		}
		tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		_, ok, err = a.TryLock(tctx, "job")
		cancel()
		if err != nil || ok {
			t.Fatalf("TryLock of a held lock by its store = %v, %v; want false, nil", ok, err)
		}
	}
	for range 5 {
		l := mustTryLock(t, b, "other", true)
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*mysql.Store{a, b} {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.Ping(pctx)
		cancel()
		if err != nil {
			t.Fatalf("Ping with a lock held and MaxConns 2: %v", err)
		}
	}
}

// holderID returns the id of the connection that holds l, as another
// connection sees it.
func holderID(t *testing.T, db *sql.DB, l *mysql.Lock) int64 {
	t.Helper()
	var id sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", l.Key()).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if !id.Valid {
		t.Fatalf("no connection holds %s", l.Key())
	}
	return id.Int64
}

// kill kills the connection that holds l, from another connection, and
// waits until the server has ended its session.
func kill(t *testing.T, db *sql.DB, l *mysql.Lock) {
	t.Helper()
	id := holderID(t, db, l)
	if _, err := db.ExecContext(ctx, "KILL CONNECTION ?", id); err != nil {
		t.Fatalf("KILL %d: %v", id, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection %d still there 10s after KILL", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLockLost: when the holder's connection is killed, the lock is
// free for another replica at once, and the holder notices by itself:
// Lost is closed, Check and Release return ErrLockLost.
func TestLockLost(t *testing.T) {
	t.Parallel()
	a, b := openLockStores(t, nil)
	la := mustTryLock(t, a, "retention", true)
	mustTryLock(t, b, "retention", false)

	kill(t, b.DB(), la)
	lb := mustTryLock(t, b, "retention", true)
	select {
	case <-la.Lost():
	case <-time.After(time.Second + 5*time.Second + 5*time.Second):
		t.Fatal("the holder did not notice that its connection was killed")
	}
	if err := la.Check(ctx); !errors.Is(err, mysql.ErrLockLost) {
		t.Errorf("Check on a lost lock = %v, want ErrLockLost", err)
	}
	if err := la.Release(ctx); !errors.Is(err, mysql.ErrLockLost) {
		t.Errorf("Release of a lost lock = %v, want ErrLockLost", err)
	}
	if err := la.Release(ctx); !errors.Is(err, mysql.ErrLockLost) {
		t.Errorf("second Release of a lost lock = %v, want ErrLockLost", err)
	}
	if err := lb.Check(ctx); err != nil {
		t.Errorf("Check on the new holder's lock: %v", err)
	}
	// The killed connection is not back in a's pool: a still works.
	if err := a.Ping(ctx); err != nil {
		t.Errorf("Ping after the lock's connection was killed: %v", err)
	}
}

// TestLockCheckNotices: Check finds a killed connection at once,
// without waiting for the watcher, and closes Lost.
func TestLockCheckNotices(t *testing.T) {
	t.Parallel()
	a, b := openLockStores(t, nil)
	la := mustTryLock(t, a, "job", true)
	kill(t, b.DB(), la)
	if err := la.Check(ctx); !errors.Is(err, mysql.ErrLockLost) {
		t.Fatalf("Check after the connection was killed = %v, want ErrLockLost", err)
	}
	if !isClosed(la.Lost()) {
		t.Error("Lost not closed after Check found the lock lost")
	}
}

// TestLockCheckContext: a Check whose ctx has ended keeps the lock.
func TestLockCheckContext(t *testing.T) {
	t.Parallel()
	a, b := openLockStores(t, nil)
	la := mustTryLock(t, a, "job", true)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := la.Check(cctx); !errors.Is(err, context.Canceled) || errors.Is(err, mysql.ErrLockLost) {
		t.Errorf("Check with a cancelled ctx = %v, want context.Canceled", err)
	}
	if err := la.Check(ctx); err != nil {
		t.Errorf("Check after a cancelled Check: %v", err)
	}
	mustTryLock(t, b, "job", false)
}

// TestLockCheckStalled: a Check whose ctx has no deadline, sent when
// the server stopped answering, gives up after the check timeout (5s)
// and reports the lock lost, as the watcher would have: it must not
// wait forever with the lock's connection, keeping the watcher from
// noticing that the lock is gone.
func TestLockCheckStalled(t *testing.T) {
	t.Parallel()
	cfg, err := driver.ParseDSN(newDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	p := stallproxy.New(t, cfg.Addr)
	cfg.Addr = p.Addr()
	s, err := mysql.Open(ctx, cfg.FormatDSN(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, ok, err := s.TryLock(ctx, "job")
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v; want true, nil", ok, err)
	}
	t.Cleanup(func() { l.Release(context.Background()) })
	t.Cleanup(p.Close) // first: it ends a Check that still waits

	p.Stall()
	checked := make(chan error, 1)
	go func() { checked <- l.Check(context.Background()) }()
	select {
	case err := <-checked:
		if !errors.Is(err, mysql.ErrLockLost) {
			t.Errorf("Check with the server stalled = %v, want ErrLockLost", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Check with no deadline still waits 15s after the server stopped answering")
	}
	if !isClosed(l.Lost()) {
		t.Error("Lost not closed after Check found the lock lost")
	}
}

func TestLockBadInput(t *testing.T) {
	t.Parallel()
	s := open(t, nil)
	_, ok, err := s.TryLock(ctx, "")
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "name" || ok {
		t.Errorf("TryLock(\"\") = %v, %v; want a FieldError naming name", ok, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok, err := s.TryLock(cctx, "job"); err == nil || ok {
		t.Errorf("TryLock with a cancelled ctx = %v, %v; want an error", ok, err)
	}
	mustTryLock(t, s, "job", true) // the cancelled attempt left nothing held
	s.Close()
	if _, _, err := s.TryLock(ctx, "job"); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("TryLock after Close = %v, want ErrUnavailable", err)
	}
}

// watchers counts the goroutines that watch a lock.
func watchers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "mysql.(*Lock).watch(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestLockNoLeak: Release, concurrent with Check and with itself, and a
// lost lock end the lock's goroutine. Not parallel: it counts the
// goroutines of every lock in the process.
func TestLockNoLeak(t *testing.T) {
	a, b := openLockStores(t, nil)
	base := watchers()
	for range 3 {
		l := mustTryLock(t, a, "job", true)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { l.Check(ctx) })
			wg.Go(func() {
				if err := l.Release(ctx); err != nil {
					t.Errorf("Release: %v", err)
				}
			})
		}
		wg.Wait()
	}
	l := mustTryLock(t, a, "job", true)
	kill(t, b.DB(), l)
	l.Check(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for watchers() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d lock goroutines left after every lock was released or lost", watchers()-base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Run the retention job on one replica only: each replica tries the
// lock on a timer, and the one that takes it runs the job, stopping
// when the lock is lost. (It needs a server, so it is compiled but not
// run.)
func ExampleStore_TryLock() {
	ctx := context.Background()
	store, err := mysql.Open(ctx, "mysql://audit@127.0.0.1:3306/app", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	lock, ok, err := store.TryLock(ctx, "retention")
	if err != nil || !ok {
		return // another replica runs it, or the server is down: try at the next tick
	}
	defer lock.Release(ctx)

	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lock.Lost():
			cancel() // another replica may take over: stop (the job is idempotent)
		case <-jobCtx.Done():
		}
	}()
	if _, err := store.Purge(jobCtx, activitylog.PurgeRequest{Before: time.Now().AddDate(-1, 0, 0), AllTenants: true}); err != nil {
		log.Print(err)
	}
}

// TestLockTakesNoPoolConn: held locks keep connections of their own,
// not the store's: with MaxConns 1 and two locks held, the store still
// writes and reads.
func TestLockTakesNoPoolConn(t *testing.T) {
	t.Parallel()
	a, _ := openLockStores(t, &mysql.Options{MaxConns: 1})
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, name := range []string{"job", "other"} {
		l, ok, err := a.TryLock(wctx, name)
		if err != nil || !ok {
			t.Fatalf("TryLock(%q) with MaxConns 1 = %v, %v; want it taken", name, ok, err)
		}
		t.Cleanup(func() { l.Release(context.Background()) })
	}
	es := storetest.Fixture(3)
	if err := a.Write(wctx, es); err != nil {
		t.Fatalf("Write with two locks held and MaxConns 1: %v", err)
	}
	if n, err := a.Count(wctx, activitylog.Filter{}); err != nil || n != 3 {
		t.Fatalf("Count with two locks held and MaxConns 1 = %d, %v; want 3", n, err)
	}
}
