package postgres

import (
	"context"
	"errors"
	"log"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/stallproxy"
	"github.com/jackc/pgx/v5"
)

// openSecond opens another store on s's schema, as a second replica
// would, closed when t ends.
func openSecond(t *testing.T, s *Store, opts *Options) *Store {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Schema = s.Schema()
	s2, err := Open(context.Background(), testDSN(t), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func mustTryLock(t *testing.T, s *Store, name string, want bool) *Lock {
	t.Helper()
	l, ok, err := s.TryLock(context.Background(), name)
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

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestLockKey(t *testing.T) {
	t.Parallel()
	if lockKey("s", "retention") != lockKey("s", "retention") {
		t.Error("lockKey is not deterministic")
	}
	for _, p := range [][4]string{
		{"s", "retention", "s", "health"},
		{"s", "retention", "t", "retention"},
		{"a", "bc", "ab", "c"}, // the boundary between schema and name counts
	} {
		if lockKey(p[0], p[1]) == lockKey(p[2], p[3]) {
			t.Errorf("lockKey(%q, %q) == lockKey(%q, %q)", p[0], p[1], p[2], p[3])
		}
	}
}

// TestLockExclusive: of two replicas on one schema, only one takes a
// lock; the other takes it after Release. Other names, and the same
// name in another schema, are other locks.
func TestLockExclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := openTest(t, nil)
	b := openSecond(t, a, nil)
	other := openTest(t, nil) // another schema

	la := mustTryLock(t, a, "retention", true)
	mustTryLock(t, b, "retention", false)
	mustTryLock(t, a, "retention", false) // not reentrant: another connection of a
	mustTryLock(t, b, "health", true)
	mustTryLock(t, other, "retention", true)

	if err := la.Check(ctx); err != nil {
		t.Fatalf("Check on a held lock: %v", err)
	}
	if closed(la.Lost()) {
		t.Fatal("Lost closed on a held lock")
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !closed(la.Lost()) {
		t.Error("Lost not closed after Release")
	}
	if err := la.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if err := la.Check(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("Check after Release = %v, want ErrLockLost", err)
	}
	lb := mustTryLock(t, b, "retention", true)
	mustTryLock(t, a, "retention", false)
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLockPool: a held lock takes no slot of the pool, and a refused
// TryLock gives its connection back.
func TestLockPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := openTest(t, &Options{MaxConns: 1})
	b := openSecond(t, a, &Options{MaxConns: 1})
	mustTryLock(t, a, "job", true)
	mustTryLock(t, a, "job2", true)
	for range 5 {
		mustTryLock(t, b, "job", false)
	}
	for _, s := range []*Store{a, b} {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.Ping(pctx)
		cancel()
		if err != nil {
			t.Fatalf("Ping with locks held and MaxConns 1: %v", err)
		}
	}
}

// TestLockLost: when the holder's backend is terminated, the lock is
// free for another replica, and the holder notices: Lost is closed,
// Check and Release return ErrLockLost.
func TestLockLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := openTest(t, nil)
	b := openSecond(t, a, nil)
	la := mustTryLock(t, a, "retention", true)
	mustTryLock(t, b, "retention", false)

	c, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	k := uint64(la.Key())
	var n int
	// pg_terminate_backend with a timeout waits until the backend is gone.
	err = c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 1 AND classid::bigint = $1 AND objid::bigint = $2 AND granted`,
		int64(k>>32), int64(k&0xffffffff)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d backends holding the lock, want 1", n)
	}

	lb := mustTryLock(t, b, "retention", true)
	select {
	case <-la.Lost():
	case <-time.After(lockCheckInterval + lockCheckTimeout + 5*time.Second):
		t.Fatal("the holder did not notice that its backend was terminated")
	}
	if err := la.Check(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("Check on a lost lock = %v, want ErrLockLost", err)
	}
	if err := la.Release(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("Release of a lost lock = %v, want ErrLockLost", err)
	}
	if err := lb.Check(ctx); err != nil {
		t.Errorf("Check on the new holder's lock: %v", err)
	}
}

// TestLockCheckNotices: Check finds a dropped connection at once,
// without waiting for the watcher.
func TestLockCheckNotices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := openTest(t, nil)
	la := mustTryLock(t, a, "job", true)
	la.mu.Lock()
	la.conn.PgConn().Conn().Close() // the network drops
	la.mu.Unlock()
	if err := la.Check(ctx); !errors.Is(err, ErrLockLost) {
		t.Fatalf("Check after the connection dropped = %v, want ErrLockLost", err)
	}
	if !closed(la.Lost()) {
		t.Error("Lost not closed after Check found the lock lost")
	}
	// The server frees the lock once it sees the session end.
	b := openSecond(t, a, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, ok, err := b.TryLock(ctx, "job")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			l.Release(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock of a closed connection is still held")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLockBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, nil)
	if _, _, err := s.TryLock(ctx, ""); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("TryLock(\"\") = %v, want ErrInvalid", err)
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

// Run the retention job on one replica only: each replica tries the
// lock on a timer, and the one that takes it runs the job, stopping
// when the lock is lost. (It needs a server, so it is compiled but not
// run.)
func ExampleStore_TryLock() {
	ctx := context.Background()
	store, err := Open(ctx, "postgres://audit@127.0.0.1:5432/app?sslmode=disable", nil)
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
	if _, err := store.DropBefore(jobCtx, time.Now().AddDate(-1, 0, 0)); err != nil {
		log.Print(err)
	}
}

// TestLockCheckStalled: a Check whose ctx has no deadline, sent when
// the server stopped answering, gives up after the check timeout (5s)
// and reports the lock lost, as the watcher would have: it must not
// wait forever with the lock's connection, keeping the watcher from
// noticing that the lock is gone.
func TestLockCheckStalled(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := stallproxy.New(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	host, port, _ := net.SplitHostPort(p.Addr())
	proxied := dsn + " host=" + host + " port=" + port // keyword/value: the last one wins
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = p.Addr()
		proxied = u.String()
	}
	s, err := Open(context.Background(), proxied, &Options{Schema: randomSchema(t, dsn)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := mustTryLock(t, s, "job", true)
	t.Cleanup(p.Close) // first: it ends a Check that still waits
	p.Stall()
	checked := make(chan error, 1)
	go func() { checked <- l.Check(context.Background()) }()
	select {
	case err := <-checked:
		if !errors.Is(err, ErrLockLost) {
			t.Errorf("Check with the server stalled = %v, want ErrLockLost", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Check with no deadline still waits 15s after the server stopped answering")
	}
	select {
	case <-l.Lost():
	default:
		t.Error("Lost not closed after Check found the lock lost")
	}
}
