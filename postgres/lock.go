package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/jackc/pgx/v5"
)

// ErrLockLost is wrapped by the errors of Lock.Check and Lock.Release
// when the lock was lost: its connection dropped (the server restarted,
// the backend was terminated, the network failed), so the server let
// the lock go and another holder may have taken it.
var ErrLockLost = errors.New("lock lost")

// How often a held lock's connection is checked, and how long one check
// may take before the lock is given up as lost.
const (
	lockCheckInterval = time.Second
	lockCheckTimeout  = 5 * time.Second
)

// Lock is a session-level PostgreSQL advisory lock, held by one Store
// (one replica) at a time in a database: the guard of a job that must
// run on one replica only (retention, health checks). Take it with
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
	key  int64

	mu   sync.Mutex // serializes the use of conn
	conn *pgx.Conn  // nil once released or lost
	err  error      // why the lock was lost; nil when it was released

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// lockKey is the advisory lock key of the lock name in schema: the
// 64-bit FNV-1a hash of "activitylog", schema and name, each followed by
// a NUL byte, as a signed integer. A lock of one name is thus a
// different lock in each schema of a database. It is a single bigint
// key, which PostgreSQL keeps apart from the two-int4 keys that Migrate
// and the partition maintenance take.
func lockKey(schema, name string) int64 {
	h := fnv.New64a()
	for _, s := range []string{"activitylog", schema, name} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}

// TryLock tries to take the lock name (any string but "") in the
// store's schema, without waiting: it returns the Lock and true when it
// took it, nil and false when another session holds it.
//
// The lock is a session-level advisory lock (pg_try_advisory_lock) on a
// connection taken from the pool and then detached from it
// (pgxpool.Conn.Hijack), so that a lock held for hours takes no slot of
// the pool; when the lock is not taken, the connection goes back to the
// pool. Its key is a 64-bit hash of the schema and the name (Lock.Key),
// so replicas that share a database and a schema contend for it; in
// pg_locks it is the row with locktype 'advisory', objsubid 1, classid
// the key's upper 32 bits and objid its lower 32 bits.
//
// Store.Close does not release the locks it gave: Release them first.
// Locks do not work through a pooler in transaction mode (PgBouncer's
// pool_mode=transaction), where a session is not a connection: the
// checks would then report the lock lost.
func (s *Store) TryLock(ctx context.Context, name string) (*Lock, bool, error) {
	if name == "" {
		return nil, false, activitylog.Invalid("name", name, "must not be empty")
	}
	if s.closed.Load() {
		return nil, false, fmt.Errorf("take lock %s: %w", name, errClosed)
	}
	key := lockKey(s.schema, name)
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("take lock %s: %w", name, unavailable(ctx, err))
	}
	var got bool
	if err := pc.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		// The statement may have taken the lock before it failed: close
		// the connection rather than give the pool a lock holder.
		c := pc.Hijack()
		c.Close(context.WithoutCancel(ctx))
		return nil, false, fmt.Errorf("take lock %s: %w", name, unavailable(ctx, err))
	}
	if !got {
		pc.Release()
		return nil, false, nil
	}
	l := &Lock{
		name: name, key: key, conn: pc.Hijack(),
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.watch()
	return l, true, nil
}

// Name returns the lock's name.
func (l *Lock) Name() string { return l.name }

// Key returns the lock's advisory lock key (see TryLock).
func (l *Lock) Key() int64 { return l.key }

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

// Check asks the server whether the lock is still held by its session.
// It returns nil when it is; an error wrapping ErrLockLost when it is
// not (the connection dropped, or the check failed: the connection is
// then closed, which gives the lock up) or was released. If ctx ends
// before the check was sent, Check returns ctx's error and the lock is
// kept; if it ends while the check waits for the server, the connection
// is closed and the lock lost. Whatever ctx allows, a check that the
// server has not answered in 5s gives the lock up as lost, as the
// watcher's do: a check that waited longer would keep the watcher,
// which needs the connection, from noticing the loss.
func (l *Lock) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return l.gone("check")
	}
	ctx, cancel := context.WithTimeout(ctx, lockCheckTimeout)
	defer cancel()
	var held bool
	err := l.conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
		AND granted AND objsubid = 1 AND classid::bigint = $1 AND objid::bigint = $2)`,
		int64(uint64(l.key)>>32), int64(uint64(l.key)&0xffffffff)).Scan(&held)
	if err != nil && ctx.Err() != nil && !l.conn.IsClosed() {
		return fmt.Errorf("check lock %s: %w", l.name, ctx.Err())
	}
	if err == nil && !held {
		err = errors.New("the session does not hold it")
	}
	if err != nil {
		l.loseLocked(err)
		return l.gone("check")
	}
	return nil
}

// Release gives the lock up and closes its connection. It returns an
// error wrapping ErrLockLost when the lock had been lost before
// (the job it guarded may have overlapped with another holder's), nil
// when it held the lock to the end or was released already.
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
	var held bool
	err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, l.key).Scan(&held)
	if err == nil && !held {
		err = errors.New("the session did not hold it")
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
	l.conn.Close(context.WithoutCancel(ctx))
	l.conn = nil
	l.lostOnce.Do(func() { close(l.lost) })
	return nil
}

// loseLocked records that the lock is lost for err, closes the
// connection and Lost.
func (l *Lock) loseLocked(err error) {
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), lockCheckTimeout)
		l.conn.Close(ctx)
		cancel()
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
