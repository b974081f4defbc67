package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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

// migrateLock is the first key of the advisory lock that serializes
// migrations; the second is a hash of the schema's name, so that stores
// in different schemas of one database do not wait for each other.
const migrateLock = 0x616c6f67 // "alog"

// Migrate creates the schema when it does not exist and applies the
// migrations it lacks, in order, and returns how many it applied. It
// runs in one transaction that first takes a transaction-scoped
// advisory lock (pg_advisory_xact_lock) for the schema: replicas that
// open the same schema at once wait for each other, and the second
// finds everything applied. A migration that fails leaves the schema as
// it was.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("migrate schema: %w", errClosed)
	}
	ms, err := loadMigrations()
	if err != nil {
		return 0, fmt.Errorf("migrate schema: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(migrateLock), s.schema); err != nil {
			return unavailable(ctx, err)
		}
		// CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the
		// database even when the schema exists; ask first.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, s.schema).Scan(&exists); err != nil {
			return unavailable(ctx, err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+s.qschema); err != nil {
				return fmt.Errorf("create schema %s: %w", s.schema, unavailable(ctx, err))
			}
		}
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+s.qschema); err != nil {
			return unavailable(ctx, err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text    NOT NULL,
			applied_at bigint  NOT NULL -- unix nanoseconds
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", unavailable(ctx, err))
		}
		done := map[int]bool{}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return unavailable(ctx, err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return unavailable(ctx, err)
			}
			done[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return unavailable(ctx, err)
		}
		for _, m := range ms {
			if done[m.version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, unavailable(ctx, err))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, unavailable(ctx, err))
			}
			applied++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("migrate schema %s: %w", s.schema, err)
	}
	return applied, nil
}

// SchemaVersion returns the number of the last migration applied, or 0
// for a schema that has none.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("read schema version: %w", errClosed)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", unavailable(ctx, err))
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", unavailable(ctx, err))
	}
	return v, nil
}
