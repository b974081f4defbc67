package postgres

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/jackc/pgx/v5"
)

// Pruning, as the sqlite store does it (sqlite/prune.go): the one
// deletion of sealed events that the verifier accepts.

var _ integrity.PruneSource = (*Store)(nil)

// DefaultPruneBatch is how many events Prune deletes per transaction
// when PruneOptions.BatchSize is zero.
const DefaultPruneBatch = 5000

// PruneOptions configures Store.Prune. Before, SigningKey, Policy and
// Actor are required; the zero value of each other field means the
// default written beside it.
type PruneOptions struct {
	// Before is the retention cutoff: a chain is cut at its last
	// checkpoint whose signed time is before it; unsealed events whose
	// time column is before it are deleted.
	Before time.Time
	// SigningKey signs the pruning records: the checkpoint key, whose
	// public key the verifier trusts.
	SigningKey ed25519.PrivateKey
	// PublicKeys are other keys whose checkpoints Prune may cut at (a
	// rotated key); the SigningKey's own public key is always trusted.
	// A checkpoint that no trusted key verifies is never cut at.
	// Default: none.
	PublicKeys []ed25519.PublicKey
	// Policy and Actor go into each record: the retention policy (e.g.
	// "retention 90d") and who or what ran it; 1 to 256 bytes of UTF-8
	// without control characters each.
	Policy, Actor string
	// BatchSize bounds the events deleted in one transaction, so that
	// no transaction grows large. Default: 5000.
	BatchSize int
	// HMACKeys are the keys of keyed chains (by id), with which Prune
	// verifies a chain's events up to the cut before it deletes them. A
	// keyed chain whose key is not given is not pruned. Default: none.
	HMACKeys []*integrity.HMACKey
	// Chains limits pruning to these chains; unsealed events are then
	// left alone. Default: every chain, and the unsealed events.
	Chains []string
	// Now gives the records' time. Default: time.Now.
	Now func() time.Time
}

// PruneResult says what Prune did.
type PruneResult struct {
	// Chains has one entry per chain looked at, by chain id.
	Chains []ChainPrune `json:"chains"`
	// Unsealed counts the unsealed events deleted; Deleted all events
	// deleted, sealed and unsealed.
	Unsealed int64 `json:"unsealed"`
	Deleted  int64 `json:"deleted"`
}

// ChainPrune is what Prune did to one chain.
type ChainPrune struct {
	Chain string `json:"chain"`
	// UpToSeq is the chain's cut after Prune (0: none): the events
	// 1..UpToSeq are deleted, unless Err says why not all.
	UpToSeq uint64 `json:"up_to_seq"`
	// Record is the pruning record this call stored, nil when it stored
	// none: no checkpoint was old enough to cut at beyond the chain's
	// last record (whose leftover events, from an interrupted Prune,
	// are deleted all the same).
	Record *integrity.PruneRecord `json:"record,omitempty"`
	// Deleted counts the chain's events deleted.
	Deleted int64 `json:"deleted"`
	// Err is why the chain could not be pruned, or not to the end; the
	// same error is in the one Prune returns.
	Err error `json:"-"`
}

// Prune deletes events by retention without breaking the trail's
// proof: it is the call a retention scheduler makes, and the only
// deletion the verifier accepts. For each chain it:
//
//  1. finds the cut: the highest ToSeq of a checkpoint (verified with
//     a trusted key) whose signed Time is before Before, and that is
//     below the chain's last stored event (which is kept, since a
//     Writer continuing the chain checks its state against it). The
//     events' time column is never read for a chain: whoever can write
//     to the database can edit it, the checkpoint's time is signed;
//  2. when the cut is beyond the chain's last pruning record, verifies
//     the chain (integrity.Verifier with the trusted keys and
//     HMACKeys, every event's hash recomputed) and refuses the cut,
//     with an error naming the chain and the finding, when any finding
//     lies at or below it or concerns the whole chain; then makes a
//     new record (integrity.NewPruneRecord, which refuses when the
//     stored hashes do not make the checkpoint's tree root: such a
//     chain is left for the verifier to explain), signs it, and stores
//     it in the transaction of the first batch it deletes, before any
//     event is gone;
//  3. deletes the events up to the cut by ascending seq, with their
//     seals and ids, in transactions of BatchSize events each, so that
//     no transaction grows large. An interrupted Prune leaves some events below a
//     stored cut, which verify as usual; the next Prune deletes them.
//
// Checkpoints and the chain's state are never deleted. Then, unless
// Chains is set, the unsealed events whose time column is before
// Before are deleted too, in the same batches. Only events never
// sealed are chosen by that column: they were never in a chain, and no
// signature vouches for them either way.
//
// Options that are not valid give an error wrapping
// activitylog.ErrInvalid that names the field. Otherwise a chain that
// cannot be pruned does not stop the others: the result says what was
// done, and the error joins each chain's error (ErrUnavailable when the
// database failed, the context's error when ctx ended).
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (PruneResult, error) {
	var res PruneResult
	if s.closed.Load() {
		return res, fmt.Errorf("prune: %w", errClosed)
	}
	if opts.Before.IsZero() {
		return res, fmt.Errorf("prune: %w", activitylog.Invalid("before", "", "must be set"))
	}
	if t := opts.Before; !time.Unix(0, t.UnixNano()).Equal(t) {
		return res, fmt.Errorf("prune: %w", activitylog.Invalid("before", t.Format(time.RFC3339Nano), "must be between the years 1678 and 2261"))
	}
	if opts.BatchSize < 0 {
		return res, fmt.Errorf("prune: %w", activitylog.Invalid("batch size", strconv.Itoa(opts.BatchSize), "must not be negative"))
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultPruneBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// The key, the policy and the actor are checked as a record checks
	// them, before anything is read.
	probe := integrity.PruneRecord{Version: integrity.PruneVersion, Chain: "probe", UpToSeq: 1, Policy: opts.Policy, Actor: opts.Actor, Time: opts.Now()}
	if err := probe.Sign(opts.SigningKey); err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	trusted := map[string]ed25519.PublicKey{}
	for _, p := range append([]ed25519.PublicKey{opts.SigningKey.Public().(ed25519.PublicKey)}, opts.PublicKeys...) {
		if len(p) != ed25519.PublicKeySize {
			return res, fmt.Errorf("prune: %w", activitylog.Invalid("public key", fmt.Sprintf("%d bytes", len(p)), "is not an Ed25519 public key"))
		}
		trusted[integrity.KeyID(p)] = p
	}
	var chains []string
	if len(opts.Chains) > 0 {
		for _, c := range opts.Chains {
			if err := integrity.ValidateChainID(c); err != nil {
				return res, fmt.Errorf("prune: %w", err)
			}
		}
		chains = opts.Chains
	} else {
		infos, err := s.Chains(ctx)
		if err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		for _, c := range infos {
			chains = append(chains, c.ID)
		}
	}
	var errs []error
	for _, chain := range chains {
		cp := s.pruneChain(ctx, chain, &opts, trusted)
		res.Chains = append(res.Chains, cp)
		res.Deleted += cp.Deleted
		if cp.Err != nil {
			errs = append(errs, cp.Err)
		}
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
	}
	if len(opts.Chains) == 0 {
		n, err := s.deleteBatches(ctx, opts.BatchSize, nil, nil,
			`WITH v AS (SELECT time, id FROM events WHERE time < $1 AND NOT EXISTS (SELECT 1 FROM seals s WHERE s.id = events.id) LIMIT $2),
			d AS (DELETE FROM events e USING v WHERE e.time = v.time AND e.id = v.id RETURNING e.id),
			x AS (DELETE FROM event_ids i USING d WHERE i.id = d.id)
			SELECT count(*) FROM d`,
			opts.Before.UnixNano())
		res.Unsealed = n
		res.Deleted += n
		if err != nil {
			errs = append(errs, fmt.Errorf("delete unsealed events: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	return res, nil
}

// pruneChain prunes one chain (see Prune).
func (s *Store) pruneChain(ctx context.Context, chain string, opts *PruneOptions, trusted map[string]ed25519.PublicKey) ChainPrune {
	out := ChainPrune{Chain: chain}
	fail := func(err error) ChainPrune {
		out.Err = fmt.Errorf("chain %s: %w", chain, err)
		return out
	}
	recs, err := s.Prunes(ctx, chain)
	if err != nil {
		return fail(err)
	}
	var last *integrity.PruneRecord
	if n := len(recs); n > 0 {
		last = &recs[n-1]
		if last.Signature == nil {
			return fail(fmt.Errorf("the pruning record up to seq %d cannot be read", last.UpToSeq))
		}
		out.UpToSeq = last.UpToSeq
	}

	// The cut: below the last stored event, at the last checkpoint
	// whose signed time is before Before. The events' time column is
	// not signed, so it is never read here.
	var lastSeq *int64
	if err := s.pool.QueryRow(ctx, `SELECT max(seq) FROM seals WHERE chain = $1`, chain).Scan(&lastSeq); err != nil {
		return fail(fmt.Errorf("read the last seq: %w", unavailable(ctx, err)))
	}
	limit := int64(-1)
	if lastSeq != nil {
		limit = *lastSeq - 1
	}
	var rec *integrity.PruneRecord
	if last == nil || uint64(max(limit, 0)) > last.UpToSeq {
		cp, ok, err := s.cutCheckpoint(ctx, chain, limit, last, opts.Before, trusted)
		if err != nil {
			return fail(err)
		}
		if ok {
			if err := s.verifyToCut(ctx, chain, cp.ToSeq, opts, trusted); err != nil {
				return fail(err)
			}
			r, err := integrity.NewPruneRecord(cp, last, func(from, to uint64) ([]integrity.Hash, error) {
				return s.Hashes(ctx, chain, from, to)
			})
			if err != nil {
				return fail(err)
			}
			r.Policy, r.Actor, r.Time = opts.Policy, opts.Actor, opts.Now().UTC()
			if err := r.Sign(opts.SigningKey); err != nil {
				return fail(err)
			}
			rec = &r
			out.UpToSeq = r.UpToSeq
		}
	}
	if out.UpToSeq == 0 {
		return out
	}
	var body []byte
	if rec != nil {
		if body, err = json.Marshal(rec); err != nil {
			return fail(err)
		}
	}
	insert := func(tx pgx.Tx) error {
		if body == nil {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO prunes (chain, up_to_seq, body, created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			chain, int64(rec.UpToSeq), body, time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("store pruning record: %w", unavailable(ctx, err))
		}
		return nil
	}
	n, err := s.deleteBatches(ctx, opts.BatchSize, insert, func() { body, out.Record = nil, rec }, // stored: later batches only delete
		`WITH v AS (SELECT seq FROM seals WHERE chain = $1 AND seq <= $2 ORDER BY seq LIMIT $3),
		ds AS (DELETE FROM seals s USING v WHERE s.chain = $1 AND s.seq = v.seq RETURNING s.id, s.time),
		de AS (DELETE FROM events e USING ds WHERE e.time = ds.time AND e.id = ds.id),
		di AS (DELETE FROM event_ids i USING ds WHERE i.id = ds.id)
		SELECT count(*) FROM ds`,
		chain, int64(out.UpToSeq))
	out.Deleted = n
	if err != nil {
		return fail(fmt.Errorf("delete events: %w", err))
	}
	return out
}

// cutCheckpoint returns the chain's last checkpoint with a ToSeq of at
// most limit and beyond last's cut whose signed time is before before,
// verified with a trusted key; ok is false when there is none. A
// checkpoint in that range whose signature does not verify under a
// trusted key is an error: its time cannot be read.
func (s *Store) cutCheckpoint(ctx context.Context, chain string, limit int64, last *integrity.PruneRecord, before time.Time, trusted map[string]ed25519.PublicKey) (integrity.Checkpoint, bool, error) {
	after := int64(0)
	if last != nil {
		after = int64(last.UpToSeq)
	}
	if limit <= after {
		return integrity.Checkpoint{}, false, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT body FROM checkpoints WHERE chain = $1 AND to_seq <= $2 AND to_seq > $3 ORDER BY to_seq DESC`,
		chain, limit, after)
	if err != nil {
		return integrity.Checkpoint{}, false, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return integrity.Checkpoint{}, false, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
		}
		var cp integrity.Checkpoint
		if err := json.Unmarshal(b, &cp); err != nil {
			return cp, false, fmt.Errorf("read checkpoint: %w", err)
		}
		pub := trusted[cp.KeyID]
		if pub == nil {
			return cp, false, fmt.Errorf("checkpoint %d..%d is signed by key %s, which is not trusted: %w", cp.FromSeq, cp.ToSeq, cp.KeyID, integrity.ErrBadSignature)
		}
		if err := cp.Verify(pub); err != nil {
			return cp, false, fmt.Errorf("checkpoint %d..%d: %w", cp.FromSeq, cp.ToSeq, err)
		}
		if cp.Time.Before(before) {
			return cp, true, nil
		}
	}
	if err := rows.Err(); err != nil {
		return integrity.Checkpoint{}, false, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	return integrity.Checkpoint{}, false, nil
}

// verifyToCut verifies the chain (integrity.Verifier, with the trusted
// keys and opts.HMACKeys) and refuses the cut when any finding lies at
// or below it, or concerns the whole chain: the events about to be
// deleted must be the ones the checkpoint signed.
func (s *Store) verifyToCut(ctx context.Context, chain string, cut uint64, opts *PruneOptions, trusted map[string]ed25519.PublicKey) error {
	pubs := make([]ed25519.PublicKey, 0, len(trusted))
	for _, p := range trusted {
		pubs = append(pubs, p)
	}
	rep, err := integrity.NewVerifier(s, &integrity.VerifierOptions{Chains: []string{chain}, PublicKeys: pubs, HMACKeys: opts.HMACKeys, MaxFindings: -1}).Verify(ctx)
	if err != nil {
		return err
	}
	for _, f := range rep.Findings {
		if f.Seq <= cut {
			return fmt.Errorf("cut at seq %d refused: the chain does not verify up to it: %s", cut, f)
		}
	}
	return nil
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
