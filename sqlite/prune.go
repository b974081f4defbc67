package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/activitylog/activitylog/integrity"
)

var _ integrity.PruneSource = (*Store)(nil)

// DefaultPruneBatch is how many events Prune deletes per transaction
// when PruneOptions.BatchSize is zero.
const DefaultPruneBatch = integrity.DefaultPruneBatch

// PruneOptions configures Store.Prune (integrity.PruneOptions).
type PruneOptions = integrity.PruneOptions

// PruneResult says what Prune did (integrity.PruneResult).
type PruneResult = integrity.PruneResult

// ChainPrune is what Prune did to one chain (integrity.ChainPrune).
type ChainPrune = integrity.ChainPrune

// Prune deletes events by retention without breaking the trail's
// proof: it is the call a retention scheduler makes, and the only
// deletion the verifier accepts. It is integrity.RunPrune (which
// documents each step) on this store: the events up to each chain's
// cut are deleted by ascending seq in transactions of BatchSize
// events, so that pruning never holds the write lock long, the new
// pruning record stored in the first one.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (PruneResult, error) {
	if s.closed.Load() {
		return PruneResult{}, fmt.Errorf("prune: %w", errClosed)
	}
	return integrity.RunPrune(ctx, pruneStore{s}, opts)
}

// pruneStore is the sqlite storage steps of integrity.RunPrune.
type pruneStore struct{ *Store }

var _ integrity.PruneStore = pruneStore{}

func (s pruneStore) LastSeq(ctx context.Context, chain string) (uint64, error) {
	var lastSeq sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(chain_seq) FROM events INDEXED BY events_chain_seq WHERE chain = ? AND chain <> ''`, chain).Scan(&lastSeq); err != nil {
		return 0, unavailable(ctx, err)
	}
	return uint64(max(lastSeq.Int64, 0)), nil
}

func (s pruneStore) CutCheckpoints(ctx context.Context, chain string, after, upTo uint64, fn func([]byte) (bool, error)) error {
	rows, err := s.r.QueryContext(ctx, `SELECT body FROM checkpoints WHERE chain = ? AND to_seq <= ? AND to_seq > ? ORDER BY to_seq DESC`,
		chain, int64(upTo), int64(after))
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
		}
		more, err := fn(b)
		if err != nil || !more {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	return nil
}

func (s pruneStore) DeleteChain(ctx context.Context, chain string, upTo uint64, body []byte, batch int) (int64, bool, error) {
	stored := false
	insert := func(tx *sql.Tx) error {
		if body == nil {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO prunes (chain, up_to_seq, body, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			chain, int64(upTo), body, time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("store pruning record: %w", unavailable(ctx, err))
		}
		body, stored = nil, true // stored: later batches only delete
		return nil
	}
	n, err := s.deleteBatches(ctx, batch, insert,
		`DELETE FROM events WHERE seq IN (SELECT seq FROM events INDEXED BY events_chain_seq
			WHERE chain = ? AND chain <> '' AND chain_seq <= ? ORDER BY chain_seq LIMIT ?)`,
		chain, int64(upTo))
	return n, stored, err
}

func (s pruneStore) DeleteUnsealed(ctx context.Context, before time.Time, batch int) (int64, error) {
	return s.deleteBatches(ctx, batch, nil,
		`DELETE FROM events WHERE seq IN (SELECT seq FROM events INDEXED BY events_time WHERE time < ? AND coalesce(chain, '') = '' LIMIT ?)`,
		before.UnixNano())
}

// deleteBatches runs the DELETE query, whose last argument is the batch
// size, in one transaction per batch until a batch deletes fewer rows;
// first, when not nil, runs in each transaction before the DELETE. It
// returns how many rows it deleted.
func (s *Store) deleteBatches(ctx context.Context, batch int, first func(*sql.Tx) error, query string, args ...any) (int64, error) {
	var total int64
	args = append(args, batch)
	for {
		n, err := s.deleteBatch(ctx, first, query, args)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

func (s *Store) deleteBatch(ctx context.Context, first func(*sql.Tx) error, query string, args []any) (int64, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return 0, fmt.Errorf("begin: %w", unavailable(ctx, err))
	}
	defer tx.Rollback()
	if first != nil {
		if err := first(tx); err != nil {
			return 0, err
		}
	}
	r, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, unavailable(ctx, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, unavailable(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", unavailable(ctx, err))
	}
	if s.ckpt != nil {
		s.ckpt.poke()
	}
	return n, nil
}

// Prunes returns chain's pruning records by ascending UpToSeq (the
// verifier's integrity.PruneSource). One whose JSON is no longer valid
// is returned with its chain and cut and no signature, so that the
// verifier reports it as bad_signature.
func (s *Store) Prunes(ctx context.Context, chain string) ([]integrity.PruneRecord, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read pruning records: %w", errClosed)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT up_to_seq, body FROM prunes WHERE chain = ? ORDER BY up_to_seq`, chain)
	if err != nil {
		return nil, fmt.Errorf("read pruning records: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	var out []integrity.PruneRecord
	for rows.Next() {
		var upTo int64
		var body []byte
		if err := rows.Scan(&upTo, &body); err != nil {
			return nil, fmt.Errorf("read pruning records: %w", unavailable(ctx, err))
		}
		var p integrity.PruneRecord
		if err := json.Unmarshal(body, &p); err != nil {
			p = integrity.PruneRecord{Version: integrity.PruneVersion, Chain: chain, UpToSeq: uint64(upTo)}
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read pruning records: %w", unavailable(ctx, err))
	}
	return out, nil
}
