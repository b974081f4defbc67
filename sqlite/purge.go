package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/activitylog/activitylog"
)

var _ activitylog.Purger = (*Store)(nil)

// purgeBatch bounds the events one purge transaction deletes, so that a
// purge never holds the write lock long.
const purgeBatch = 5000

// Purge deletes the unsealed events that r selects, in transactions of
// at most 5000 events, so that the store is never locked for long; the
// rollups follow through their triggers. System events of category
// retention, the records of purges, are never deleted. Sealed events are never
// deleted here (their chains would no longer verify): they are counted
// in KeptSealed, and leave only through Prune and its signed records.
// A bad request is an *activitylog.FieldError; on a store error the
// result counts what was deleted before it.
func (s *Store) Purge(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error) {
	res := activitylog.PurgeResult{ByKind: map[activitylog.Kind]int64{}}
	if err := r.Validate(); err != nil {
		return res, err
	}
	if s.closed.Load() {
		return res, fmt.Errorf("purge: %w", errClosed)
	}
	before, ok := r.BeforeUnixNano()
	if !ok {
		return res, nil
	}
	// The records of purges (and retention runs) are never purged.
	cond := []string{"time < ?", "NOT (kind = 'system' AND category = '" + activitylog.CategoryRetention + "')"}
	args := []any{before}
	if len(r.Kinds) > 0 {
		cond = append(cond, "kind IN (?"+strings.Repeat(", ?", len(r.Kinds)-1)+")")
		for _, k := range r.Kinds {
			args = append(args, string(k))
		}
	}
	if !r.AllTenants {
		cond = append(cond, "tenant = ?")
		args = append(args, r.Tenant)
	}
	where := strings.Join(cond, " AND ")
	for {
		n, err := s.purgeBatch(ctx, where, args, res.ByKind)
		res.Deleted += n
		if err != nil {
			return res, fmt.Errorf("purge: %w", err)
		}
		if n < purgeBatch {
			break
		}
	}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM events INDEXED BY events_time WHERE `+where+` AND coalesce(chain, '') <> ''`,
		args...).Scan(&res.KeptSealed); err != nil {
		return res, fmt.Errorf("purge: count the sealed events kept: %w", unavailable(ctx, err))
	}
	return res, nil
}

// purgeBatch deletes up to purgeBatch unsealed events matching where,
// in one transaction, and adds them to byKind.
func (s *Store) purgeBatch(ctx context.Context, where string, args []any, byKind map[activitylog.Kind]int64) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return 0, fmt.Errorf("begin: %w", unavailable(ctx, err))
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `DELETE FROM events WHERE seq IN (SELECT seq FROM events INDEXED BY events_time WHERE `+where+
		` AND coalesce(chain, '') = '' LIMIT `+fmt.Sprint(purgeBatch)+`) RETURNING kind`, args...)
	if err != nil {
		return 0, unavailable(ctx, err)
	}
	counts := map[activitylog.Kind]int64{}
	var n int64
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return 0, unavailable(ctx, err)
		}
		counts[activitylog.Kind(k)]++
		n++
	}
	if err := rows.Close(); err != nil {
		return 0, unavailable(ctx, err)
	}
	if err := rows.Err(); err != nil {
		return 0, unavailable(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", unavailable(ctx, err))
	}
	for k, c := range counts {
		byKind[k] += c
	}
	if s.ckpt != nil {
		s.ckpt.poke()
	}
	return n, nil
}
