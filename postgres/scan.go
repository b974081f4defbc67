package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
)

// Scan calls fn with every event that matches f, in f's ordering, as
// activitylog.Scanner describes: one query, whose rows pgx reads from
// the connection as fn takes them (the server sends ahead only what the
// socket buffers hold), so that an export of millions of events holds
// one event in memory at a time. The query is one snapshot. It holds a
// connection of the pool until it returns.
func (s *Store) Scan(ctx context.Context, f activitylog.Filter, fn func(e *activitylog.Event) error) error {
	f.Cursor, f.Page, f.PageSize = "", 0, 0
	f, err := f.Normalize(time.Now())
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("scan events: %w", errClosed)
	}
	col, ok := orderColumns[f.Field()]
	if !ok {
		return activitylog.Invalid("ordering", f.Ordering, "is not supported by this store")
	}
	var q query
	q.where(f)
	dir := " ASC"
	if f.Descending() {
		dir = " DESC"
	}
	rows, err := s.pool.Query(ctx, "SELECT data, time FROM events"+q.whereSQL()+" ORDER BY "+col+dir+", id"+dir, q.args...)
	if err != nil {
		return fmt.Errorf("scan events: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	var (
		data []byte
		ns   int64
	)
	for rows.Next() {
		if err := rows.Scan(&data, &ns); err != nil {
			return fmt.Errorf("scan events: %w", unavailable(ctx, err))
		}
		e, err := eventjson.Decode(data, ns)
		if err != nil {
			return fmt.Errorf("scan events: decode: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan events: %w", unavailable(ctx, err))
	}
	return nil
}
