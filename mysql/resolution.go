package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
)

// insertResolution adds a resolution when, and only when, its event
// exists: one statement, so no event can appear or vanish in between.
const insertResolution = `INSERT INTO resolutions (event_id, resolved_by, resolved_at, note)
	SELECT ?, ?, ?, ? FROM DUAL WHERE EXISTS (SELECT 1 FROM events WHERE id = ?)`

// selectResolution reads an event's last resolution: no row when there
// is no such event, a row of NULLs when the event has no resolution.
// One statement, so one snapshot.
const selectResolution = `SELECT r.resolved_by, r.resolved_at, r.note
	FROM events e LEFT JOIN resolutions r ON r.event_id = e.id
	WHERE e.id = ? ORDER BY r.seq DESC LIMIT 1`

// Resolve stores r as the event's latest resolution, in the resolutions
// table (migrations/0002_resolutions.sql); the event's own row is not
// touched. A zero ResolvedAt becomes the current time. The event must
// exist: the insert and the check are one statement, so a Resolve never
// stores a resolution of an unknown event. It fails with an error
// wrapping activitylog.ErrNotFound when there is no such event, an
// *activitylog.FieldError when r fails Validate, and otherwise with
// activitylog.ErrUnavailable or the context's error.
func (s *Store) Resolve(ctx context.Context, r activitylog.Resolution) error {
	if r.ResolvedAt.IsZero() {
		r.ResolvedAt = time.Now()
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("resolve event %s: %w", r.EventID, errClosed)
	}
	var (
		res sql.Result
		err error
	)
	for attempt := 0; ; attempt++ {
		res, err = s.db.ExecContext(ctx, insertResolution, r.EventID[:], []byte(r.ResolvedBy), r.ResolvedAt.UnixNano(),
			[]byte(r.Note), r.EventID[:])
		if err == nil || attempt == 2 || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, unavailable(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, unavailable(ctx, err))
	}
	if n == 0 {
		return fmt.Errorf("resolve event %s: %w", r.EventID, activitylog.ErrNotFound)
	}
	return nil
}

// Resolution returns the last resolution stored for the event with id.
// Its error wraps activitylog.ErrNotFound when there is no such event,
// and also activitylog.ErrNotResolved when the event exists but has no
// resolution.
func (s *Store) Resolution(ctx context.Context, id activitylog.ID) (activitylog.Resolution, error) {
	if s.closed.Load() {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, errClosed)
	}
	var (
		by, note []byte
		ns       sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, selectResolution, id[:]).Scan(&by, &ns, &note)
	if errors.Is(err, sql.ErrNoRows) {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, activitylog.ErrNotFound)
	}
	if err != nil {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, unavailable(ctx, err))
	}
	if !ns.Valid {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, activitylog.ErrNotResolved)
	}
	r := activitylog.Resolution{EventID: id, ResolvedBy: string(by), Note: string(note)}
	r.ResolvedAt = time.Unix(0, ns.Int64).UTC()
	return r, nil
}
