package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/jackc/pgx/v5"
)

var _ activitylog.Purger = (*Store)(nil)

// purgeBatch bounds the events one purge statement deletes, so that no
// transaction grows large.
const purgeBatch = 5000

// Purge deletes the unsealed events that r selects. System events of
// category retention, the records of purges, are never deleted. Sealed
// events (written through an integrity.Writer, seal.go) are never
// deleted here either (their chains would no longer verify): they are
// counted in KeptSealed.
//
// When r selects every tenant and every kind, the partitions that lie
// wholly before r.Before and hold no record of a purge and no sealed
// event are dropped whole (their events counted by kind first), as
// DropBefore does. The rest is deleted row by row, at most 5000 events
// a transaction, their ids with them. A bad request is an
// *activitylog.FieldError; on a store error the result counts what was
// deleted before it.
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
	if r.AllTenants && len(r.Kinds) == 0 {
		if err := s.purgePartitions(ctx, r.Before, &res); err != nil {
			return res, fmt.Errorf("purge: %w", err)
		}
	}
	var q query
	q.cond("time < " + q.arg(before))
	q.cond("NOT (kind = 'system' AND category = '" + activitylog.CategoryRetention + "')")
	if len(r.Kinds) > 0 {
		ks := make([]string, len(r.Kinds))
		for i, k := range r.Kinds {
			ks[i] = string(k)
		}
		q.cond("kind = ANY(" + q.arg(ks) + ")")
	}
	if !r.AllTenants {
		q.eq("tenant", r.Tenant)
	}
	keptSQL := `SELECT count(*) FROM events` + q.whereSQL() + ` AND EXISTS (SELECT 1 FROM seals s WHERE s.id = events.id)`
	q.cond("NOT EXISTS (SELECT 1 FROM seals s WHERE s.id = events.id)")
	sqlText := `WITH victims AS (SELECT time, id FROM events` + q.whereSQL() + ` LIMIT ` + strconv.Itoa(purgeBatch) + `),
		d AS (DELETE FROM events e USING victims v WHERE e.time = v.time AND e.id = v.id RETURNING e.id, e.kind),
		x AS (DELETE FROM event_ids i USING d WHERE i.id = d.id)
		SELECT kind, count(*) FROM d GROUP BY kind`
	for {
		var n int64
		rows, err := s.pool.Query(ctx, sqlText, q.args...)
		if err != nil {
			return res, fmt.Errorf("purge: %w", unavailable(ctx, err))
		}
		var (
			kind string
			c    int64
		)
		_, err = pgx.ForEachRow(rows, []any{&kind, &c}, func() error {
			res.ByKind[activitylog.Kind(kind)] += c
			n += c
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("purge: %w", unavailable(ctx, err))
		}
		res.Deleted += n
		if n < purgeBatch {
			if err := s.pool.QueryRow(ctx, keptSQL, q.args...).Scan(&res.KeptSealed); err != nil {
				return res, fmt.Errorf("purge: count the sealed events kept: %w", unavailable(ctx, err))
			}
			return res, nil
		}
	}
}

// purgePartitions drops the partitions wholly before t that hold no
// record of a purge, and counts their events in res.
func (s *Store) purgePartitions(ctx context.Context, t time.Time, res *activitylog.PurgeResult) error {
	ps, err := s.listPartitions(ctx, s.pool)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.to.After(t) {
			break
		}
		counts := map[activitylog.Kind]int64{}
		dropped := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(partitionLock), s.schema); err != nil {
				return unavailable(ctx, err)
			}
			qn := quoteIdent(p.name)
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, qn).Scan(&exists); err != nil {
				return unavailable(ctx, err)
			}
			if !exists {
				return nil
			}
			// Writes wait from here (dropLock), so that what is counted
			// is what is dropped.
			if _, err := tx.Exec(ctx, dropLock); err != nil {
				return unavailable(ctx, err)
			}
			var kept bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+qn+" WHERE kind = 'system' AND category = '"+
				activitylog.CategoryRetention+"')").Scan(&kept); err != nil {
				return unavailable(ctx, err)
			}
			if !kept {
				// Nor a sealed event.
				if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+qn+" p JOIN seals s ON s.id = p.id)").Scan(&kept); err != nil {
					return unavailable(ctx, err)
				}
			}
			if kept { // its rows go one by one, the records of purges and the sealed events kept
				return nil
			}
			rows, err := tx.Query(ctx, "SELECT kind, count(*) FROM "+qn+" GROUP BY kind")
			if err != nil {
				return unavailable(ctx, err)
			}
			var (
				kind string
				n    int64
			)
			if _, err := pgx.ForEachRow(rows, []any{&kind, &n}, func() error {
				counts[activitylog.Kind(kind)] += n
				return nil
			}); err != nil {
				return unavailable(ctx, err)
			}
			if _, err := tx.Exec(ctx, "DELETE FROM event_ids i USING "+qn+" p WHERE i.id = p.id"); err != nil {
				return unavailable(ctx, err)
			}
			if _, err := tx.Exec(ctx, "DROP TABLE "+qn); err != nil {
				return unavailable(ctx, err)
			}
			dropped = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("drop partition %s: %w", p.name, err)
		}
		for k, n := range counts {
			res.ByKind[k] += n
			res.Deleted += n
		}
		if dropped {
			s.parts.set(p.from.UnixNano(), false)
		}
	}
	return nil
}
