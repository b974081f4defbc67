package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	sqldriver "database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
)

// ErrLockLost is wrapped by the errors of Lock.Check and Lock.Release
// when the lock was lost: its connection dropped (the server restarted,
// the connection was killed, the network failed), so the server let
// the lock go and another holder may have taken it.
var ErrLockLost = errors.New("lock lost")

// How often a held lock's connection is checked, and how long one check
// may take before the lock is given up as lost.
const (
	lockCheckInterval = time.Second
	lockCheckTimeout  = 5 * time.Second
)

// Lock is a named lock of the server (GET_LOCK), held by one Store (one
// replica) at a time in a database: the guard of a job that must run on
// one replica only (retention, the router's replay). Take it with
// Store.TryLock, give it up with Release.
//
// The lock lives as long as the connection that took it: when that
// connection drops, the server releases the lock and another replica can
// take it at once. A background goroutine checks the connection every
// second, and Lost is closed when a check fails; Check runs one check
// on demand. Between the drop and its notice, up to a second (more when
// the network hangs: a check gives up after 5s), the holder may still
// believe it holds a lock that another replica has taken. So a lock is
// not a fence: jobs that it guards must be idempotent, and should call
// Check, or watch Lost, between steps.
//
// A Lock is safe for concurrent use.
type Lock struct {
	name string
	key  string

	mu   sync.Mutex // serializes the use of conn
	conn *sql.Conn  // nil once released or lost
	err  error      // why the lock was lost; nil when it was released

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// lockKey is the server-side name of the lock name in database:
// "activitylog.lock." and the first 16 bytes, in lowercase hex, of the
// SHA-256 hash of "activitylog", database and name, each followed by a
// NUL byte; 49 characters, within the 64 that MySQL and MariaDB allow
// a lock name. A lock of one name is thus a different lock in each
// database of a server, and is kept apart from the lock that Migrate
// takes (activitylog.migrate.<database>).
func lockKey(database, name string) string {
	h := sha256.New()
	for _, s := range []string{"activitylog", database, name} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "activitylog.lock." + hex.EncodeToString(h.Sum(nil)[:16])
}

// TryLock tries to take the lock name (any string but "") in the
// store's database, without waiting: it returns the Lock and true when
// it took it, nil and false when another connection holds it.
//
// The lock is a named lock of the server, GET_LOCK(Lock.Key(), 0), on a
// connection that the Lock keeps for itself until Release (a *sql.Conn
// of a pool of the locks' own, on the store's connector, so that a held
// lock takes none of Options.MaxConns). When the lock is not taken, the
// connection is closed. Its server-side name is a hash of the database and the name
// (Lock.Key), so replicas that share a database contend for it; a
// server lists it in performance_schema.metadata_locks (MySQL, as
// OBJECT_TYPE 'USER LEVEL LOCK') or information_schema.METADATA_LOCK_INFO
// (MariaDB, with its plugin), and IS_USED_LOCK(Lock.Key()) names the
// holder's connection id.
//
// Locks are not reentrant: a second TryLock of a held name fails even
// from the store that holds it, as it runs on another connection.
//
// Store.Close does not release the locks it gave: Release them first.
// Locks do not work through a proxy that shares server connections
// between its clients (multiplexing) once a lock is taken: the checks
// would then report the lock lost.
func (s *Store) TryLock(ctx context.Context, name string) (*Lock, bool, error) {
	if name == "" {
		return nil, false, activitylog.Invalid("name", name, "must not be empty")
	}
	if s.closed.Load() {
		return nil, false, fmt.Errorf("take lock %s: %w", name, errClosed)
	}
	key := lockKey(s.dbName, name)
	conn, err := s.lockPool().Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("take lock %s: %w", name, unavailable(ctx, err))
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", key).Scan(&got); err != nil {
		// The statement may have taken the lock before it failed: close
		// the connection rather than give the pool a lock holder.
		discard(conn)
		return nil, false, fmt.Errorf("take lock %s: %w", name, unavailable(ctx, err))
	}
	switch {
	case !got.Valid:
		conn.Close()
		return nil, false, fmt.Errorf("take lock %s: %w", name,
			unavailable(ctx, errors.New("GET_LOCK returned NULL (the server failed to take it)")))
	case got.Int64 != 1:
		conn.Close()
		return nil, false, nil
	}
	l := &Lock{
		name: name, key: key, conn: conn,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.watch()
	return l, true, nil
}

// Name returns the lock's name.
func (l *Lock) Name() string { return l.name }

// Key returns the lock's name on the server, the argument of GET_LOCK
// (see TryLock).
func (l *Lock) Key() string { return l.key }

// Lost returns a channel that is closed when the lock is no longer
// held: lost (Check then returns why) or released.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// watch checks the connection every lockCheckInterval until the lock is
// released or lost.
func (l *Lock) watch() {
	defer close(l.done)
	t := time.NewTicker(lockCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		err := l.Check(context.Background()) // bounded by lockCheckTimeout
		if errors.Is(err, ErrLockLost) {
			return
		}
	}
}

// Check asks the server whether the lock is still held by its
// connection. It returns nil when it is; an error wrapping ErrLockLost
// when it is not (the connection dropped, or the check failed: the
// connection is then closed, which gives the lock up) or was released.
// If ctx ends before the check was sent, Check returns ctx's error and
// the lock is kept; if it ends while the check waits for the server,
// the connection is closed and the lock lost. Whatever ctx allows, a
// check that the server has not answered in 5s gives the lock up as
// lost, as the watcher's do: a check that waited longer would keep the
// watcher, which needs the connection, from noticing the loss.
func (l *Lock) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return l.gone("check")
	}
	ctx, cancel := context.WithTimeout(ctx, lockCheckTimeout)
	defer cancel()
	var held bool
	err := l.conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?) <=> CONNECTION_ID()", l.key).Scan(&held)
	if err != nil && ctx.Err() != nil && valid(l.conn) {
		return fmt.Errorf("check lock %s: %w", l.name, ctx.Err())
	}
	if err == nil && !held {
		err = errors.New("the connection does not hold it")
	}
	if err != nil {
		l.loseLocked(err)
		return l.gone("check")
	}
	return nil
}

// Release gives the lock up (RELEASE_LOCK) and closes its connection
// (the locks' pool keeps none idle). It returns an error wrapping ErrLockLost when the lock
// had been lost before (the job it guarded may have overlapped with
// another holder's), nil when it held the lock to the end or was
// released already.
func (l *Lock) Release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		if l.err == nil {
			return nil
		}
		return l.gone("release")
	}
	var released sql.NullInt64
	err := l.conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", l.key).Scan(&released)
	if err == nil && released.Int64 != 1 {
		// 0: another connection holds it; NULL: nobody does.
		err = errors.New("the connection did not hold it")
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// Closing the connection releases the lock.
			l.loseLocked(cerr)
			return fmt.Errorf("release lock %s: %w", l.name, cerr)
		}
		l.loseLocked(err)
		return l.gone("release")
	}
	l.conn.Close()
	l.conn = nil
	l.lostOnce.Do(func() { close(l.lost) })
	return nil
}

// loseLocked records that the lock is lost for err, closes the
// connection (for good, not back to the pool) and Lost.
func (l *Lock) loseLocked(err error) {
	if l.conn != nil {
		discard(l.conn)
		l.conn = nil
	}
	if l.err == nil {
		l.err = err
	}
	l.lostOnce.Do(func() { close(l.lost) })
}

// gone is the error of verb on a lock that is no longer held.
func (l *Lock) gone(verb string) error {
	if l.err == nil {
		return fmt.Errorf("%s lock %s: %w: released", verb, l.name, ErrLockLost)
	}
	return fmt.Errorf("%s lock %s: %w: %w", verb, l.name, ErrLockLost, l.err)
}

// discard closes conn's driver connection instead of returning it to
// the pool, so that the server ends its session and the locks it holds.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return sqldriver.ErrBadConn })
	conn.Close() // ErrConnDone after Raw; a no-op
}

// valid reports whether conn's driver connection can still be used:
// false after the driver closed it (a query that ctx cancelled, a
// network error).
func valid(conn *sql.Conn) bool {
	ok := false
	conn.Raw(func(dc any) error {
		v, is := dc.(sqldriver.Validator)
		ok = !is || v.IsValid()
		return nil
	})
	return ok
}

// lockPool returns the pool of the locks' connections, made on first
// use: on the store's connector (same server, DSN and session
// settings), unbounded, keeping no idle connection, so that a lock
// held for hours takes none of Options.MaxConns and a refused TryLock
// closes its connection.
func (s *Store) lockPool() *sql.DB {
	s.locksOnce.Do(func() {
		s.locks = sql.OpenDB(s.connector)
		s.locks.SetMaxIdleConns(0)
	})
	return s.locks
}
