package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The migrations are numbered SQL files, applied in order, each once.
// A new one gets the next number; an applied one is never edited.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string // the file name, e.g. "0001_init.sql"
	sql     string
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
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("read migrations: %s and %s have the same number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// Migrate applies the migrations the database lacks, in order, each in
// a transaction of its own together with its row in schema_migrations,
// and returns how many it applied. It is idempotent, and safe against a
// second process migrating the same file at the same time: the
// transaction takes the write lock before it looks at what is applied.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("migrate schema: %w", errClosed)
	}
	ms, err := loadMigrations()
	if err != nil {
		return 0, fmt.Errorf("migrate schema: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL -- unix nanoseconds
	)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", unavailable(ctx, err))
	}
	for _, m := range ms {
		done, err := s.apply(ctx, m)
		if err != nil {
			return applied, fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		if done {
			applied++
		}
	}
	return applied, nil
}

// apply runs m unless it is recorded as applied, and reports whether it
// ran it.
func (s *Store) apply(ctx context.Context, m migration) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dataSource)
	if err != nil {
		return false, unavailable(ctx, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return false, unavailable(ctx, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixNano()); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, unavailable(ctx, err)
	}
	return true, nil
}

// SchemaVersion returns the number of the last migration applied, or 0
// for a database that has none.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("read schema version: %w", errClosed)
	}
	var exists int
	if err := s.r.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", unavailable(ctx, err))
	}
	if exists == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", unavailable(ctx, err))
	}
	return int(v.Int64), nil
}
