package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DefaultPath is the file Open uses when it is given "".
const DefaultPath = "activitylog.db"

// Options configures a Store. The zero value, or a nil *Options, means
// the defaults written beside each field.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock that another
	// process holds before it fails. Default: 5s.
	BusyTimeout time.Duration
	// ReadConns bounds the pool of read connections, which Query, Get
	// and Count use and which never wait for a write. Default: 4, or
	// GOMAXPROCS when that is larger.
	ReadConns int
	// CacheSizeKiB is SQLite's page cache per connection, in KiB; a
	// store has ReadConns+2 connections, each filling its cache only
	// as far as it reads. Default: 32768 (32 MiB).
	CacheSizeKiB int
	// CheckpointInterval is how long after a write a background
	// goroutine copies the write-ahead log back into the database file
	// (a passive checkpoint, which neither waits for nor blocks writes
	// and reads), so that Write rarely pays for it. Negative: no
	// background checkpoints, CheckpointPages alone. Default: 100ms.
	CheckpointInterval time.Duration
	// CheckpointPages is the size of the write-ahead log, in pages (4
	// KiB), at which a Write copies the log back into the database
	// itself (PRAGMA wal_autocheckpoint): the backstop for when the
	// background checkpoints cannot keep up, and what lets the log
	// start again from its beginning under a steady stream of writes.
	// Default: 16000 (about 64 MiB).
	CheckpointPages int
	// SkipMigrate leaves the schema alone on Open, for callers that
	// want to run Migrate themselves and report what it applied.
	// Default: false, Open migrates.
	SkipMigrate bool
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.BusyTimeout <= 0 {
		v.BusyTimeout = 5 * time.Second
	}
	if v.ReadConns <= 0 {
		v.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if v.CacheSizeKiB <= 0 {
		v.CacheSizeKiB = 32 << 10
	}
	if v.CheckpointInterval == 0 {
		v.CheckpointInterval = 100 * time.Millisecond
	}
	if v.CheckpointPages <= 0 {
		v.CheckpointPages = 16000
	}
	return v
}

// Store is an activitylog.Store in one SQLite database. It is safe for
// concurrent use: writes are serialized on one connection, and reads use
// a pool of their own, so that a query never waits for a write (WAL
// mode lets readers see the last committed state while a write is in
// progress).
type Store struct {
	w      *sql.DB // exactly one connection: SQLite allows one writer at a time
	r      *sql.DB // the read pool
	path   string
	closed atomic.Bool
	ckpt   *checkpointer // nil when there are no background checkpoints

	mu    sync.Mutex
	stmts [len(chunkSizes)]*sql.Stmt // multi-row INSERTs, prepared on w when first needed
	seals [len(chunkSizes)]*sql.Stmt // the same with seals (WriteSealed)
}

var _ activitylog.Store = (*Store)(nil)

// Open opens the database at path, creating the file if it does not
// exist, and applies the migrations it lacks (unless
// Options.SkipMigrate). path "" means DefaultPath; a path that starts
// with "file:" is taken as an SQLite URI; ":memory:" is a private
// in-memory database that lives until Close. opts may be nil.
func Open(path string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	if path == "" {
		path = DefaultPath
	}
	dsn, memory, err := dataSource(path, o)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One connection, kept for the life of the store: it holds the
	// prepared INSERTs, and SQLite has one writer anyway, so writes
	// queue here rather than on the file lock.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		if !memory && !strings.HasPrefix(path, "file:") {
			// SQLite says only "unable to open database file (14)".
			if reason := whyNotOpen(path); reason != "" {
				return nil, fmt.Errorf("open sqlite %s: %s: %w", path, reason, err)
			}
		}
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s := &Store{w: w, r: w, path: path}
	if !memory {
		// A private in-memory database is reachable from one connection
		// only, so there it serves reads too.
		r, err := sql.Open("sqlite", dsn)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		r.SetMaxOpenConns(o.ReadConns)
		r.SetMaxIdleConns(o.ReadConns)
		s.r = r
	}
	if !o.SkipMigrate {
		if _, err := s.Migrate(context.Background()); err != nil {
			s.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	if !memory && o.CheckpointInterval > 0 {
		c, err := sql.Open("sqlite", dsn)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		c.SetMaxOpenConns(1)
		s.ckpt = startCheckpointer(c, o.CheckpointInterval)
	}
	return s, nil
}

// dataSource returns the driver's data source name for path, with the
// pragmas every connection runs when it opens.
func dataSource(path string, o Options) (dsn string, memory bool, err error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "cache_size(-"+strconv.Itoa(o.CacheSizeKiB)+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(o.CheckpointPages)+")")
	// BEGIN IMMEDIATE: a write takes the lock when it starts, so it
	// waits (busy_timeout) rather than fail on upgrading a read lock.
	q.Set("_txlock", "immediate")
	switch {
	case path == ":memory:":
		return ":memory:?" + q.Encode(), true, nil
	case strings.HasPrefix(path, "file:"):
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		return path + sep + q.Encode(), strings.Contains(path, "mode=memory") || strings.HasPrefix(path, "file::memory:"), nil
	case strings.Contains(path, "?"):
		return "", false, activitylog.Invalid("db", path, "must be a file path without ?, or a file: URI")
	}
	return path + "?" + q.Encode(), false, nil
}

// Path returns the path or URI the store was opened with.
func (s *Store) Path() string { return s.path }

// Close stops the background checkpoints and closes the database,
// after the statements in progress have finished; the last connection
// to close copies the write-ahead log into the database file and
// removes it. Every method called after Close fails with an error that
// wraps activitylog.ErrUnavailable; a second Close does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var err error
	if s.ckpt != nil {
		err = s.ckpt.stop()
	}
	s.mu.Lock()
	for i := range s.stmts {
		for _, st := range []**sql.Stmt{&s.stmts[i], &s.seals[i]} {
			if *st != nil {
				(*st).Close()
				*st = nil
			}
		}
	}
	s.mu.Unlock()
	// The last connection to close checkpoints the log and removes it.
	err = errors.Join(err, s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if err != nil {
		return fmt.Errorf("close sqlite %s: %w", s.path, err)
	}
	return nil
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("ping sqlite: %w", errClosed)
	}
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w", unavailable(ctx, err))
	}
	return nil
}

// errClosed is returned by every method after Close.
var errClosed = fmt.Errorf("store closed: %w", activitylog.ErrUnavailable)

// unavailable classifies a database error: the context's error when it
// ended, else err wrapped in activitylog.ErrUnavailable, since what fails
// in a statement this package wrote itself is the database (busy,
// locked, out of disk, I/O, closed), not the caller's input.
func unavailable(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", activitylog.ErrUnavailable, err)
}

// whyNotOpen says why a database file could not be opened when the
// reason is its directory: missing, or not a directory. "" otherwise.
func whyNotOpen(path string) string {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "its directory " + dir + " does not exist (SQLite makes the file, not the directory)"
	case err == nil && !fi.IsDir():
		return dir + " is not a directory"
	}
	return ""
}
