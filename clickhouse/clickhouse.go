package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/activitylog/activitylog"
)

// Options configures a Store. The zero value, or a nil *Options, means
// the defaults written beside each field.
type Options struct {
	// Database is the database that holds the store's tables; it must
	// exist. Default: the DSN's path (clickhouse://host:9000/audit),
	// else "default".
	Database string
	// Table names the events table; the store's other tables take its
	// name with a suffix (_resolutions, _migrations). Letters,
	// digits and _, at most 63. Default: "events".
	Table string
	// MaxConns bounds the connections the store opens to the server;
	// as many stay open while idle. Default: 10.
	MaxConns int
	// DialTimeout bounds how long Open and every new connection wait
	// for the server to accept. Default: 10s, or the DSN's dial_timeout
	// parameter when it has one.
	DialTimeout time.Duration
	// SkipMigrate leaves the schema alone on Open, for callers that
	// run Migrate themselves. Default: false, Open migrates.
	SkipMigrate bool
	// ReadOnly opens the store for reading only, as a user with no
	// right but SELECT (an auditor's) can: Open migrates nothing,
	// refuses a database whose migrations table is missing or not at
	// this version's last step, and every query carries the server's
	// readonly setting (2: settings may change, data and tables may
	// not; a user whose profile is readonly already keeps it), so the
	// server refuses any write. Write, Resolve and Migrate refuse at
	// once, with an *activitylog.FieldError naming read_only. For the
	// CLI's dry runs (cleanup, purge). Default: false.
	ReadOnly bool
	// MutationTimeout bounds each of Purge's two waits: for the
	// mutations undone before it counts, and for its own (and any still
	// undone) after (ALTER TABLE … DELETE, which the
	// server applies in the background) before it returns an error
	// wrapping activitylog.ErrUnavailable that names them. ClickHouse
	// 18.16 reports no failed mutation: it retries one that fails
	// forever, and without this bound every later purge would wait for
	// it. Default: 1h.
	MutationTimeout time.Duration
}

func (o *Options) withDefaults() (Options, error) {
	var v Options
	if o != nil {
		v = *o
	}
	if v.Database != "" && !identifier.MatchString(v.Database) {
		return v, activitylog.Invalid("database", v.Database, "must be letters, digits and _, at most 63, not starting with a digit")
	}
	if v.Table == "" {
		v.Table = "events"
	}
	if !identifier.MatchString(v.Table) || len(v.Table) > 50 {
		return v, activitylog.Invalid("table", v.Table, "must be letters, digits and _, at most 50, not starting with a digit")
	}
	switch {
	case v.MaxConns < 0:
		return v, activitylog.Invalid("max_conns", strconv.Itoa(v.MaxConns), "must not be negative")
	case v.MaxConns == 0:
		v.MaxConns = 10
	}
	if v.DialTimeout < 0 {
		return v, activitylog.Invalid("dial_timeout", v.DialTimeout.String(), "must not be negative")
	}
	switch {
	case v.MutationTimeout < 0:
		return v, activitylog.Invalid("mutation_timeout", v.MutationTimeout.String(), "must not be negative")
	case v.MutationTimeout == 0:
		v.MutationTimeout = time.Hour
	}
	return v, nil
}

// Store is an activitylog.Store in ClickHouse tables, over the native
// protocol. It is safe for concurrent use: every call takes a
// connection from a pool.
type Store struct {
	conn     driver.Conn
	t        tables
	db       string // the database's name, for messages
	addr     string // the server's address, for messages
	version  string // the server's version, as it reports it
	readOnly bool   // Options.ReadOnly

	mutationTimeout time.Duration // Options.MutationTimeout
	closed          atomic.Bool

	mu       sync.Mutex
	inflight map[activitylog.ID]*claim // ids that a Write is checking and storing
	purge    purgeGate                 // Writes before a purge's cut wait for its count and delete (purge.go)

	seq atomic.Int64 // the last resolution's sequence number (resolution.go)
}

var (
	_ activitylog.Store    = (*Store)(nil)
	_ activitylog.Resolver = (*Store)(nil)
	_ activitylog.Analyzer = (*Store)(nil)
	_ activitylog.Scanner  = (*Store)(nil)
)

var errClosed = fmt.Errorf("store closed: %w", activitylog.ErrUnavailable)

// errReadOnly is what Write, Resolve and Migrate return on a store
// opened with Options.ReadOnly.
var errReadOnly = activitylog.Invalid("read_only", "true", "the store was opened for reading only, and writes nothing")

// Open connects to the ClickHouse server that dsn names and creates
// the store's tables when they are missing (unless
// Options.SkipMigrate or Options.ReadOnly). dsn is a URL of the native protocol:
//
//	clickhouse://user:password@host:9000/database?param=value
//
// with the parameters of github.com/ClickHouse/clickhouse-go/v2
// (dial_timeout, read_timeout, compress, secure, …); a parameter the
// driver does not know is sent to the server as a setting. opts may be
// nil.
//
// A DSN or option that cannot be used is an error wrapping
// activitylog.ErrInvalid that names it (scheme, host, port, database,
// a parameter, max_conns, …), and so is a database the server does
// not have; a server that cannot be reached, one wrapping
// activitylog.ErrUnavailable.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open clickhouse: %w", err)
	}
	co, db, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse: %w", err)
	}
	if o.Database != "" {
		db = o.Database
	}
	co.Auth.Database = db
	co.MaxOpenConns, co.MaxIdleConns = o.MaxConns, o.MaxConns
	switch {
	case o.DialTimeout > 0:
		co.DialTimeout = o.DialTimeout
	case co.DialTimeout == 0:
		co.DialTimeout = 10 * time.Second
	}
	if o.ReadOnly {
		// 2, not 1: the DSN's settings are sent with every query, and
		// readonly=1 would refuse them. A DSN's own readonly=1 stays.
		if co.Settings == nil {
			co.Settings = ch.Settings{}
		}
		if v, ok := co.Settings["readonly"].(int); !ok || v == 0 {
			co.Settings["readonly"] = 2
		}
	}
	conn, err := ch.Open(co)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse: %w", activitylog.Invalid("dsn", redact(dsn), err.Error()))
	}
	s := &Store{conn: conn, t: newTables(db, o.Table), db: db, addr: strings.Join(co.Addr, ","),
		readOnly: o.ReadOnly, mutationTimeout: o.MutationTimeout, inflight: map[activitylog.ID]*claim{}}
	if err := s.connect(ctx, db); err != nil {
		conn.Close()
		return nil, fmt.Errorf("open clickhouse %s: %w", s.addr, err)
	}
	if o.ReadOnly {
		if err := s.checkSchema(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("open clickhouse %s: %w", s.addr, err)
		}
		return s, nil
	}
	if !o.SkipMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("open clickhouse %s: %w", s.addr, err)
		}
	}
	return s, nil
}

// connect checks that the server answers, and that the database and
// the DSN's settings are ones it knows.
func (s *Store) connect(ctx context.Context, db string) error {
	if err := s.conn.Ping(ctx); err != nil {
		return s.refused(ctx, db, err)
	}
	v, err := s.conn.ServerVersion()
	if err != nil {
		return unavailable(ctx, err)
	}
	s.version = fmt.Sprintf("%d.%d.%d", v.Version.Major, v.Version.Minor, v.Version.Patch)
	// A query, unlike a ping, carries the DSN's settings.
	var one uint8
	if err := s.conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return s.refused(ctx, db, err)
	}
	return nil
}

var (
	unknownSetting = regexp.MustCompile(`Unknown setting ([A-Za-z0-9_]+)`)
	// The driver sends settings to servers before 19.11 as numbers
	// only, and refuses others.
	textSetting = regexp.MustCompile(`query setting ([A-Za-z0-9_]+) has unsupported data type`)
)

// refused turns the server's refusal of the connection's database or
// settings into an *activitylog.FieldError naming them, and any other
// error into one wrapping activitylog.ErrUnavailable.
func (s *Store) refused(ctx context.Context, db string, err error) error {
	var ex *ch.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case 81: // UNKNOWN_DATABASE
			return activitylog.Invalid("database", db, "does not exist on the server")
		case 115: // UNKNOWN_SETTING
			name := ""
			if m := unknownSetting.FindStringSubmatch(ex.Message); m != nil {
				name = m[1]
			}
			return activitylog.Invalid("dsn", name, "is neither a parameter of the driver nor a setting of the server")
		case 192, 193, 194, 516: // UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED
			return activitylog.Invalid("user", "", "was refused by the server: "+ex.Message)
		}
	}
	if m := textSetting.FindStringSubmatch(err.Error()); m != nil {
		return activitylog.Invalid("dsn", m[1], "is not a parameter of the driver, and a server before 19.11 takes only numbers as settings")
	}
	return unavailable(ctx, err)
}

// ServerVersion returns the version the server reported on Open, such
// as "18.16.1".
func (s *Store) ServerVersion() string { return s.version }

// Close closes the store's connections. Calls after Close fail with an
// error wrapping activitylog.ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.conn.Close()
}

// unavailable wraps err as activitylog.ErrUnavailable, unless the
// context ended, whose error it returns as it is.
func unavailable(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", activitylog.ErrUnavailable, err)
}

// The driver's parameters whose values parseDSN checks, so that a bad
// one is refused by name rather than by the driver's own message.
var (
	durationParams = []string{"dial_timeout", "read_timeout", "conn_max_lifetime"}
	intParams      = []string{"max_open_conns", "max_idle_conns", "max_compression_buffer", "block_buffer_size", "compress_level"}
	boolParams     = []string{"debug", "secure", "skip_verify"}
	compressions   = []string{"true", "false", "1", "0", "lz4", "lz4hc", "zstd", "gzip", "deflate", "br", "none"}
)

// parseDSN checks dsn and returns the driver's options for it, and the
// database it names ("default" when none).
func parseDSN(dsn string) (*ch.Options, string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, "", activitylog.Invalid("dsn", redact(dsn), "is not a URL like clickhouse://host:9000/database")
	}
	if u.Scheme != "clickhouse" {
		return nil, "", activitylog.Invalid("scheme", u.Scheme, "must be clickhouse (the native protocol), as in clickhouse://host:9000/database")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, "", activitylog.Invalid("host", u.Host, "is required, as in clickhouse://host:9000/database")
	}
	for _, h := range strings.Split(u.Host, ",") {
		if _, port, err := net.SplitHostPort(h); err == nil {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return nil, "", activitylog.Invalid("port", port, "must be a number between 1 and 65535")
			}
		} else if strings.Count(h, ":") == 1 { // host: with no port
			return nil, "", activitylog.Invalid("port", "", "must be a number between 1 and 65535")
		}
	}
	db := strings.TrimPrefix(u.Path, "/")
	if v := u.Query().Get("database"); v != "" {
		db = v
	}
	if db == "" {
		db = "default"
	}
	if !identifier.MatchString(db) {
		return nil, "", activitylog.Invalid("database", db, "must be letters, digits and _, at most 63, not starting with a digit")
	}
	q := u.Query()
	for _, p := range durationParams {
		if v := q.Get(p); q.Has(p) {
			if d, err := time.ParseDuration(v); err != nil || d < 0 {
				return nil, "", activitylog.Invalid(p, v, "must be a duration, like 10s")
			}
		}
	}
	for _, p := range intParams {
		if v := q.Get(p); q.Has(p) {
			if n, err := strconv.Atoi(v); err != nil || n < 0 || p == "block_buffer_size" && (n < 1 || n > 255) {
				return nil, "", activitylog.Invalid(p, v, "must be a whole number, not negative")
			}
		}
	}
	for _, p := range boolParams {
		if v := q.Get(p); q.Has(p) && v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return nil, "", activitylog.Invalid(p, v, "must be true or false")
			}
		}
	}
	if v := q.Get("compress"); q.Has("compress") && !slices.Contains(compressions, v) {
		return nil, "", activitylog.Invalid("compress", v, "must be one of "+strings.Join(compressions, ", "))
	}
	co, err := ch.ParseDSN(dsn)
	if err != nil {
		return nil, "", activitylog.Invalid("dsn", redact(dsn), err.Error())
	}
	if co.Protocol != ch.Native {
		return nil, "", activitylog.Invalid("scheme", u.Scheme, "must be clickhouse (the native protocol)")
	}
	return co, db, nil
}

// redact returns dsn with its password replaced, for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		if i := strings.LastIndex(dsn, "@"); i >= 0 {
			return "…" + dsn[i:]
		}
		return dsn
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
