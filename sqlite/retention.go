package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/retention"
)

// RetentionPolicies keeps the retention policies of package retention in
// the store's database (migrations/0010_retention_policies.sql), through
// the store's own connections. It is safe for concurrent use.
type RetentionPolicies struct {
	s *Store
}

var _ retention.Repository = (*RetentionPolicies)(nil)

// RetentionPolicies returns the store's retention policies, for
// retention.NewRunner and retentionhttp.New.
func (s *Store) RetentionPolicies() *RetentionPolicies { return &RetentionPolicies{s: s} }

func (rp *RetentionPolicies) check(op string) error {
	if rp.s.closed.Load() {
		return fmt.Errorf("%s: %w", op, errClosed)
	}
	return nil
}

const retentionColumns = `id, name, kind, retain_days, active, tenant, all_tenants, archive, last_run, records_deleted, last_error, created_at, updated_at`

func scanPolicy(row interface{ Scan(...any) error }) (retention.Policy, error) {
	var (
		p                         retention.Policy
		lastRun, created, updated int64
	)
	err := row.Scan(&p.ID, &p.Name, &p.Kind, &p.RetainDays, &p.Active, &p.Tenant, &p.AllTenants, &p.Archive,
		&lastRun, &p.RecordsDeleted, &p.LastError, &created, &updated)
	p.LastRun, p.CreatedAt, p.UpdatedAt = fromNanos(lastRun), fromNanos(created), fromNanos(updated)
	return p, err
}

// List returns every policy: those for every tenant first, then by
// tenant, kind and name.
func (rp *RetentionPolicies) List(ctx context.Context) ([]retention.Policy, error) {
	const op = "list retention policies"
	if err := rp.check(op); err != nil {
		return nil, err
	}
	rows, err := rp.s.r.QueryContext(ctx, `SELECT `+retentionColumns+` FROM retention_policies ORDER BY all_tenants DESC, tenant, kind, name, id`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer rows.Close()
	out := []retention.Policy{}
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return out, nil
}

// Get returns the policy with that id.
func (rp *RetentionPolicies) Get(ctx context.Context, id string) (retention.Policy, error) {
	const op = "read retention policy"
	if err := rp.check(op); err != nil {
		return retention.Policy{}, err
	}
	p, err := scanPolicy(rp.s.r.QueryRowContext(ctx, `SELECT `+retentionColumns+` FROM retention_policies WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return retention.Policy{}, fmt.Errorf("%s %s: %w", op, id, activitylog.ErrNotFound)
	}
	if err != nil {
		return retention.Policy{}, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return p, nil
}

// policyConflicts refuses, in tx, a name another policy has and a
// second active policy of p's kind and tenants.
func policyConflicts(ctx context.Context, tx *sql.Tx, p *retention.Policy) error {
	var other string
	err := tx.QueryRowContext(ctx, `SELECT name FROM retention_policies WHERE name = ? AND id <> ?`, p.Name, p.ID).Scan(&other)
	switch {
	case err == nil:
		return &retention.ConflictError{Field: "name", Value: p.Name, Reason: "is taken by another policy"}
	case !errors.Is(err, sql.ErrNoRows):
		return unavailable(ctx, err)
	}
	if !p.Active {
		return nil
	}
	err = tx.QueryRowContext(ctx, `SELECT name FROM retention_policies WHERE kind = ? AND tenant = ? AND all_tenants = ? AND active = 1 AND id <> ?`,
		p.Kind, p.Tenant, p.AllTenants, p.ID).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return unavailable(ctx, err)
	}
	return &retention.ConflictError{Field: "kind", Value: p.Kind,
		Reason: "policy " + strconv.Quote(other) + " covers it for " + p.TenantText() + " already; at most one active policy per kind and tenant"}
}

// Create stores p, which must have its ID set. Zero times are set to
// now; the run fields start empty.
func (rp *RetentionPolicies) Create(ctx context.Context, p retention.Policy) error {
	const op = "create retention policy"
	if err := rp.check(op); err != nil {
		return err
	}
	if p.ID == "" {
		return fmt.Errorf("%s: %w", op, activitylog.Invalid("id", "", "is required (retention.NewID)"))
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	now := time.Now()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	tx, err := rp.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer tx.Rollback()
	if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM retention_policies WHERE id = ?`, p.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	} else if taken {
		return fmt.Errorf("%s: %w", op, activitylog.Invalid("id", p.ID, "is taken"))
	}
	if err := policyConflicts(ctx, tx, &p); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO retention_policies (`+retentionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '', ?, ?)`,
		p.ID, p.Name, p.Kind, p.RetainDays, p.Active, p.Tenant, p.AllTenants, p.Archive, nanos(p.CreatedAt), nanos(p.UpdatedAt)); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	rp.poke()
	return nil
}

// Update replaces the definition of the policy with p's ID, keeping its
// CreatedAt and run fields; a zero UpdatedAt is set to now.
func (rp *RetentionPolicies) Update(ctx context.Context, p retention.Policy) error {
	const op = "update retention policy"
	if err := rp.check(op); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now()
	}
	tx, err := rp.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer tx.Rollback()
	if err := policyConflicts(ctx, tx, &p); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE retention_policies SET name = ?, kind = ?, retain_days = ?, active = ?, tenant = ?,
		all_tenants = ?, archive = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.Kind, p.RetainDays, p.Active, p.Tenant, p.AllTenants, p.Archive, nanos(p.UpdatedAt), p.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	} else if n == 0 {
		return fmt.Errorf("%s %s: %w", op, p.ID, activitylog.ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	rp.poke()
	return nil
}

// Delete deletes the policy with that id.
func (rp *RetentionPolicies) Delete(ctx context.Context, id string) error {
	return rp.exec(ctx, "delete retention policy", id, `DELETE FROM retention_policies WHERE id = ?`, id)
}

// maxLastError bounds the stored text of a run's error.
const maxLastError = 1024

// RecordRun records a run of the policy that started at at.
func (rp *RetentionPolicies) RecordRun(ctx context.Context, id string, at time.Time, deleted int64, runErr error) error {
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
		if len(msg) > maxLastError {
			i := maxLastError
			for i > 0 && !utf8.RuneStart(msg[i]) {
				i--
			}
			msg = msg[:i]
		}
	}
	return rp.exec(ctx, "record retention run", id,
		`UPDATE retention_policies SET last_run = ?, records_deleted = records_deleted + ?, last_error = ? WHERE id = ?`,
		nanos(at), max(deleted, 0), msg, id)
}

// exec runs a statement that must change one row of id's.
func (rp *RetentionPolicies) exec(ctx context.Context, op, id, query string, args ...any) error {
	if err := rp.check(op); err != nil {
		return err
	}
	res, err := rp.s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	} else if n == 0 {
		return fmt.Errorf("%s %s: %w", op, id, activitylog.ErrNotFound)
	}
	rp.poke()
	return nil
}

func (rp *RetentionPolicies) poke() {
	if rp.s.ckpt != nil {
		rp.s.ckpt.poke()
	}
}
