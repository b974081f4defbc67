package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/activitylog/activitylog"
)

var _ activitylog.Purger = (*Store)(nil)

// purgeBatch bounds the events one purge transaction deletes, so that
// no transaction grows large.
const purgeBatch = 5000

// Purge deletes the unsealed events that r selects, in transactions of
// at most 5000 events, as the sqlite and postgres stores do. System
// events of category retention, the records of purges, are never
// deleted. Sealed events (written through an integrity.Writer, seal.go)
// are never deleted here either (their chains would no longer verify):
// they are counted in KeptSealed, and leave only through Prune and its
// signed records. A bad request is an *activitylog.FieldError; on a
// store error the result counts what was deleted before it.
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
			args = append(args, bin(string(k)))
		}
	}
	if !r.AllTenants {
		cond = append(cond, "tenant = ?")
		args = append(args, bin(r.Tenant))
	}
	where := strings.Join(cond, " AND ")
	for {
		var (
			n      int64
			counts map[activitylog.Kind]int64
		)
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			n, counts, err = purgeBatchTx(ctx, tx, where, args)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("purge: %w", err)
		}
		res.Deleted += n
		for k, c := range counts {
			res.ByKind[k] += c
		}
		if n < purgeBatch {
			break
		}
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events e WHERE `+where+
		` AND EXISTS (SELECT 1 FROM seals s WHERE s.id = e.id)`, args...).Scan(&res.KeptSealed); err != nil {
		return res, fmt.Errorf("purge: count the sealed events kept: %w", unavailable(ctx, err))
	}
	return res, nil
}

// purgeBatchTx deletes up to purgeBatch unsealed events matching where
// in tx, and returns how many, and how many of each kind.
func purgeBatchTx(ctx context.Context, tx *sql.Tx, where string, args []any) (int64, map[activitylog.Kind]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, kind FROM events e WHERE `+where+
		` AND NOT EXISTS (SELECT 1 FROM seals s WHERE s.id = e.id) LIMIT `+fmt.Sprint(purgeBatch)+` FOR UPDATE`, args...)
	if err != nil {
		return 0, nil, unavailable(ctx, err)
	}
	q := []byte("DELETE FROM events WHERE id IN (")
	counts := map[activitylog.Kind]int64{}
	var n int64
	for rows.Next() {
		var id, kind []byte
		if err := rows.Scan(&id, &kind); err != nil {
			rows.Close()
			return 0, nil, unavailable(ctx, err)
		}
		if n > 0 {
			q = append(q, ',')
		}
		q = append(q, "X'"...)
		q = appendHex(q, id)
		q = append(q, '\'')
		counts[activitylog.Kind(kind)]++
		n++
	}
	if err := rows.Close(); err != nil {
		return 0, nil, unavailable(ctx, err)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, unavailable(ctx, err)
	}
	if n == 0 {
		return 0, nil, nil
	}
	if _, err := tx.ExecContext(ctx, string(append(q, ')'))); err != nil {
		return 0, nil, unavailable(ctx, err)
	}
	return n, counts, nil
}
