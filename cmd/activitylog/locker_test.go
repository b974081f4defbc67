package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// lockerCase makes two Lockers of one kind that contend, as two
// processes of one deployment would.
type lockerCase struct {
	name string
	two  func(t *testing.T) (a, b Locker)
}

var lockerCases = []lockerCase{
	{"process", func(t *testing.T) (Locker, Locker) { return processLocks, processLocks }},
	{"postgres", func(t *testing.T) (Locker, Locker) {
		u := postgresTestURL(t)
		open := func() Locker {
			s, err := postgres.Open(context.Background(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return newLocker(s, nil, "x")
		}
		return open(), open()
	}},
	{"mysql", func(t *testing.T) (Locker, Locker) {
		u := storeCaseNamed(t, "mysql").url(t) // a database of the test's own
		open := func() Locker {
			s, err := mysql.Open(context.Background(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			l := newLocker(s, nil, "x")
			if _, ok := l.(mysqlLocker); !ok {
				t.Fatalf("newLocker of a MySQL store = %s, want its named locks", l)
			}
			return l
		}
		return open(), open()
	}},
	{"nats", func(t *testing.T) (Locker, Locker) {
		u := os.Getenv("ACTIVITYLOG_TEST_NATS_URL")
		if u == "" {
			t.Skip("set ACTIVITYLOG_TEST_NATS_URL=nats://127.0.0.1:4222 to run the NATS KV locks")
		}
		prefix := "lk" + strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")
		open := func() Locker {
			nc, err := nats.Connect(u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			return newLocker(nil, js, prefix)
		}
		return open(), open()
	}},
}

// Two processes' replay jobs race for the lock: while one runs, the
// other skips its run; once the first gave the lock up, the other
// runs. A lock is held by one holder at a time, with a name of any
// characters (a chain id has ':').
func TestLockedJobRunsOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range lockerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := tc.two(t)
			name := replayJob + "-" + tc.name + "-" + t.Name()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			var runs atomic.Int32
			entered, release := make(chan struct{}), make(chan struct{})
			job := func(l Locker) *lockedJob {
				return &lockedJob{name: name, interval: time.Hour, locker: l, log: log, run: func(ctx context.Context) error {
					runs.Add(1)
					entered <- struct{}{}
					<-release
					return nil
				}}
			}
			ja, jb := job(a), job(b)
			ranA := make(chan bool, 1)
			go func() { ranA <- ja.once(context.Background()) }()
			<-entered
			if jb.once(context.Background()) {
				t.Fatal("the second process ran the job while the first held its lock")
			}
			close(release)
			if !<-ranA {
				t.Fatal("the first process did not run the job")
			}
			go func() { <-entered }()
			if !jb.once(context.Background()) {
				t.Fatal("the second process could not run the job after the first gave the lock up")
			}
			if got := runs.Load(); got != 2 {
				t.Fatalf("%d runs, want 2", got)
			}

			// A chain id as a lock name; the lock is exclusive, and
			// free again once released.
			ctx := context.Background()
			chain := "chain.worker-h:2"
			la, err := a.TryLock(ctx, chain+tc.name)
			if err != nil || la == nil {
				t.Fatalf("TryLock %s: %v, %v", chain, la, err)
			}
			if lb, err := b.TryLock(ctx, chain+tc.name); err != nil || lb != nil {
				t.Fatalf("a second TryLock of a held lock: %v, %v", lb, err)
			}
			if err := la.Release(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-la.Lost():
			default:
				t.Error("Lost is not closed after Release")
			}
			lb, err := b.TryLock(ctx, chain+tc.name)
			if err != nil || lb == nil {
				t.Fatalf("TryLock after the release: %v, %v", lb, err)
			}
			lb.Release(ctx)
		})
	}
}

// Many processes start their replay jobs at once, several times: no two
// runs ever overlap.
func TestLockedJobNeverOverlaps(t *testing.T) {
	t.Parallel()
	for _, tc := range lockerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := tc.two(t)
			name := replayJob + "-overlap-" + tc.name
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			var inside, overlaps, runs atomic.Int32
			run := func(ctx context.Context) error {
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				runs.Add(1)
				time.Sleep(20 * time.Millisecond)
				inside.Add(-1)
				return nil
			}
			var wg sync.WaitGroup
			for i := range 8 {
				l := a
				if i%2 == 1 {
					l = b
				}
				j := &lockedJob{name: name, interval: time.Hour, locker: l, log: log, run: run}
				wg.Go(func() {
					for range 5 {
						j.once(context.Background())
					}
				})
			}
			wg.Wait()
			if overlaps.Load() != 0 || runs.Load() == 0 {
				t.Fatalf("%d runs, %d overlapping", runs.Load(), overlaps.Load())
			}
		})
	}
}

// A PostgreSQL lock whose session is terminated is lost: the run it
// guards is cancelled, and another process can take the lock.
func TestLockedJobLostPostgres(t *testing.T) {
	t.Parallel()
	u := postgresTestURL(t) // a database of the test's own
	open := func() Locker {
		s, err := postgres.Open(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return newLocker(s, nil, "x")
	}
	a, b := open(), open()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cancelled := make(chan struct{})
	j := &lockedJob{name: "lost-job", interval: time.Hour, locker: a, log: log, run: func(ctx context.Context) error {
		// Terminate the session that holds the lock (the only advisory
		// lock in this database), as a server restart or a network
		// failure would.
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()`).Scan(&n); err != nil || n != 1 {
			t.Errorf("terminate the lock's session: %d sessions, %v", n, err)
			return err
		}
		select {
		case <-ctx.Done():
			close(cancelled)
		case <-time.After(30 * time.Second):
		}
		return nil
	}}
	if !j.once(context.Background()) {
		t.Fatal("the job did not run")
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("the run was not cancelled when its lock was lost")
	}
	lb, err := b.TryLock(context.Background(), "lost-job")
	if err != nil || lb == nil {
		t.Fatalf("TryLock after the loss: %v, %v", lb, err)
	}
	lb.Release(context.Background())
}

// newLocker's choice: a MySQL store's named locks without NATS, the
// NATS leases with it (a GET_LOCK holds on one node of a multi-primary
// cluster), a lock of the process with neither.
func TestNewLockerChoice(t *testing.T) {
	t.Parallel()
	u := storeCaseNamed(t, "mysql").url(t)
	my, err := mysql.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	js := struct{ jetstream.JetStream }{} // not used until a TryLock
	for _, tc := range []struct {
		store activitylog.Store
		js    jetstream.JetStream
		want  string
	}{
		{my, nil, "mysql named lock"},
		{my, js, "nats kv lease"},
		{nil, nil, processLocks.String()},
	} {
		if got := newLocker(tc.store, tc.js, "x").String(); got != tc.want {
			t.Errorf("newLocker(%T, nats %v) = %s, want %s", tc.store, tc.js != nil, got, tc.want)
		}
	}
}
