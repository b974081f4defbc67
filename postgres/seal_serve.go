package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/jackc/pgx/v5"
)

// What activitylog serve reads besides the verifier's Source when it
// seals into this store (the sqlite store has the same calls): the
// seals of given events, for the integrity API's per-event status and
// proofs, and a chain's newest checkpoint, for the witness.

// sealsBatch is how many ids one statement of Seals looks up.
const sealsBatch = 1000

// Seals returns the stored seals of the events ids, by id; an event
// that is not stored (its seal row stays when a partition is dropped),
// or whose seal is not full, is not in the map. It reads seals by their
// id index, each joined to its event's row through the primary key of
// the event's partition, in one statement per 1000 ids.
func (s *Store) Seals(ctx context.Context, ids []activitylog.ID) (map[activitylog.ID]integrity.Seal, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read seals: %w", errClosed)
	}
	out := make(map[activitylog.ID]integrity.Seal, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), sealsBatch)
		part := make([][16]byte, n)
		for i, id := range ids[:n] {
			part[i] = [16]byte(id)
		}
		ids = ids[n:]
		rows, err := s.pool.Query(ctx, `SELECT s.id, s.chain, s.seq, s.prev, s.hash, s.canon_version
			FROM seals s JOIN events e ON e.time = s.time AND e.id = s.id
			WHERE s.id = ANY($1)`, part)
		if err != nil {
			return nil, fmt.Errorf("read seals: %w", unavailable(ctx, err))
		}
		var (
			id         [16]byte
			chain      string
			seq        int64
			prev, hash []byte
			version    int16
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &chain, &seq, &prev, &hash, &version}, func() error {
			if chain == "" || seq < 1 || len(prev) != 32 || len(hash) != 32 || int(version) != activitylog.CanonicalVersion {
				return nil
			}
			out[activitylog.ID(id)] = integrity.Seal{Chain: chain, Seq: uint64(seq), Prev: integrity.Hash(prev), Hash: integrity.Hash(hash)}
			return nil
		}); err != nil {
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
	err := s.pool.QueryRow(ctx, `SELECT body FROM checkpoints WHERE chain = $1 ORDER BY to_seq DESC LIMIT 1`, chain).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
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
