package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
)

// Resolve stores r as the event's latest resolution, in the resolutions
// table, a row beside the event: the event is never touched, and every
// resolution is kept. A zero ResolvedAt becomes the current time. The
// event must exist. It fails with an error wrapping
// activitylog.ErrNotFound when there is no such event, an
// *activitylog.FieldError when r fails Validate or the store was opened
// with Options.ReadOnly (naming read_only), and otherwise with
// activitylog.ErrUnavailable or the context's error.
//
// "Latest" is the order of storing, kept as a sequence number: this
// process's clock in nanoseconds, made strictly increasing within the
// Store, so that of two Resolves in one process the later call wins.
// Between processes the order is that of their clocks.
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
	if s.readOnly {
		return fmt.Errorf("resolve event %s: %w", r.EventID, errReadOnly)
	}
	ok, err := s.exists(ctx, r.EventID)
	if err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, unavailable(ctx, err))
	}
	if !ok {
		return fmt.Errorf("resolve event %s: %w", r.EventID, activitylog.ErrNotFound)
	}
	ins, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.t.resolutions+" (event_id, seq, resolved_by, resolved_at, note)")
	if err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, unavailable(ctx, err))
	}
	defer ins.Close()
	if err := ins.Append(string(r.EventID[:]), s.nextSeq(), r.ResolvedBy, r.ResolvedAt.UnixNano(), r.Note); err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, unavailable(ctx, err))
	}
	if err := ins.Send(); err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, unavailable(ctx, err))
	}
	return nil
}

// nextSeq returns the next resolution's sequence number: the clock in
// nanoseconds, or one more than the last when the clock has not moved
// on.
func (s *Store) nextSeq() int64 {
	for {
		last := s.seq.Load()
		next := max(time.Now().UnixNano(), last+1)
		if s.seq.CompareAndSwap(last, next) {
			return next
		}
	}
}

// Resolution returns the last resolution stored for the event with id.
// Its error wraps activitylog.ErrNotFound when there is no such event
// (a purged one included, whose resolutions Purge leaves unread),
// and also activitylog.ErrNotResolved when the event exists but has no
// resolution.
func (s *Store) Resolution(ctx context.Context, id activitylog.ID) (activitylog.Resolution, error) {
	if s.closed.Load() {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, errClosed)
	}
	rows, err := s.conn.Query(ctx, "SELECT resolved_by, resolved_at, note FROM "+s.t.resolutions+
		" WHERE event_id = ? ORDER BY seq DESC LIMIT 1", string(id[:]))
	if err != nil {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, unavailable(ctx, err))
	}
	r := activitylog.Resolution{EventID: id}
	found := false
	for rows.Next() {
		var ns int64
		if err := rows.Scan(&r.ResolvedBy, &ns, &r.Note); err != nil {
			rows.Close()
			return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, unavailable(ctx, err))
		}
		r.ResolvedAt = time.Unix(0, ns).UTC()
		found = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, unavailable(ctx, err))
	}
	// The event must exist too: Purge deletes events and leaves their
	// resolutions, which a purged event must not answer with.
	ok, err := s.exists(ctx, id)
	if err != nil {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, unavailable(ctx, err))
	}
	if !ok {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, activitylog.ErrNotFound)
	}
	if found {
		return r, nil
	}
	return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, activitylog.ErrNotResolved)
}
