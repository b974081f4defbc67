package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
)

// DatabaseConfigs keeps the database configuration records of package
// dbconfig in the store's database (migrations/0009_database_configs.sql),
// through the store's own connections. Passwords are stored only as
// dbconfig.Keyring sealed them: a Config whose Password is set is
// refused. It is safe for concurrent use.
type DatabaseConfigs struct {
	s *Store
}

var _ dbconfig.Repository = (*DatabaseConfigs)(nil)

// DatabaseConfigs returns the store's database configs, for
// dbconfig.NewRouter and dbconfighttp.New.
func (s *Store) DatabaseConfigs() *DatabaseConfigs { return &DatabaseConfigs{s: s} }

func (d *DatabaseConfigs) check(op string) error {
	if d.s.closed.Load() {
		return fmt.Errorf("%s: %w", op, errClosed)
	}
	return nil
}

const dbconfigColumns = `id, name, engine, host, port, database, username, secret, options, route_for, tenant, is_primary, active, read_only, created_at, updated_at`

func scanDBConfig(row interface{ Scan(...any) error }) (dbconfig.Config, error) {
	var (
		c                dbconfig.Config
		engine, opts     string
		created, updated int64
	)
	if err := row.Scan(&c.ID, &c.Name, &engine, &c.Host, &c.Port, &c.Database, &c.User, &c.Secret, &opts,
		&c.RouteFor, &c.Tenant, &c.Primary, &c.Active, &c.ReadOnly, &created, &updated); err != nil {
		return c, err
	}
	c.Engine = dbconfig.Engine(engine)
	c.CreatedAt, c.UpdatedAt = fromNanos(created), fromNanos(updated)
	c.Options = map[string]string{}
	if err := json.Unmarshal([]byte(opts), &c.Options); err != nil {
		return c, fmt.Errorf("decode options of config %s: %w", c.ID, err)
	}
	return c, nil
}

// List returns every config, ordered by tenant, route_for and name.
func (d *DatabaseConfigs) List(ctx context.Context) ([]dbconfig.Config, error) {
	const op = "list database configs"
	if err := d.check(op); err != nil {
		return nil, err
	}
	rows, err := d.s.r.QueryContext(ctx, `SELECT `+dbconfigColumns+` FROM database_configs ORDER BY tenant, route_for, name, id`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer rows.Close()
	out := []dbconfig.Config{}
	for rows.Next() {
		c, err := scanDBConfig(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return out, nil
}

// Get returns the config with that id.
func (d *DatabaseConfigs) Get(ctx context.Context, id string) (dbconfig.Config, error) {
	const op = "read database config"
	if err := d.check(op); err != nil {
		return dbconfig.Config{}, err
	}
	c, err := scanDBConfig(d.s.r.QueryRowContext(ctx, `SELECT `+dbconfigColumns+` FROM database_configs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return dbconfig.Config{}, fmt.Errorf("%s %s: %w", op, id, activitylog.ErrNotFound)
	}
	if err != nil {
		return dbconfig.Config{}, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return c, nil
}

// refuse checks c before it is stored.
func refuseDBConfig(c *dbconfig.Config) error {
	if c.Password != "" {
		return activitylog.Invalid("password", "[REDACTED]", "is stored only sealed: seal it with dbconfig.Keyring.Conceal first")
	}
	if c.ID == "" {
		return activitylog.Invalid("id", "", "is required (dbconfig.NewID)")
	}
	if c.Secret != "" {
		if _, err := dbconfig.SecretKeyID(c.Secret); err != nil {
			return err
		}
	}
	return c.Validate()
}

// conflicts refuses, in tx, a name another config has and a second
// primary for c's tenant and route_for.
func dbconfigConflicts(ctx context.Context, tx *sql.Tx, c *dbconfig.Config) error {
	if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM database_configs WHERE name = ? AND id <> ?`, c.Name, c.ID); err != nil {
		return err
	} else if taken {
		return activitylog.Invalid("name", c.Name, "is taken by another config")
	}
	if !c.Primary {
		return nil
	}
	var other string
	err := tx.QueryRowContext(ctx, `SELECT name FROM database_configs WHERE tenant = ? AND route_for = ? AND is_primary = 1 AND id <> ?`,
		c.Tenant, c.RouteFor, c.ID).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return unavailable(ctx, err)
	}
	return activitylog.Invalid("primary", "true", fmt.Sprintf("config %q is the primary of tenant %q for %s already; at most one per tenant and route_for", other, c.Tenant, c.RouteFor))
}

func encodeOptions(m map[string]string) (string, error) {
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// Create stores c, which must have its ID set and its password sealed.
// A name or id taken, or a second primary for the tenant and
// route_for, is an *activitylog.FieldError. Zero times are set to now.
func (d *DatabaseConfigs) Create(ctx context.Context, c dbconfig.Config) error {
	const op = "create database config"
	if err := d.check(op); err != nil {
		return err
	}
	if err := refuseDBConfig(&c); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	now := time.Now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	opts, err := encodeOptions(c.Options)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	tx, err := d.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer tx.Rollback()
	if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM database_configs WHERE id = ?`, c.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	} else if taken {
		return fmt.Errorf("%s: %w", op, activitylog.Invalid("id", c.ID, "is taken"))
	}
	if err := dbconfigConflicts(ctx, tx, &c); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO database_configs (`+dbconfigColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, string(c.Engine), c.Host, c.Port, c.Database, c.User, c.Secret, opts,
		c.RouteFor, c.Tenant, c.Primary, c.Active, c.ReadOnly, nanos(c.CreatedAt), nanos(c.UpdatedAt)); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	d.poke()
	return nil
}

// Update replaces the config with c's ID by c, keeping its CreatedAt;
// a zero UpdatedAt is set to now.
func (d *DatabaseConfigs) Update(ctx context.Context, c dbconfig.Config) error {
	const op = "update database config"
	if err := d.check(op); err != nil {
		return err
	}
	if err := refuseDBConfig(&c); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now()
	}
	opts, err := encodeOptions(c.Options)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	tx, err := d.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer tx.Rollback()
	if err := dbconfigConflicts(ctx, tx, &c); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE database_configs SET name = ?, engine = ?, host = ?, port = ?, database = ?, username = ?,
		secret = ?, options = ?, route_for = ?, tenant = ?, is_primary = ?, active = ?, read_only = ?, updated_at = ? WHERE id = ?`,
		c.Name, string(c.Engine), c.Host, c.Port, c.Database, c.User, c.Secret, opts,
		c.RouteFor, c.Tenant, c.Primary, c.Active, c.ReadOnly, nanos(c.UpdatedAt), c.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	} else if n == 0 {
		return fmt.Errorf("%s %s: %w", op, c.ID, activitylog.ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	d.poke()
	return nil
}

// Delete deletes the config with that id. Its pending events, if any,
// are dropped by the router's next replay (they stay in the default
// store).
func (d *DatabaseConfigs) Delete(ctx context.Context, id string) error {
	const op = "delete database config"
	return d.exec(ctx, op, id, `DELETE FROM database_configs WHERE id = ?`, id)
}

// SetSecret replaces the config's secret by next if it is still old.
func (d *DatabaseConfigs) SetSecret(ctx context.Context, id, old, next string) error {
	const op = "set database config secret"
	if next != "" {
		if _, err := dbconfig.SecretKeyID(next); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return d.exec(ctx, op, id, `UPDATE database_configs SET secret = ? WHERE id = ? AND secret = ?`, next, id, old)
}

// exec runs a statement that must change one row of id's.
func (d *DatabaseConfigs) exec(ctx context.Context, op, id, query string, args ...any) error {
	if err := d.check(op); err != nil {
		return err
	}
	res, err := d.s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	} else if n == 0 {
		return fmt.Errorf("%s %s: %w", op, id, activitylog.ErrNotFound)
	}
	d.poke()
	return nil
}

func (d *DatabaseConfigs) poke() {
	if d.s.ckpt != nil {
		d.s.ckpt.poke()
	}
}

// PendingEvents keeps the batches that dbconfig.Router wrote to the
// default store in place of a tenant's, until they are replayed
// (migrations/0009_database_configs.sql): each batch is one row, its
// events as a JSON array, committed before Add returns, so that they
// survive a restart. It is safe for concurrent use.
type PendingEvents struct {
	s *Store
}

var _ dbconfig.Pending = (*PendingEvents)(nil)

// PendingEvents returns the store's queue of events to replay, for
// dbconfig.RouterOptions.Pending.
func (s *Store) PendingEvents() *PendingEvents { return &PendingEvents{s: s} }

// Add stores events as one batch for configID.
func (p *PendingEvents) Add(ctx context.Context, configID string, events []activitylog.Event) error {
	const op = "add pending events"
	if p.s.closed.Load() {
		return fmt.Errorf("%s: %w", op, errClosed)
	}
	if len(events) == 0 {
		return nil
	}
	b, err := json.Marshal(events)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, err := p.s.w.ExecContext(ctx, `INSERT INTO database_config_pending (config_id, n_events, events, created_at) VALUES (?, ?, ?, ?)`,
		configID, len(events), b, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if p.s.ckpt != nil {
		p.s.ckpt.poke()
	}
	return nil
}

// Take returns up to limit of configID's batches, oldest first.
func (p *PendingEvents) Take(ctx context.Context, configID string, limit int) ([]dbconfig.PendingBatch, error) {
	const op = "read pending events"
	if p.s.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, errClosed)
	}
	rows, err := p.s.r.QueryContext(ctx, `SELECT seq, events, created_at FROM database_config_pending WHERE config_id = ? ORDER BY seq LIMIT ?`,
		configID, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer rows.Close()
	var out []dbconfig.PendingBatch
	for rows.Next() {
		var (
			b       dbconfig.PendingBatch
			data    []byte
			created int64
		)
		if err := rows.Scan(&b.Seq, &data, &created); err != nil {
			return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
		}
		if err := json.Unmarshal(data, &b.Events); err != nil {
			return nil, fmt.Errorf("%s: decode batch %d: %w", op, b.Seq, err)
		}
		b.ConfigID, b.Created = configID, fromNanos(created)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return out, nil
}

// Done removes the batch seq.
func (p *PendingEvents) Done(ctx context.Context, seq int64) error {
	const op = "remove pending events"
	if p.s.closed.Load() {
		return fmt.Errorf("%s: %w", op, errClosed)
	}
	if _, err := p.s.w.ExecContext(ctx, `DELETE FROM database_config_pending WHERE seq = ?`, seq); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return nil
}

// Counts returns the number of pending events by config id.
func (p *PendingEvents) Counts(ctx context.Context) (map[string]int64, error) {
	const op = "count pending events"
	if p.s.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, errClosed)
	}
	rows, err := p.s.r.QueryContext(ctx, `SELECT config_id, SUM(n_events) FROM database_config_pending GROUP BY config_id`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return out, nil
}
