package mysql

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/urlsecret"
	driver "github.com/go-sql-driver/mysql"
)

// Options configures a Store. The zero value, or a nil *Options, means
// the defaults written beside each field.
type Options struct {
	// MaxConns bounds the connections the store opens to the server,
	// for writes and reads together; as many stay open while idle.
	// Default: 10.
	MaxConns int
	// ConnMaxLifetime closes a connection this long after it was
	// opened, so that a server or proxy that drops old connections
	// never hands the store a dead one. Default: 30 minutes; negative:
	// never.
	ConnMaxLifetime time.Duration
	// DialTimeout bounds how long Open and every new connection wait
	// for the server to accept. Default: 10s, or the DSN's timeout
	// parameter when it has one.
	DialTimeout time.Duration
	// BatchBytes bounds the size of one INSERT statement a Write sends;
	// a larger batch is sent as several statements in one transaction.
	// It is capped below the server's max_allowed_packet, read on Open.
	// Default: 4 MiB.
	BatchBytes int
	// SkipMigrate leaves the schema alone on Open, for callers that
	// want to run Migrate themselves and report what it applied.
	// Default: false, Open migrates.
	SkipMigrate bool
	// Inserts sends every batch as multi-row INSERT statements instead
	// of LOAD DATA LOCAL INFILE, which costs the server more CPU an
	// event. Open chooses INSERTs by itself when the server's
	// local_infile is off, and a Write that the server (or a proxy)
	// refuses LOAD DATA LOCAL switches the store to INSERTs for good.
	// Default: false.
	Inserts bool
	// ReadOnly opens the store for reading only, as a user with no
	// privilege but SELECT (an auditor's) can: Open migrates nothing,
	// refuses a database that is not at this version's last migration,
	// and every connection's transactions are read only (the session's
	// transaction_read_only, tx_read_only on older servers), so the
	// server refuses any write. For verify and export. Default: false.
	ReadOnly bool
}

func (o *Options) withDefaults() (Options, error) {
	var v Options
	if o != nil {
		v = *o
	}
	switch {
	case v.MaxConns < 0:
		return v, activitylog.Invalid("max_conns", strconv.Itoa(v.MaxConns), "must not be negative")
	case v.MaxConns == 0:
		v.MaxConns = 10
	}
	if v.ConnMaxLifetime == 0 {
		v.ConnMaxLifetime = 30 * time.Minute
	}
	if v.DialTimeout < 0 {
		return v, activitylog.Invalid("dial_timeout", v.DialTimeout.String(), "must not be negative")
	}
	switch {
	case v.BatchBytes < 0:
		return v, activitylog.Invalid("batch_bytes", strconv.Itoa(v.BatchBytes), "must not be negative")
	case v.BatchBytes == 0:
		v.BatchBytes = 4 << 20
	case v.BatchBytes < 64<<10:
		return v, activitylog.Invalid("batch_bytes", strconv.Itoa(v.BatchBytes), "must be at least 65536")
	}
	return v, nil
}

// Store is an activitylog.Store in one MySQL or MariaDB database. It is
// safe for concurrent use: every call takes a connection from a pool,
// and each Write is one transaction.
type Store struct {
	db        *sql.DB
	dbName    string
	addr      string // the server's address, for messages
	closed    atomic.Bool
	maxBytes  int         // the largest INSERT statement Write sends
	maxPacket int         // the largest statement the server takes
	inserts   atomic.Bool // send INSERTs, not LOAD DATA LOCAL INFILE (load.go)

	// The connections of held locks (lock.go): a pool of their own on
	// the same connector, so that a held lock takes none of MaxConns.
	connector sqldriver.Connector
	locksOnce sync.Once
	locks     *sql.DB
}

var (
	_ activitylog.Store    = (*Store)(nil)
	_ activitylog.Resolver = (*Store)(nil)
)

// sqlMode is the session's sql_mode, set on every connection: strict,
// so that a value that does not fit is an error and never a warning
// and a silent truncation; without NO_BACKSLASH_ESCAPES, as Write's
// string literals escape with backslashes; without ONLY_FULL_GROUP_BY
// and ANSI_QUOTES, which the analytics' statements do not need.
const sqlMode = "'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,NO_ZERO_IN_DATE'"

// Open connects to the database that dsn names and applies the
// migrations it lacks (unless Options.SkipMigrate). dsn is either a
// URL, mysql://user:password@host:port/database?param=value, or the
// driver's own form, user:password@tcp(host:port)/database?param=value
// (github.com/go-sql-driver/mysql); parameters are the driver's, in
// both forms. The database must exist. opts may be nil.
//
// Open sets what the store relies on, whatever the DSN says: the
// utf8mb4 character set, parseTime off (times are stored as Unix
// nanoseconds), client-side interpolation of arguments (one round
// trip a statement, no prepared statements) and a strict sql_mode. A
// DSN or option that cannot be used is an error wrapping
// activitylog.ErrInvalid that names it (dsn, max_conns, …); a server
// that cannot be reached, one wrapping activitylog.ErrUnavailable.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	if err := refuseUnsafe(cfg, dsn); err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	// Whatever the DSN said (refused above), the server may not read a
	// file of this host (LOAD DATA LOCAL INFILE answered with any path
	// the server names), nor be sent the password in the clear or
	// hashed the pre-4.1 way.
	cfg.AllowAllFiles = false
	cfg.AllowCleartextPasswords = false
	cfg.AllowOldPasswords = false
	cfg.ParseTime = false
	cfg.InterpolateParams = true
	cfg.Collation = "utf8mb4_general_ci" // the connection's; every column compares bytes
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	if o.DialTimeout > 0 {
		cfg.Timeout = o.DialTimeout
	} else if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["sql_mode"] = sqlMode
	cfg.Params["max_error_count"] = strconv.Itoa(loadWarnings) // load.go reads every warning of a load
	var connector sqldriver.Connector
	openDB := func() (*sql.DB, error) {
		conn, err := driver.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("open mysql: %w", activitylog.Invalid("dsn", redact(dsn), err.Error()))
		}
		connector = conn
		db := sql.OpenDB(conn)
		db.SetMaxOpenConns(o.MaxConns)
		db.SetMaxIdleConns(o.MaxConns)
		if o.ConnMaxLifetime > 0 {
			db.SetConnMaxLifetime(o.ConnMaxLifetime)
		}
		return db, nil
	}
	db, err := openDB()
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, dbName: cfg.DBName, addr: cfg.Addr, connector: connector}
	var packet int64
	if err := db.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&packet); err != nil {
		db.Close()
		var me *driver.MySQLError
		if errors.As(err, &me) {
			switch me.Number {
			case 1049: // ER_BAD_DB_ERROR
				err = activitylog.Invalid("dsn", redact(dsn), "names the database "+cfg.DBName+", which the server does not have")
			case 1044, 1045: // ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR
				err = activitylog.Invalid("dsn", redact(dsn), "was refused by the server: "+me.Message)
			}
		}
		if !errors.Is(err, activitylog.ErrInvalid) {
			err = unavailable(ctx, err)
		}
		return nil, fmt.Errorf("open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	if cfg.MaxAllowedPacket > 0 { // the driver's own limit (DSN maxAllowedPacket); 0 means the server's
		packet = min(packet, int64(cfg.MaxAllowedPacket))
	}
	if packet < 128<<10 {
		db.Close()
		return nil, fmt.Errorf("open mysql %s/%s: %w", cfg.Addr, cfg.DBName,
			activitylog.Invalid("max_allowed_packet", strconv.FormatInt(packet, 10), "must be at least 131072 (the server's and the DSN's maxAllowedPacket)"))
	}
	var localInfile sql.NullInt64
	if o.Inserts || db.QueryRowContext(ctx, "SELECT @@local_infile").Scan(&localInfile) != nil || localInfile.Int64 != 1 {
		s.inserts.Store(true)
	}
	// Leave room for the packet header and the statement's own text.
	s.maxBytes = int(min(int64(o.BatchBytes), packet-(64<<10)))
	s.maxPacket = int(min(packet-1024, 1<<30))
	if o.ReadOnly {
		// Every connection's session read only, by the variable's name
		// on this server, then the schema checked.
		name := "transaction_read_only"
		var v sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT @@transaction_read_only").Scan(&v); err != nil {
			name = "tx_read_only" // MariaDB before 11.1
		}
		db.Close()
		cfg.Params[name] = "1"
		if s.db, err = openDB(); err != nil {
			return nil, err
		}
		s.connector = connector
		if err := s.checkSchema(ctx); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
		}
		return s, nil
	}
	if !o.SkipMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
		}
	}
	return s, nil
}

// refuseUnsafe refuses the DSN parameters that hand the server more
// than a database connection: allowAllFiles lets the server read any
// file of this host through LOAD DATA LOCAL INFILE;
// allowCleartextPasswords and allowOldPasswords let it have the
// password in the clear or nearly so. A server picked by whoever may
// write a database config must get none of these.
func refuseUnsafe(cfg *driver.Config, dsn string) error {
	for _, p := range [...]struct {
		name   string
		on     bool
		reason string
	}{
		{"allowAllFiles", cfg.AllowAllFiles, "is refused: it lets the server read any file of this host (LOAD DATA LOCAL INFILE)"},
		{"allowCleartextPasswords", cfg.AllowCleartextPasswords, "is refused: it sends the password to the server in the clear"},
		{"allowOldPasswords", cfg.AllowOldPasswords, "is refused: the pre-4.1 password hash is broken"},
	} {
		if p.on {
			return activitylog.Invalid(p.name, "true", p.reason+" (in "+redact(dsn)+")")
		}
	}
	// Open sets sql_mode and max_error_count on every connection by
	// these names, replacing the DSN's. The driver sets its parameters
	// in no fixed order, so another spelling of either (SQL_MODE,
	// @@session.max_error_count) would win on some connections: one
	// that is not strict, or one that hides the warnings of a load
	// (load.go), so that a row cut or skipped is stored all the same.
	for name, v := range cfg.Params {
		if own := sessionVariable(name); (own == "sql_mode" || own == "max_error_count") && name != own {
			return activitylog.Invalid(name, v, "is refused: the store sets "+own+" itself (in "+redact(dsn)+")")
		}
	}
	return nil
}

// sessionVariable returns the system variable that a DSN parameter
// name sets: lowered, without quotes, spaces, @@ and a session. or
// local. scope.
func sessionVariable(name string) string {
	name = strings.ToLower(strings.Map(func(r rune) rune {
		if strings.ContainsRune("`@ \t\n\r", r) {
			return -1
		}
		return r
	}, name))
	for _, scope := range [...]string{"session.", "local."} {
		name = strings.TrimPrefix(name, scope)
	}
	return name
}

// parseDSN reads either form of DSN into the driver's Config.
func parseDSN(dsn string) (*driver.Config, error) {
	if dsn == "" {
		return nil, activitylog.Invalid("dsn", "", "is required: mysql://user:password@host:3306/database or user:password@tcp(host:3306)/database")
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok && !strings.ContainsAny(scheme, "@/(") {
		if scheme != "mysql" && scheme != "mariadb" {
			return nil, activitylog.Invalid("dsn", redact(dsn), "has the scheme "+scheme+", want mysql://")
		}
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, activitylog.Invalid("dsn", redact(dsn), "is not a URL: "+unwrapURL(err))
		}
		if u.Host == "" {
			return nil, activitylog.Invalid("dsn", redact(dsn), "has no host")
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "3306")
		}
		db := strings.TrimPrefix(u.Path, "/")
		if strings.Contains(db, "/") {
			return nil, activitylog.Invalid("dsn", redact(dsn), "has a path of more than a database name")
		}
		// The driver's parser reads the parameters; user and password
		// are set after, as they may hold any character.
		cfg, err := driver.ParseDSN("tcp(" + host + ")/" + url.PathEscape(db) + "?" + u.RawQuery)
		if err != nil {
			return nil, activitylog.Invalid("dsn", redact(dsn), err.Error())
		}
		if u.User != nil {
			cfg.User = u.User.Username()
			cfg.Passwd, _ = u.User.Password()
		}
		if cfg.DBName == "" {
			return nil, activitylog.Invalid("dsn", redact(dsn), "names no database: mysql://user:password@host:3306/database")
		}
		return cfg, nil
	}
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, activitylog.Invalid("dsn", redact(dsn), err.Error())
	}
	if cfg.DBName == "" {
		return nil, activitylog.Invalid("dsn", redact(dsn), "names no database: user:password@tcp(host:3306)/database")
	}
	return cfg, nil
}

func unwrapURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// redact returns dsn with its password replaced by "xxxxx", for
// messages.
func redact(dsn string) string {
	if strings.HasPrefix(dsn, "mysql://") || strings.HasPrefix(dsn, "mariadb://") {
		if u, err := url.Parse(dsn); err == nil {
			if urlsecret.StrayAt(u) {
				// A password with an unescaped '/', '?' or '#' ended
				// the authority early: the rest of it is in there.
				return u.Scheme + "://REDACTED"
			}
			if q := u.Query(); q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
			}
			u.Fragment, u.RawFragment = "", ""
			return u.Redacted()
		}
		// Unparsable: cut what could be a password.
		if i := strings.LastIndexByte(dsn, '@'); i >= 0 {
			return dsn[:strings.Index(dsn, "://")+3] + "xxxxx" + dsn[i:]
		}
		return dsn
	}
	at := strings.LastIndexByte(dsn, '@')
	if slash := strings.LastIndexByte(dsn, '/'); at < 0 || slash >= 0 && at > slash {
		return dsn
	}
	if c := strings.IndexByte(dsn[:at], ':'); c >= 0 {
		return dsn[:c+1] + "xxxxx" + dsn[at:]
	}
	return dsn
}

// Database returns the name of the database the store uses.
func (s *Store) Database() string { return s.dbName }

// DB returns the store's connection pool, for callers that run their
// own statements against the same database (a health check, a report).
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the connection pool, after the statements in progress
// have finished. Every method called after Close fails with an error
// that wraps activitylog.ErrUnavailable; a second Close does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	// A lock still held keeps its connection (and the lock) until its
	// Release: closing the locks' pool closes only its idle ones.
	s.locksOnce.Do(func() {}) // no pool made after Close
	if s.locks != nil {
		s.locks.Close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close mysql: %w", err)
	}
	return nil
}

// Ping checks that the server answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("ping mysql: %w", errClosed)
	}
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping mysql: %w", unavailable(ctx, err))
	}
	return nil
}

// errClosed is returned by every method after Close.
var errClosed = fmt.Errorf("store closed: %w", activitylog.ErrUnavailable)

// unavailable classifies a database error: the context's error when it
// ended, else err wrapped in activitylog.ErrUnavailable, since what
// fails in a statement this package wrote itself is the server (down,
// out of connections, out of disk, a lock wait that timed out), not the
// caller's input.
func unavailable(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, activitylog.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", activitylog.ErrUnavailable, err)
}

// retryable reports whether a transaction that failed with err may be
// run again as it is: a deadlock, which InnoDB resolves by rolling back
// one of the transactions, or a lost connection before anything was
// committed.
func retryable(err error) bool {
	var me *driver.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205 // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
	}
	return errors.Is(err, syscall.ECONNRESET)
}
