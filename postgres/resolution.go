package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/jackc/pgx/v5"
)

// insertResolution adds a resolution when, and only when, its event
// exists: one statement, so no event can appear or vanish in between.
const insertResolution = `INSERT INTO resolutions (event_id, resolved_by, resolved_at, note)
	SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM event_ids WHERE id = $1)`

// selectResolution reads an event's last resolution: no row when there
// is no such event, a row of NULLs when the event has no resolution.
// One statement, so one snapshot.
const selectResolution = `SELECT r.resolved_by, r.resolved_at, r.note FROM event_ids e
	LEFT JOIN LATERAL (SELECT resolved_by, resolved_at, note FROM resolutions
		WHERE event_id = e.id ORDER BY seq DESC LIMIT 1) r ON true
	WHERE e.id = $1`

// Resolve stores r as the event's latest resolution, in the resolutions
// table; the event's own row is not touched. A zero ResolvedAt becomes
// the current time. The event must exist: the insert and the check are
// one statement. It fails with an error wrapping
// activitylog.ErrNotFound when there is no such event, an
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
	tag, err := s.pool.Exec(ctx, insertResolution, [16]byte(r.EventID), text(r.ResolvedBy), r.ResolvedAt.UnixNano(), text(r.Note))
	if err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, unavailable(ctx, err))
	}
	if tag.RowsAffected() == 0 {
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
		by, note *string
		ns       *int64
	)
	err := s.pool.QueryRow(ctx, selectResolution, [16]byte(id)).Scan(&by, &ns, &note)
	if errors.Is(err, pgx.ErrNoRows) {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, activitylog.ErrNotFound)
	}
	if err != nil {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, unavailable(ctx, err))
	}
	if ns == nil {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, activitylog.ErrNotResolved)
	}
	r := activitylog.Resolution{EventID: id, ResolvedAt: time.Unix(0, *ns).UTC()}
	if by != nil {
		r.ResolvedBy = *by
	}
	if note != nil {
		r.Note = *note
	}
	return r, nil
}
