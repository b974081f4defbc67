package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/natsq"
	"github.com/activitylog/activitylog/postgres"
	"github.com/nats-io/nats.go/jetstream"
)

// Locks of the jobs that must run on one process at a time across a
// deployment (the router's replay of pending batches) and of the
// chains a worker claims (worker_seal.go).
//
// A Locker is the store's PostgreSQL advisory lock when the events go
// to PostgreSQL, else a NATS JetStream KV lease when nats_url is set,
// else the store's GET_LOCK named lock when the events go to MySQL or
// MariaDB, else a lock of this process only. (NATS before MySQL: a
// GET_LOCK holds on one node of a multi-primary cluster, a lease on
// the whole deployment; and a deployment that had nats_url keeps the
// leases it had.) Whichever it is, a lock is a lock
// with a timeout, not a fence: what it guards must stay idempotent.

// Locker takes named locks, each held by one holder at a time. It is
// safe for concurrent use.
type Locker interface {
	// TryLock takes the lock name without waiting. It returns the held
	// lock, or nil and no error when another holder has it; an error
	// when it could not tell (the server did not answer).
	TryLock(ctx context.Context, name string) (HeldLock, error)
	// String names the kind of lock, for logs.
	String() string
}

// HeldLock is a lock a Locker gave.
type HeldLock interface {
	// Lost is closed when the lock is no longer held: lost (its
	// connection or lease went) or released.
	Lost() <-chan struct{}
	// Release gives the lock up. It returns an error wrapping
	// errLockLost when the lock had been lost before.
	Release(ctx context.Context) error
}

// errLockLost is wrapped by Release when the lock was lost before it.
var errLockLost = errors.New("lock lost")

// leaseBucket and leaseTTL are the KV bucket of natsLocker's leases and
// their time to live: a holder that dies frees its leases this long
// after its last renewal (every ttl/3).
const (
	leaseBucket = "activitylog_leases"
	leaseTTL    = 15 * time.Second
)

// newLocker returns the Locker of a process whose events go to store:
// the store's advisory locks when it is PostgreSQL, else leases in
// NATS when js is not nil (nats_url; prefix scopes them to the
// deployment), else the store's named locks when it is MySQL, else
// locks of this process.
func newLocker(store activitylog.Store, js jetstream.JetStream, prefix string) Locker {
	if pg, ok := store.(*postgres.Store); ok {
		return pgLocker{pg}
	}
	if js != nil {
		host, _ := os.Hostname()
		return &natsLocker{js: js, prefix: prefix, holder: host + "/" + strconv.Itoa(os.Getpid())}
	}
	if my, ok := store.(*mysql.Store); ok {
		return mysqlLocker{my}
	}
	return processLocks
}

// pgLocker takes session-level advisory locks in the store's schema
// (postgres.Store.TryLock).
type pgLocker struct{ s *postgres.Store }

func (l pgLocker) TryLock(ctx context.Context, name string) (HeldLock, error) {
	lk, ok, err := l.s.TryLock(ctx, name)
	if err != nil || !ok {
		return nil, err
	}
	return pgLock{lk}, nil
}

func (pgLocker) String() string { return "postgresql advisory lock" }

type pgLock struct{ *postgres.Lock }

func (l pgLock) Release(ctx context.Context) error {
	err := l.Lock.Release(ctx)
	if errors.Is(err, postgres.ErrLockLost) {
		return fmt.Errorf("%w: %w", errLockLost, err)
	}
	return err
}

// mysqlLocker takes GET_LOCK named locks on the store's server
// (mysql.Store.TryLock): each held lock keeps one of the store's
// connections.
type mysqlLocker struct{ s *mysql.Store }

func (l mysqlLocker) TryLock(ctx context.Context, name string) (HeldLock, error) {
	lk, ok, err := l.s.TryLock(ctx, name)
	if err != nil || !ok {
		return nil, err
	}
	return mysqlLock{lk}, nil
}

func (mysqlLocker) String() string { return "mysql named lock" }

type mysqlLock struct{ *mysql.Lock }

func (l mysqlLock) Release(ctx context.Context) error {
	err := l.Lock.Release(ctx)
	if errors.Is(err, mysql.ErrLockLost) {
		return fmt.Errorf("%w: %w", errLockLost, err)
	}
	return err
}

// natsLocker takes leases in a JetStream KV bucket (natsq.Lease), made
// on the first TryLock, so that a process started while NATS is down
// still starts.
type natsLocker struct {
	js     jetstream.JetStream
	prefix string
	holder string

	mu sync.Mutex
	kv jetstream.KeyValue
}

func (*natsLocker) String() string { return "nats kv lease" }

// validKey matches what a KV key may be.
var validKey = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)

// key is the lease key of name: the prefix and the name, or, when that
// is not a valid key, the prefix and the name in hex.
func (l *natsLocker) key(name string) string {
	if k := l.prefix + "." + name; validKey.MatchString(k) {
		return k
	}
	return l.prefix + ".x" + hex.EncodeToString([]byte(name))
}

func (l *natsLocker) TryLock(ctx context.Context, name string) (HeldLock, error) {
	if name == "" {
		return nil, activitylog.Invalid("name", name, "must not be empty")
	}
	l.mu.Lock()
	kv := l.kv
	if kv == nil {
		var err error
		if kv, err = natsq.LeaseBucket(ctx, l.js, leaseBucket, leaseTTL); err != nil {
			l.mu.Unlock()
			return nil, err
		}
		l.kv = kv
	}
	l.mu.Unlock()
	lease, err := natsq.AcquireLease(ctx, kv, l.key(name), l.holder, leaseTTL)
	if errors.Is(err, natsq.ErrLeaseHeld) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &leaseLock{cancel: cancel, lost: make(chan struct{})}
	go func() {
		h.err = lease.KeepAlive(kctx) // releases the lease when kctx ends
		close(h.lost)
	}()
	return h, nil
}

// leaseLock is a lease kept alive until Release.
type leaseLock struct {
	cancel context.CancelFunc
	lost   chan struct{}
	err    error // KeepAlive's, once lost is closed
}

func (h *leaseLock) Lost() <-chan struct{} { return h.lost }

func (h *leaseLock) Release(ctx context.Context) error {
	select {
	case <-h.lost:
		if h.err != nil {
			return fmt.Errorf("%w: %w", errLockLost, h.err)
		}
		return nil
	default:
	}
	h.cancel()
	select {
	case <-h.lost:
		return h.err
	case <-ctx.Done():
		return fmt.Errorf("release lease: %w", ctx.Err())
	}
}

// localLocker holds locks within this process.
type localLocker struct {
	mu   sync.Mutex
	held map[string]*localLock
}

// processLocks are the locks of this process.
var processLocks = &localLocker{held: map[string]*localLock{}}

func (*localLocker) String() string { return "lock of this process" }

func (l *localLocker) TryLock(_ context.Context, name string) (HeldLock, error) {
	if name == "" {
		return nil, activitylog.Invalid("name", name, "must not be empty")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] != nil {
		return nil, nil
	}
	h := &localLock{l: l, name: name, lost: make(chan struct{})}
	l.held[name] = h
	return h, nil
}

type localLock struct {
	l    *localLocker
	name string
	once sync.Once
	lost chan struct{}
}

func (h *localLock) Lost() <-chan struct{} { return h.lost }

func (h *localLock) Release(context.Context) error {
	h.once.Do(func() {
		h.l.mu.Lock()
		delete(h.l.held, h.name)
		h.l.mu.Unlock()
		close(h.lost)
	})
	return nil
}

var (
	_ Locker = pgLocker{}
	_ Locker = (*natsLocker)(nil)
	_ Locker = (*localLocker)(nil)
)
