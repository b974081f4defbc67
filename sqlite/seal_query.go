package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// Hashes returns the stored event hashes of chain's seqs from to to,
// both included, in seq order: what integrity.InclusionProof and
// ConsistencyProof read (integrity.HashesFunc, with ctx bound). It is an
// error, never a short slice, when a seq of the range holds no event or
// an event with no full hash: a proof cannot be made over a gap.
func (s *Store) Hashes(ctx context.Context, chain string, from, to uint64) ([]integrity.Hash, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read hashes: %w", errClosed)
	}
	if from < 1 || to < from || to-from >= 1<<31 {
		return nil, fmt.Errorf("read hashes of chain %s: %w", chain, activitylog.Invalid("seq range", fmt.Sprintf("%d..%d", from, to), "must be 1 <= from <= to"))
	}
	rows, err := s.r.QueryContext(ctx, `SELECT chain_seq, hash FROM events INDEXED BY events_chain_seq
		WHERE chain = ? AND chain <> '' AND chain_seq BETWEEN ? AND ? ORDER BY chain_seq`, chain, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("read hashes of chain %s: %w", chain, unavailable(ctx, err))
	}
	defer rows.Close()
	hs := make([]integrity.Hash, 0, to-from+1)
	want := from
	for rows.Next() {
		var seq int64
		var h []byte
		if err := rows.Scan(&seq, &h); err != nil {
			return nil, fmt.Errorf("read hashes of chain %s: %w", chain, unavailable(ctx, err))
		}
		if uint64(seq) != want || len(h) != 32 {
			return nil, fmt.Errorf("read hashes of chain %s: seq %d has no stored event with a hash", chain, want)
		}
		hs = append(hs, integrity.Hash(h))
		want++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read hashes of chain %s: %w", chain, unavailable(ctx, err))
	}
	if want != to+1 {
		return nil, fmt.Errorf("read hashes of chain %s: seq %d has no stored event with a hash", chain, want)
	}
	return hs, nil
}

// Seals returns the stored seals of the events ids, by id; an event
// that is not stored, or has no full seal, is not in the map. It reads
// the seal columns only, in one statement per 500 ids.
func (s *Store) Seals(ctx context.Context, ids []activitylog.ID) (map[activitylog.ID]integrity.Seal, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read seals: %w", errClosed)
	}
	out := make(map[activitylog.ID]integrity.Seal, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		part := ids[:n]
		ids = ids[n:]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id[:]
		}
		q := `SELECT id, chain, chain_seq, prev, hash, canon_version FROM events WHERE id IN (?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("read seals: %w", unavailable(ctx, err))
		}
		for rows.Next() {
			var id, prev, hash []byte
			var chain string
			var seq, version int64
			if err := rows.Scan(&id, &chain, &seq, &prev, &hash, &version); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read seals: %w", unavailable(ctx, err))
			}
			if chain == "" || seq < 1 || len(prev) != 32 || len(hash) != 32 || len(id) != 16 || version != activitylog.CanonicalVersion {
				continue
			}
			out[activitylog.ID(id)] = integrity.Seal{Chain: chain, Seq: uint64(seq), Prev: integrity.Hash(prev), Hash: integrity.Hash(hash)}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read seals: %w", unavailable(ctx, err))
		}
	}
	return out, nil
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
	err := s.r.QueryRowContext(ctx, `SELECT body FROM checkpoints WHERE chain = ? ORDER BY to_seq DESC LIMIT 1`, chain).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
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
