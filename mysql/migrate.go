package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	sqldriver "database/sql/driver"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog/internal/schemaver"
)

// The migrations are numbered SQL files, applied in order, each once.
// A new one gets the next number; an applied one is never edited.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version    int
	name       string   // the file name, e.g. "0001_init.sql"
	statements []string // the file's statements, without their ';'
}

// loadMigrations reads the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(files))
	for _, f := range files {
		name := path.Base(f)
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("read migration %s: name must start with a positive number and _", name)
		}
		b, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, statements: splitStatements(string(b))})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("read migrations: %s and %s have the same number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// splitStatements splits a migration at the lines that end in ';' (the
// store's connections do not run several statements in one call), and
// drops the comment lines.
func splitStatements(text string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// lockName is the name of the server-wide lock (GET_LOCK) that Migrate
// holds: one per database, at most 64 characters.
func (s *Store) lockName() string {
	name := "activitylog.migrate." + s.dbName
	if len(name) > 64 {
		h := sha256.Sum256([]byte(s.dbName))
		name = "activitylog.migrate." + hex.EncodeToString(h[:16])
	}
	return name
}

// migrateLockWait is how long Migrate waits for another process's
// migration to finish.
const migrateLockWait = 60 * time.Second

// Migrate applies the migrations the database lacks, in order, and
// returns how many it applied. It is idempotent, and safe against other
// processes migrating the same database at the same time: it holds a
// named lock (GET_LOCK) on one connection while it reads what is
// applied and applies the rest, so that concurrent Opens migrate once.
//
// DDL is not transactional in MySQL: each statement commits on its own.
// A migration is recorded in schema_migrations after its last
// statement, so one that stopped half way (the process or the server
// crashed between two statements) is not recorded, and the next
// Migrate runs it again from its first statement. Every migration is
// therefore written to be run again over its own partial work (CREATE
// TABLE IF NOT EXISTS, with its indexes in the same statement); a
// statement that fails leaves the migration unrecorded and Migrate
// returns its error, naming the file.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("migrate schema: %w", errClosed)
	}
	ms, err := loadMigrations()
	if err != nil {
		return 0, fmt.Errorf("migrate schema: %w", err)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate schema: %w", unavailable(ctx, err))
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", s.lockName(), int(migrateLockWait/time.Second)).Scan(&got); err != nil {
		return 0, fmt.Errorf("migrate schema: take lock: %w", unavailable(ctx, err))
	}
	if got.Int64 != 1 {
		return 0, fmt.Errorf("migrate schema: %w", unavailable(ctx,
			fmt.Errorf("another process has held the lock %s for more than %s", s.lockName(), migrateLockWait)))
	}
	defer func() {
		// A fresh context: the lock must go even when ctx has ended. It
		// would also go with the connection.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, rerr := conn.ExecContext(rctx, "DO RELEASE_LOCK(?)", s.lockName()); rerr != nil {
			conn.Raw(func(any) error { return sqldriver.ErrBadConn }) // drop the connection, and the lock with it
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INT          NOT NULL PRIMARY KEY,
		name       VARCHAR(255) NOT NULL,
		applied_at BIGINT       NOT NULL -- unix nanoseconds
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", unavailable(ctx, err))
	}
	done := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return 0, fmt.Errorf("migrate schema: %w", unavailable(ctx, err))
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return 0, fmt.Errorf("migrate schema: %w", unavailable(ctx, err))
		}
		done[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("migrate schema: %w", unavailable(ctx, err))
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		for i, stmt := range m.statements {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return applied, fmt.Errorf("apply migration %s, statement %d: %w", m.name, i+1, unavailable(ctx, err))
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UnixNano()); err != nil {
			return applied, fmt.Errorf("apply migration %s: record it: %w", m.name, unavailable(ctx, err))
		}
		applied++
	}
	return applied, nil
}

// checkSchema refuses, for Options.ReadOnly, a database that is not at
// this version's last migration, naming it.
func (s *Store) checkSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return schemaver.Check("database", s.dbName, v, ms[len(ms)-1].version)
}

// SchemaVersion returns the number of the last migration applied, or 0
// for a database that has none.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("read schema version: %w", errClosed)
	}
	var exists int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", unavailable(ctx, err))
	}
	if exists == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", unavailable(ctx, err))
	}
	return int(v.Int64), nil
}
