package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// Pruning, as the sqlite and postgres stores do it: the one deletion of
// sealed events that the verifier accepts.

var _ integrity.PruneSource = (*Store)(nil)

// Prune deletes events by retention without breaking the trail's
// proof, as sqlite.Store.Prune does: integrity.RunPrune (which
// documents each step) on this store. Each sealed event is deleted
// with its seal, in transactions of BatchSize events, so that no
// transaction grows large; the new pruning record is stored in the
// first one.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (PruneResult, error) {
	if s.closed.Load() {
		return PruneResult{}, fmt.Errorf("prune: %w", errClosed)
	}
	return integrity.RunPrune(ctx, pruneStore{s}, opts)
}

// The pruning types are integrity's, under the names the other stores
// use.
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

// pruneStore is the mysql storage steps of integrity.RunPrune.
type pruneStore struct{ *Store }

var _ integrity.PruneStore = pruneStore{}

func (s pruneStore) LastSeq(ctx context.Context, chain string) (uint64, error) {
	var lastSeq sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM seals WHERE chain = ?`, chain).Scan(&lastSeq); err != nil {
		return 0, unavailable(ctx, err)
	}
	if !lastSeq.Valid || lastSeq.Int64 < 0 {
		return 0, nil
	}
	return uint64(lastSeq.Int64), nil
}

func (s pruneStore) CutCheckpoints(ctx context.Context, chain string, after, upTo uint64, fn func([]byte) (bool, error)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT body FROM checkpoints WHERE chain = ? AND to_seq <= ? AND to_seq > ? ORDER BY to_seq DESC`,
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
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	return nil
}

func (s pruneStore) DeleteChain(ctx context.Context, chain string, upTo uint64, body []byte, batch int) (int64, bool, error) {
	stored := false
	var total int64
	for {
		if s.closed.Load() {
			return total, stored, errClosed
		}
		var n int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if body != nil {
				if _, err := tx.ExecContext(ctx, `INSERT INTO prunes (chain, up_to_seq, body, created) VALUES (?, ?, ?, ?)
					ON DUPLICATE KEY UPDATE chain = chain`, chain, int64(upTo), body, time.Now().UnixNano()); err != nil {
					return fmt.Errorf("store pruning record: %w", unavailable(ctx, err))
				}
			}
			// The batch's last seq; then the seals up to it and their
			// events, in one statement.
			var last sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT MAX(seq), COUNT(*) FROM (SELECT seq FROM seals WHERE chain = ? AND seq <= ?
				ORDER BY seq LIMIT ?) v`, chain, int64(upTo), batch).Scan(&last, &n); err != nil {
				return fmt.Errorf("delete events: %w", unavailable(ctx, err))
			}
			if n == 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `DELETE s, e FROM seals s LEFT JOIN events e ON e.id = s.id
				WHERE s.chain = ? AND s.seq <= ?`, chain, last.Int64); err != nil {
				return fmt.Errorf("delete events: %w", unavailable(ctx, err))
			}
			return nil
		})
		if err != nil {
			return total, stored, err
		}
		if body != nil {
			body, stored = nil, true // stored: later batches only delete
		}
		total += n
		if n < int64(batch) {
			return total, stored, nil
		}
	}
}

func (s pruneStore) DeleteUnsealed(ctx context.Context, before time.Time, batch int) (int64, error) {
	ns := int64(1<<63 - 1)
	if before.Before(time.Unix(0, ns)) {
		ns = before.UnixNano()
	}
	var total int64
	for {
		if s.closed.Load() {
			return total, errClosed
		}
		var n int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM events e WHERE time < ?
				AND NOT EXISTS (SELECT 1 FROM seals s WHERE s.id = e.id) LIMIT ? FOR UPDATE`, ns, batch)
			if err != nil {
				return fmt.Errorf("delete unsealed events: %w", unavailable(ctx, err))
			}
			q := []byte("DELETE FROM events WHERE id IN (")
			for rows.Next() {
				var id []byte
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return fmt.Errorf("delete unsealed events: %w", unavailable(ctx, err))
				}
				if n > 0 {
					q = append(q, ',')
				}
				q = append(q, "X'"...)
				q = appendHex(q, id)
				q = append(q, '\'')
				n++
			}
			if err := rows.Close(); err != nil {
				return fmt.Errorf("delete unsealed events: %w", unavailable(ctx, err))
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("delete unsealed events: %w", unavailable(ctx, err))
			}
			if n == 0 {
				return nil
			}
			q = append(q, ')')
			if _, err := tx.ExecContext(ctx, string(q)); err != nil {
				return fmt.Errorf("delete unsealed events: %w", unavailable(ctx, err))
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// inTx runs fn in a transaction and commits it, unless fn fails.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", unavailable(ctx, err))
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", unavailable(ctx, err))
	}
	return nil
}

// Prunes returns chain's pruning records by ascending UpToSeq (the
// verifier's integrity.PruneSource). One whose JSON is no longer valid
// is returned with its chain and cut and no signature, so that the
// verifier reports it as bad_signature.
func (s *Store) Prunes(ctx context.Context, chain string) ([]integrity.PruneRecord, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read pruning records: %w", errClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT up_to_seq, body FROM prunes WHERE chain = ? ORDER BY up_to_seq`, chain)
	if err != nil {
		return nil, fmt.Errorf("read pruning records: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	var out []integrity.PruneRecord
	for rows.Next() {
		var (
			upTo int64
			body sql.RawBytes
		)
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

// sealsBatch is how many ids one statement of Seals (or of
// WriteSealed's lookup) names.
const sealsBatch = 1000

// Seals returns the stored seals of the events ids, by id; an event
// that is not stored, or whose seal is not full, is not in the map. It
// reads seals by their id index, each joined to its event's row, in one
// statement per 1000 ids. (What activitylog serve reads besides the
// verifier's Source, as from the sqlite and postgres stores.)
func (s *Store) Seals(ctx context.Context, ids []activitylog.ID) (map[activitylog.ID]integrity.Seal, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read seals: %w", errClosed)
	}
	out := make(map[activitylog.ID]integrity.Seal, len(ids))
	var q []byte
	for len(ids) > 0 {
		n := min(len(ids), sealsBatch)
		q = append(q[:0], `SELECT s.id, s.chain, s.seq, s.prev, s.hash, s.canon_version
			FROM seals s JOIN events e ON e.id = s.id WHERE s.id IN (`...)
		for k, id := range ids[:n] {
			if k > 0 {
				q = append(q, ',')
			}
			q = append(q, "X'"...)
			q = appendHex(q, id[:])
			q = append(q, '\'')
		}
		q = append(q, ')')
		ids = ids[n:]
		if err := s.readSeals(ctx, string(q), out); err != nil {
			return nil, fmt.Errorf("read seals: %w", err)
		}
	}
	return out, nil
}

func (s *Store) readSeals(ctx context.Context, query string, out map[activitylog.ID]integrity.Seal) error {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, prev, hash sql.RawBytes
			chain          string
			seq            int64
			version        int64
		)
		if err := rows.Scan(&id, &chain, &seq, &prev, &hash, &version); err != nil {
			return unavailable(ctx, err)
		}
		if len(id) != 16 || chain == "" || seq < 1 || len(prev) != 32 || len(hash) != 32 || version != activitylog.CanonicalVersion {
			continue
		}
		out[activitylog.ID(id)] = integrity.Seal{Chain: chain, Seq: uint64(seq), Prev: integrity.Hash(prev), Hash: integrity.Hash(hash)}
	}
	if err := rows.Err(); err != nil {
		return unavailable(ctx, err)
	}
	return nil
}

// LastCheckpoint returns chain's stored checkpoint with the highest
// to_seq, and false when the chain has none. A body that no longer
// parses is an error here: the caller wants a checkpoint to hand on,
// and the verifier reports such a row (Checkpoints).
func (s *Store) LastCheckpoint(ctx context.Context, chain string) (integrity.Checkpoint, bool, error) {
	if s.closed.Load() {
		return integrity.Checkpoint{}, false, fmt.Errorf("read last checkpoint: %w", errClosed)
	}
	var body []byte
	err := s.db.QueryRowContext(ctx, `SELECT body FROM checkpoints WHERE chain = ? ORDER BY to_seq DESC LIMIT 1`, chain).Scan(&body)
	if err == sql.ErrNoRows {
		return integrity.Checkpoint{}, false, nil
	}
	if err != nil {
		return integrity.Checkpoint{}, false, fmt.Errorf("read last checkpoint of chain %s: %w", chain, unavailable(ctx, err))
	}
	var cp integrity.Checkpoint
	if err := json.Unmarshal(body, &cp); err != nil {
		return integrity.Checkpoint{}, false, fmt.Errorf("read last checkpoint of chain %s: %w", chain, err)
	}
	return cp, true, nil
}
