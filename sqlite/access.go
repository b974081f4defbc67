package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access/credential"
)

// Credentials keeps the users, API keys and sessions of package access
// in the store's database (migrations/0005_access.sql), through the
// store's own connections: writes on its one writer, reads on its read
// pool. It is safe for concurrent use, and fails as the store does once
// the store is closed.
type Credentials struct {
	s *Store
}

var _ credential.Store = (*Credentials)(nil)

// Credentials returns the store's credentials, for access.New.
func (s *Store) Credentials() *Credentials { return &Credentials{s: s} }

// nanos returns t as stored: unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func joinPermissions(ps []activitylog.Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

func splitPermissions(s string) []activitylog.Permission {
	if s == "" {
		return []activitylog.Permission{}
	}
	parts := strings.Split(s, ",")
	out := make([]activitylog.Permission, len(parts))
	for i, p := range parts {
		out[i] = activitylog.Permission(p)
	}
	return out
}

func (c *Credentials) check(op string) error {
	if c.s.closed.Load() {
		return fmt.Errorf("%s: %w", op, errClosed)
	}
	return nil
}

// poke tells the background checkpointer that something was written.
func (c *Credentials) poke() {
	if c.s.ckpt != nil {
		c.s.ckpt.poke()
	}
}

// exists reports whether query, run in tx with args, finds a row.
func exists(ctx context.Context, tx *sql.Tx, query string, args ...any) (bool, error) {
	var n int
	if err := tx.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return false, unavailable(ctx, err)
	}
	return n > 0, nil
}

const userColumns = `id, username, tenant, permissions, password_hash, created_at, disabled`

// CreateUser stores u. A username taken already (in any ASCII case), or
// an id, is an *activitylog.FieldError.
func (c *Credentials) CreateUser(ctx context.Context, u credential.User) error {
	const op = "create user"
	if err := c.check(op); err != nil {
		return err
	}
	tx, err := c.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer tx.Rollback()
	if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM users WHERE username = ?`, u.Username); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	} else if taken {
		return fmt.Errorf("%s: %w", op, activitylog.Invalid("username", u.Username, "is taken"))
	}
	if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM users WHERE id = ?`, u.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	} else if taken {
		return fmt.Errorf("%s: %w", op, activitylog.Invalid("id", u.ID, "is taken"))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.Tenant, joinPermissions(u.Permissions), u.PasswordHash, nanos(u.CreatedAt), u.Disabled); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return nil
}

func scanUser(row interface{ Scan(...any) error }) (credential.User, error) {
	var (
		u       credential.User
		perms   string
		created int64
	)
	err := row.Scan(&u.ID, &u.Username, &u.Tenant, &perms, &u.PasswordHash, &created, &u.Disabled)
	u.Permissions = splitPermissions(perms)
	u.CreatedAt = fromNanos(created)
	return u, err
}

func (c *Credentials) user(ctx context.Context, op, where string, arg any) (credential.User, error) {
	if err := c.check(op); err != nil {
		return credential.User{}, err
	}
	u, err := scanUser(c.s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return credential.User{}, fmt.Errorf("%s: %w", op, activitylog.ErrNotFound)
	}
	if err != nil {
		return credential.User{}, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return u, nil
}

// UserByName returns the user with that username, in any ASCII case.
func (c *Credentials) UserByName(ctx context.Context, username string) (credential.User, error) {
	return c.user(ctx, "read user", "username = ?", username)
}

// UserByID returns the user with that id.
func (c *Credentials) UserByID(ctx context.Context, id string) (credential.User, error) {
	return c.user(ctx, "read user", "id = ?", id)
}

// ListUsers returns every user, oldest first.
func (c *Credentials) ListUsers(ctx context.Context) ([]credential.User, error) {
	const op = "list users"
	if err := c.check(op); err != nil {
		return nil, err
	}
	rows, err := c.s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer rows.Close()
	out := []credential.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return out, nil
}

// SetUserPermissions replaces the user's permissions.
func (c *Credentials) SetUserPermissions(ctx context.Context, username string, perms []activitylog.Permission) error {
	const op = "set user permissions"
	if err := c.check(op); err != nil {
		return err
	}
	r, err := c.s.w.ExecContext(ctx, `UPDATE users SET permissions = ? WHERE username = ?`, joinPermissions(perms), username)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if n, err := r.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	} else if n == 0 {
		return fmt.Errorf("%s %s: %w", op, username, activitylog.ErrNotFound)
	}
	c.poke()
	return nil
}

// SetUserDisabled disables or enables the user; disabling deletes its
// sessions in the same transaction.
func (c *Credentials) SetUserDisabled(ctx context.Context, username string, disabled bool) error {
	const op = "disable user"
	if err := c.check(op); err != nil {
		return err
	}
	tx, err := c.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer tx.Rollback()
	var id string
	err = tx.QueryRowContext(ctx, `UPDATE users SET disabled = ? WHERE username = ? RETURNING id`, disabled, username).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", op, username, activitylog.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if disabled {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return nil
}

const keyColumns = `id, name, tenant, scopes, secret_hash, created_at, created_by, expires_at, revoked_at, last_used_at`

func insertKey(ctx context.Context, tx *sql.Tx, k credential.APIKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Tenant, joinPermissions(k.Scopes), k.Hash, nanos(k.CreatedAt), k.CreatedBy,
		nanos(k.ExpiresAt), nanos(k.RevokedAt), nanos(k.LastUsedAt))
	if err != nil {
		return unavailable(ctx, err)
	}
	return nil
}

// CreateAPIKey stores k. An id taken already is an
// *activitylog.FieldError.
func (c *Credentials) CreateAPIKey(ctx context.Context, k credential.APIKey) error {
	const op = "create api key"
	if err := c.check(op); err != nil {
		return err
	}
	tx, err := c.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer tx.Rollback()
	if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM api_keys WHERE id = ?`, k.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	} else if taken {
		return fmt.Errorf("%s: %w", op, activitylog.Invalid("id", k.ID, "is taken"))
	}
	if err := insertKey(ctx, tx, k); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return nil
}

// CreateFirstAPIKey stores k when there is no user and no key at all.
// The check and the insert are one write transaction (BEGIN
// IMMEDIATE), so two processes starting on one new file make one key
// between them.
func (c *Credentials) CreateFirstAPIKey(ctx context.Context, k credential.APIKey) (bool, error) {
	const op = "create first api key"
	if err := c.check(op); err != nil {
		return false, err
	}
	tx, err := c.s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer tx.Rollback()
	found, err := exists(ctx, tx, `SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM api_keys)`)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	if found {
		return false, nil
	}
	if err := insertKey(ctx, tx, k); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return true, nil
}

func scanKey(row interface{ Scan(...any) error }) (credential.APIKey, error) {
	var (
		k                                  credential.APIKey
		scopes                             string
		created, expires, revoked, lastUse int64
	)
	err := row.Scan(&k.ID, &k.Name, &k.Tenant, &scopes, &k.Hash, &created, &k.CreatedBy, &expires, &revoked, &lastUse)
	k.Scopes = splitPermissions(scopes)
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked), fromNanos(lastUse)
	return k, err
}

// APIKey returns the key with that id.
func (c *Credentials) APIKey(ctx context.Context, id string) (credential.APIKey, error) {
	const op = "read api key"
	if err := c.check(op); err != nil {
		return credential.APIKey{}, err
	}
	k, err := scanKey(c.s.r.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return credential.APIKey{}, fmt.Errorf("%s %s: %w", op, id, activitylog.ErrNotFound)
	}
	if err != nil {
		return credential.APIKey{}, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (c *Credentials) ListAPIKeys(ctx context.Context) ([]credential.APIKey, error) {
	const op = "list api keys"
	if err := c.check(op); err != nil {
		return nil, err
	}
	rows, err := c.s.r.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	defer rows.Close()
	out := []credential.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	return out, nil
}

// RevokeAPIKey marks the key revoked at at, unless it is already.
func (c *Credentials) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	const op = "revoke api key"
	if err := c.check(op); err != nil {
		return err
	}
	var revoked int64
	err := c.s.w.QueryRowContext(ctx,
		`UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ? RETURNING revoked_at`,
		nanos(at), id).Scan(&revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", op, id, activitylog.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return nil
}

// TouchAPIKey sets the key's last_used_at.
func (c *Credentials) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	const op = "touch api key"
	if err := c.check(op); err != nil {
		return err
	}
	if _, err := c.s.w.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, nanos(at), id); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return nil
}

// CreateSession stores s.
func (c *Credentials) CreateSession(ctx context.Context, s credential.Session) error {
	const op = "create session"
	if err := c.check(op); err != nil {
		return err
	}
	if _, err := c.s.w.ExecContext(ctx,
		`INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		s.Hash, s.UserID, nanos(s.CreatedAt), nanos(s.LastSeenAt), nanos(s.ExpiresAt)); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return nil
}

// Session returns the session whose token hashes to hash.
func (c *Credentials) Session(ctx context.Context, hash []byte) (credential.Session, error) {
	const op = "read session"
	if err := c.check(op); err != nil {
		return credential.Session{}, err
	}
	s := credential.Session{}
	var created, seen, expires int64
	err := c.s.r.QueryRowContext(ctx,
		`SELECT token_hash, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE token_hash = ?`, hash).
		Scan(&s.Hash, &s.UserID, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return credential.Session{}, fmt.Errorf("%s: %w", op, activitylog.ErrNotFound)
	}
	if err != nil {
		return credential.Session{}, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromNanos(created), fromNanos(seen), fromNanos(expires)
	return s, nil
}

// TouchSession sets the session's last_seen_at.
func (c *Credentials) TouchSession(ctx context.Context, hash []byte, at time.Time) error {
	const op = "touch session"
	if err := c.check(op); err != nil {
		return err
	}
	if _, err := c.s.w.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?`, nanos(at), hash); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return nil
}

// DeleteSession deletes the session.
func (c *Credentials) DeleteSession(ctx context.Context, hash []byte) error {
	const op = "delete session"
	if err := c.check(op); err != nil {
		return err
	}
	if _, err := c.s.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, hash); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	c.poke()
	return nil
}

// DeleteSessions deletes the sessions that ended.
func (c *Credentials) DeleteSessions(ctx context.Context, now, seenBefore time.Time) (int64, error) {
	const op = "delete ended sessions"
	if err := c.check(op); err != nil {
		return 0, err
	}
	res, err := c.s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?`, nanos(now), nanos(seenBefore))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, unavailable(ctx, err))
	}
	if n > 0 {
		c.poke()
	}
	return n, nil
}
