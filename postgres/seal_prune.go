package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/activitylog/activitylog/integrity"
	"github.com/jackc/pgx/v5"
)

// Pruning, as the sqlite store does it (sqlite/prune.go): the one
// deletion of sealed events that the verifier accepts.

var _ integrity.PruneSource = (*Store)(nil)

// Prune deletes events by retention without breaking the trail's
// proof, as sqlite.Store.Prune does: integrity.RunPrune (which
// documents each step) on this store. Each sealed event is deleted
// with its seal and its id, in transactions of BatchSize events, so
// that no transaction grows large; the new pruning record is stored
// in the first one.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (PruneResult, error) {
	if s.closed.Load() {
		return PruneResult{}, fmt.Errorf("prune: %w", errClosed)
	}
	return integrity.RunPrune(ctx, pruneStore{s}, opts)
}

// The pruning types are integrity's, under the names this package has
// always had.
type (
	// PruneOptions configures Store.Prune.
	PruneOptions = integrity.PruneOptions
	// PruneResult says what Prune did.
	PruneResult = integrity.PruneResult
	// ChainPrune is what Prune did to one chain.
	ChainPrune = integrity.ChainPrune
)

// DefaultPruneBatch is how many events Prune deletes per transaction
// when PruneOptions.BatchSize is zero.
const DefaultPruneBatch = integrity.DefaultPruneBatch

// pruneStore is the postgres storage steps of integrity.RunPrune.
type pruneStore struct{ *Store }

var _ integrity.PruneStore = pruneStore{}

func (s pruneStore) LastSeq(ctx context.Context, chain string) (uint64, error) {
	var lastSeq *int64
	if err := s.pool.QueryRow(ctx, `SELECT max(seq) FROM seals WHERE chain = $1`, chain).Scan(&lastSeq); err != nil {
		return 0, unavailable(ctx, err)
	}
	if lastSeq == nil || *lastSeq < 0 {
		return 0, nil
	}
	return uint64(*lastSeq), nil
}

func (s pruneStore) CutCheckpoints(ctx context.Context, chain string, after, upTo uint64, fn func([]byte) (bool, error)) error {
	rows, err := s.pool.Query(ctx, `SELECT body FROM checkpoints WHERE chain = $1 AND to_seq <= $2 AND to_seq > $3 ORDER BY to_seq DESC`,
		chain, int64(upTo), int64(after))
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	var b []byte
	var fnErr error
	_, err = pgx.ForEachRow(rows, []any{&b}, func() error {
		more, err := fn(b)
		switch {
		case err != nil:
			fnErr = err
			return err
		case !more:
			return errStop
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case errors.Is(err, errStop):
		return nil
	case err != nil:
		return fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	return nil
}

// errStop ends a ForEachRow early.
var errStop = errors.New("stop")

func (s pruneStore) DeleteChain(ctx context.Context, chain string, upTo uint64, body []byte, batch int) (int64, bool, error) {
	stored := false
	insert := func(tx pgx.Tx) error {
		if body == nil {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO prunes (chain, up_to_seq, body, created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			chain, int64(upTo), body, time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("store pruning record: %w", unavailable(ctx, err))
		}
		return nil
	}
	committed := func() {
		if body != nil {
			body, stored = nil, true // stored: later batches only delete
		}
	}
	n, err := s.deleteBatches(ctx, batch, insert, committed,
		`WITH v AS (SELECT seq FROM seals WHERE chain = $1 AND seq <= $2 ORDER BY seq LIMIT $3),
		ds AS (DELETE FROM seals s USING v WHERE s.chain = $1 AND s.seq = v.seq RETURNING s.id, s.time),
		de AS (DELETE FROM events e USING ds WHERE e.time = ds.time AND e.id = ds.id),
		di AS (DELETE FROM event_ids i USING ds WHERE i.id = ds.id)
		SELECT count(*) FROM ds`,
		chain, int64(upTo))
	return n, stored, err
}

func (s pruneStore) DeleteUnsealed(ctx context.Context, before time.Time, batch int) (int64, error) {
	return s.deleteBatches(ctx, batch, nil, nil,
		`WITH v AS (SELECT time, id FROM events WHERE time < $1 AND NOT EXISTS (SELECT 1 FROM seals s WHERE s.id = events.id) LIMIT $2),
		d AS (DELETE FROM events e USING v WHERE e.time = v.time AND e.id = v.id RETURNING e.id),
		x AS (DELETE FROM event_ids i USING d WHERE i.id = d.id)
		SELECT count(*) FROM d`,
		before.UnixNano())
}

// deleteBatches runs query, a statement that deletes at most a batch
// (its last argument) and returns how many it deleted, in one
// transaction per batch until a batch deletes fewer; first, when not
// nil, runs in each transaction before it, and committed after each
// commit. It returns how many rows it deleted.
func (s *Store) deleteBatches(ctx context.Context, batch int, first func(pgx.Tx) error, committed func(), query string, args ...any) (int64, error) {
	var total int64
	args = append(args, batch)
	for {
		if s.closed.Load() {
			return total, errClosed
		}
		var n int64
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if first != nil {
				if err := first(tx); err != nil {
					return err
				}
			}
			if err := tx.QueryRow(ctx, query, args...).Scan(&n); err != nil {
				return unavailable(ctx, err)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if committed != nil {
			committed()
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// Prunes returns chain's pruning records by ascending UpToSeq (the
// verifier's integrity.PruneSource). One whose JSON is no longer valid
// is returned with its chain and cut and no signature, so that the
// verifier reports it as bad_signature.
func (s *Store) Prunes(ctx context.Context, chain string) ([]integrity.PruneRecord, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read pruning records: %w", errClosed)
	}
	rows, err := s.pool.Query(ctx, `SELECT up_to_seq, body FROM prunes WHERE chain = $1 ORDER BY up_to_seq`, chain)
	if err != nil {
		return nil, fmt.Errorf("read pruning records: %w", unavailable(ctx, err))
	}
	var out []integrity.PruneRecord
	var upTo int64
	var body []byte
	if _, err := pgx.ForEachRow(rows, []any{&upTo, &body}, func() error {
		var p integrity.PruneRecord
		if err := json.Unmarshal(body, &p); err != nil {
			p = integrity.PruneRecord{Version: integrity.PruneVersion, Chain: chain, UpToSeq: uint64(upTo)}
		}
		out = append(out, p)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read pruning records: %w", unavailable(ctx, err))
	}
	return out, nil
}
