package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/schemaver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is the schema Open uses when Options.Schema is empty.
const DefaultSchema = "activitylog"

// Options configures a Store. The zero value, or a nil *Options, means
// the defaults written beside each field.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables
	// (events and its partitions, event_ids, resolutions, settings,
	// schema_migrations). Open creates it when it does not exist.
	// Default: DefaultSchema ("activitylog"), so that the tables never
	// meet an application's own events or schema_migrations in public.
	Schema string
	// PartitionInterval is the width of the partitions of the events
	// table: "day", "week" (ISO weeks, from Monday), "month" or "year",
	// in UTC. It is fixed when the schema is first opened: a later Open
	// with another interval fails, one with "" takes the stored one.
	// Default: "month".
	PartitionInterval string
	// MaxConns bounds the connection pool. Default: the DSN's
	// pool_max_conns, else pgxpool's default (4, or the number of CPUs
	// when that is larger).
	MaxConns int
	// SkipMigrate leaves the schema alone on Open, for callers that
	// run Migrate themselves. The schema must then exist already.
	// Default: false, Open migrates.
	SkipMigrate bool
	// ReadOnly opens the store for reading only, as a role with no
	// right but SELECT (an auditor's) can: Open migrates nothing and
	// makes no partition and no staging table, refuses a schema that
	// is not at this version's last migration, and every connection's
	// transactions are read only (default_transaction_read_only), so
	// the server refuses any write. For verify and export. Default:
	// false.
	ReadOnly bool
}

// Store is an activitylog.Store in a PostgreSQL database. It is safe
// for concurrent use: every method takes a connection from its pool for
// the time it needs one.
type Store struct {
	pool     *pgxpool.Pool
	schema   string // as given
	qschema  string // quoted, for SQL text
	interval interval
	parts    partitions
	closed   atomic.Bool
	staged   bool // tests: every Write takes the staging path
}

var (
	_ activitylog.Store    = (*Store)(nil)
	_ activitylog.Resolver = (*Store)(nil)
	_ activitylog.Scanner  = (*Store)(nil)
)

// Open connects to the PostgreSQL server that dsn names, a postgres://
// URL or a keyword/value string ("host=… dbname=…", as libpq takes),
// checks that it answers, and applies the migrations the schema lacks
// (unless Options.SkipMigrate). It creates the partitions of the
// current and the next period. opts may be nil.
//
// A bad dsn or option is an *activitylog.FieldError naming it ("dsn",
// "schema", "partition interval", "max conns"); a server that cannot be
// reached, an error wrapping activitylog.ErrUnavailable.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if len(o.Schema) > 63 || strings.ContainsRune(o.Schema, 0) || !isUTF8(o.Schema) {
		return nil, activitylog.Invalid("schema", o.Schema, "must be a PostgreSQL identifier: at most 63 bytes of UTF-8, without NUL")
	}
	var iv interval
	if o.PartitionInterval != "" {
		var ok bool
		if iv, ok = parseInterval(o.PartitionInterval); !ok {
			return nil, activitylog.Invalid("partition interval", o.PartitionInterval, "must be one of day, week, month, year")
		}
	}
	if o.MaxConns < 0 {
		return nil, activitylog.Invalid("max conns", strconv.Itoa(o.MaxConns), "must not be negative")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, activitylog.Invalid("dsn", redact(dsn), reason(err))
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = int32(min(o.MaxConns, 1<<30))
	}
	s := &Store{schema: o.Schema, qschema: quoteIdent(o.Schema)}
	// Every connection finds the store's tables first in its schema, and
	// has a staging table of its own for Write's COPY.
	cfg.ConnConfig.RuntimeParams["search_path"] = s.qschema
	if o.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	} else {
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, createStage)
			return err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", unavailable(ctx, err))
	}
	s.pool = pool
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(dsn), unavailable(ctx, err))
	}
	if o.ReadOnly {
		if err := s.openRead(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return s, nil
	}
	if !o.SkipMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open postgres: %w", err)
		}
	}
	if s.interval, err = s.settle(ctx, iv); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := s.loadPartitions(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	now := time.Now()
	if err := s.ensurePartitions(ctx, []int64{now.UnixNano()}); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return s, nil
}

// openRead is Open's part for Options.ReadOnly: the schema must be this
// version's, whose partition interval and partitions it reads.
func (s *Store) openRead(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if err := schemaver.Check("schema", s.schema, v, ms[len(ms)-1].version); err != nil {
		return err
	}
	var stored string
	if err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'partition_interval'`).Scan(&stored); err != nil {
		return fmt.Errorf("read settings: %w", unavailable(ctx, err))
	}
	iv, ok := parseInterval(stored)
	if !ok {
		return fmt.Errorf("read settings: partition_interval is %q, which this version does not know", stored)
	}
	s.interval = iv
	return s.loadPartitions(ctx)
}

// settle reads the partition interval the schema was created with, or
// records want (month when zero) for a new one.
func (s *Store) settle(ctx context.Context, want interval) (interval, error) {
	name := want.name()
	if want == 0 {
		name = monthly.name()
	}
	var stored string
	err := s.pool.QueryRow(ctx, `WITH ins AS (
		INSERT INTO settings (key, value) VALUES ('partition_interval', $1) ON CONFLICT (key) DO NOTHING RETURNING value)
		SELECT value FROM ins UNION ALL SELECT value FROM settings WHERE key = 'partition_interval'`, name).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another Open inserted it after this statement's snapshot was
		// taken, and committed before the insert gave up: read it anew.
		err = s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'partition_interval'`).Scan(&stored)
	}
	if err != nil {
		return 0, fmt.Errorf("read settings: %w", unavailable(ctx, err))
	}
	iv, ok := parseInterval(stored)
	if !ok {
		return 0, fmt.Errorf("read settings: partition_interval is %q, which this version does not know", stored)
	}
	if want != 0 && iv != want {
		return 0, activitylog.Invalid("partition interval", want.name(), "differs from the interval the schema "+s.schema+" is partitioned by, "+iv.name())
	}
	return iv, nil
}

// Schema returns the schema the store's tables are in.
func (s *Store) Schema() string { return s.schema }

// Pool returns the store's connection pool, for callers that keep
// tables of their own beside the events.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool, after the statements in progress have
// finished. Every method called after Close fails with an error that
// wraps activitylog.ErrUnavailable; a second Close does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.Close()
	return nil
}

// Ping checks that the server answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("ping postgres: %w", errClosed)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", unavailable(ctx, err))
	}
	return nil
}

// errClosed is returned by every method after Close.
var errClosed = fmt.Errorf("store closed: %w", activitylog.ErrUnavailable)

// unavailable classifies a database error: the context's error when it
// ended, else err wrapped in activitylog.ErrUnavailable, since what fails
// in a statement this package wrote itself is the database (down,
// out of disk, a lock timeout, closed), not the caller's input.
func unavailable(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", activitylog.ErrUnavailable, err)
}

// reason returns why pgx refused a connection string, without the
// string itself (which may hold a password).
func reason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "`: "); i >= 0 {
		msg = msg[i+3:]
	}
	return "cannot be parsed: " + msg
}

// redact hides the password of a URL or keyword/value connection string.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok {
		// A URL that does not parse: hide what lies between the user's
		// name and the @, and the query.
		rest, _, _ = strings.Cut(rest, "?")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				rest = rest[:c] + ":xxxxx" + rest[at:]
			}
		}
		return scheme + "://" + rest
	}
	// Keyword form: password = value, with or without spaces around
	// the =, the value bare or in single quotes (which may hold spaces
	// and \' escapes).
	return keywordPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// keywordPassword matches the value of password in a keyword/value
// DSN: password=x, password = x, password='a b', password='it\'s'.
var keywordPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s']\S*)`)

// quoteIdent quotes an identifier for SQL text.
func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
