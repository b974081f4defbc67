package integrity

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
)

// The store-independent part of a store's Prune (sqlite.Store.Prune,
// postgres.Store.Prune): checking the options, choosing each chain's
// cut, verifying the chain up to it and making the signed pruning
// record. The store keeps only its storage steps (PruneStore).

// DefaultPruneBatch is how many events a store's Prune deletes per
// transaction when PruneOptions.BatchSize is zero.
const DefaultPruneBatch = 5000

// PruneOptions configures a store's Prune. Before, SigningKey, Policy
// and Actor are required; the zero value of each other field means the
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
	// pruning never holds a transaction (or sqlite's write lock) long.
	// Default: 5000.
	BatchSize int
	// HMACKeys are the keys of keyed chains (by id), with which Prune
	// verifies a chain's events up to the cut before it deletes them. A
	// keyed chain whose key is not given is not pruned. Default: none.
	HMACKeys []*HMACKey
	// Chains limits pruning to these chains; unsealed events are then
	// left alone. Default: every chain, and the unsealed events.
	Chains []string
	// Now gives the records' time. Default: time.Now.
	Now func() time.Time
}

// PruneResult says what a store's Prune did.
type PruneResult struct {
	// Chains has one entry per chain looked at, by chain id.
	Chains []ChainPrune `json:"chains"`
	// Unsealed counts the unsealed events deleted; Deleted all events
	// deleted, sealed and unsealed.
	Unsealed int64 `json:"unsealed"`
	Deleted  int64 `json:"deleted"`
}

// ChainPrune is what a store's Prune did to one chain.
type ChainPrune struct {
	Chain string `json:"chain"`
	// UpToSeq is the chain's cut after Prune (0: none): the events
	// 1..UpToSeq are deleted, unless Err says why not all.
	UpToSeq uint64 `json:"up_to_seq"`
	// Record is the pruning record this call stored, nil when it stored
	// none: no checkpoint was old enough to cut at beyond the chain's
	// last record (whose leftover events, from an interrupted Prune,
	// are deleted all the same).
	Record *PruneRecord `json:"record,omitempty"`
	// Deleted counts the chain's events deleted.
	Deleted int64 `json:"deleted"`
	// Err is why the chain could not be pruned, or not to the end; the
	// same error is in the one Prune returns.
	Err error `json:"-"`
}

// PruneStore is what RunPrune reads from and deletes in a store: the
// Source the Verifier reads (with the stored event hashes and pruning
// records) and the store's storage steps. Errors are the store's own,
// wrapping activitylog.ErrUnavailable when the database failed.
type PruneStore interface {
	BundleSource
	PruneSource
	// LastSeq returns the highest seq of chain's stored events, 0 when
	// it has none.
	LastSeq(ctx context.Context, chain string) (uint64, error)
	// CutCheckpoints calls fn with the stored JSON body of each of
	// chain's checkpoints whose ToSeq is in (after, upTo], by
	// descending ToSeq, until fn returns false or an error (which it
	// returns).
	CutCheckpoints(ctx context.Context, chain string, after, upTo uint64, fn func(body []byte) (bool, error)) error
	// DeleteChain deletes chain's events with a seq of at most upTo by
	// ascending seq, in transactions of batch events each. When record
	// is not nil (the JSON of a new pruning record, whose UpToSeq is
	// upTo) it stores it in the first batch's transaction, before any
	// event is gone, and reports stored once that has committed. It
	// returns how many events it deleted.
	DeleteChain(ctx context.Context, chain string, upTo uint64, record []byte, batch int) (deleted int64, stored bool, err error)
	// DeleteUnsealed deletes the events that have no seal and whose
	// time column is before before, in transactions of batch events
	// each, and returns how many it deleted.
	DeleteUnsealed(ctx context.Context, before time.Time, batch int) (int64, error)
}

// RunPrune is a store's Prune, on the store's storage steps st. It
// deletes events by retention without breaking the trail's proof: it
// is the call a retention scheduler makes, and the only deletion the
// verifier accepts. For each chain it:
//
//  1. finds the cut: the highest ToSeq of a checkpoint (verified with
//     a trusted key) whose signed Time is before Before, and that is
//     below the chain's last stored event (which is kept, since a
//     Writer continuing the chain checks its state against it). The
//     events' time column is never read for a chain: whoever can write
//     to the database can edit it, the checkpoint's time is signed;
//  2. when the cut is beyond the chain's last pruning record, verifies
//     the chain (a Verifier with the trusted keys and HMACKeys, every
//     event's hash recomputed) and refuses the cut, with an error
//     naming the chain and the finding, when any finding lies at or
//     below it or concerns the whole chain; then makes a new record
//     (NewPruneRecord, which refuses when the stored hashes do not
//     make the checkpoint's tree root: such a chain is left for the
//     verifier to explain), signs it, and stores it in the transaction
//     of the first batch it deletes, before any event is gone;
//  3. deletes the events up to the cut by ascending seq, in
//     transactions of BatchSize events each (st.DeleteChain). An
//     interrupted Prune leaves some events below a stored cut, which
//     verify as usual; the next Prune deletes them.
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
func RunPrune(ctx context.Context, st PruneStore, opts PruneOptions) (PruneResult, error) {
	var res PruneResult
	trusted, err := prepare(&opts)
	if err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	var chains []string
	if len(opts.Chains) > 0 {
		for _, c := range opts.Chains {
			if err := ValidateChainID(c); err != nil {
				return res, fmt.Errorf("prune: %w", err)
			}
		}
		chains = opts.Chains
	} else {
		infos, err := st.Chains(ctx)
		if err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		for _, c := range infos {
			chains = append(chains, c.ID)
		}
	}
	var errs []error
	for _, chain := range chains {
		cp := pruneChain(ctx, st, chain, &opts, trusted)
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
		n, err := st.DeleteUnsealed(ctx, opts.Before, opts.BatchSize)
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

// prepare checks opts, fills in its defaults and returns the trusted
// public keys by key id.
func prepare(opts *PruneOptions) (map[string]ed25519.PublicKey, error) {
	if opts.Before.IsZero() {
		return nil, activitylog.Invalid("before", "", "must be set")
	}
	if t := opts.Before; !time.Unix(0, t.UnixNano()).Equal(t) {
		return nil, activitylog.Invalid("before", t.Format(time.RFC3339Nano), "must be between the years 1678 and 2261")
	}
	if opts.BatchSize < 0 {
		return nil, activitylog.Invalid("batch size", strconv.Itoa(opts.BatchSize), "must not be negative")
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultPruneBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// The key, the policy and the actor are checked as a record checks
	// them, before anything is read.
	probe := PruneRecord{Version: PruneVersion, Chain: "probe", UpToSeq: 1, Policy: opts.Policy, Actor: opts.Actor, Time: opts.Now()}
	if err := probe.Sign(opts.SigningKey); err != nil {
		return nil, err
	}
	trusted := map[string]ed25519.PublicKey{}
	for _, p := range append([]ed25519.PublicKey{opts.SigningKey.Public().(ed25519.PublicKey)}, opts.PublicKeys...) {
		if len(p) != ed25519.PublicKeySize {
			return nil, activitylog.Invalid("public key", fmt.Sprintf("%d bytes", len(p)), "is not an Ed25519 public key")
		}
		trusted[KeyID(p)] = p
	}
	return trusted, nil
}

// prunePlan is what planPrune decided for one chain.
type prunePlan struct {
	// UpToSeq is the chain's cut (0: none): its last pruning record's,
	// or Record's when there is one.
	UpToSeq uint64
	// Record is the new signed pruning record to store before any event
	// is deleted; nil when no checkpoint is old enough to cut at beyond
	// the chain's last record.
	Record *PruneRecord
}

// planPrune chooses chain's cut (opts must have been checked: the
// trusted keys are by key id): the highest ToSeq of a checkpoint
// (verified with a trusted key) whose signed Time is before
// opts.Before and that is below the chain's last stored event. The
// events' time column is never read: the checkpoint's time is signed.
// When the cut is beyond the chain's last pruning record, it verifies
// the chain up to it and makes the new record, signed with
// opts.SigningKey at opts.Now. An error refuses the cut.
func planPrune(ctx context.Context, st PruneStore, chain string, opts *PruneOptions, trusted map[string]ed25519.PublicKey) (prunePlan, error) {
	var plan prunePlan
	recs, err := st.Prunes(ctx, chain)
	if err != nil {
		return plan, err
	}
	var last *PruneRecord
	if n := len(recs); n > 0 {
		last = &recs[n-1]
		if last.Signature == nil {
			return plan, fmt.Errorf("the pruning record up to seq %d cannot be read", last.UpToSeq)
		}
		plan.UpToSeq = last.UpToSeq
	}
	lastSeq, err := st.LastSeq(ctx, chain)
	if err != nil {
		return plan, fmt.Errorf("read the last seq: %w", err)
	}
	// The last stored event is kept: a Writer continuing the chain
	// checks its state against it.
	limit := int64(lastSeq) - 1
	if last != nil && uint64(max(limit, 0)) <= last.UpToSeq {
		return plan, nil
	}
	cp, ok, err := cutCheckpoint(ctx, st, chain, limit, last, opts.Before, trusted)
	if err != nil || !ok {
		return plan, err
	}
	if err := verifyToCut(ctx, st, chain, cp.ToSeq, opts, trusted); err != nil {
		return plan, err
	}
	r, err := NewPruneRecord(cp, last, func(from, to uint64) ([]Hash, error) {
		return st.Hashes(ctx, chain, from, to)
	})
	if err != nil {
		return plan, err
	}
	r.Policy, r.Actor, r.Time = opts.Policy, opts.Actor, opts.Now().UTC()
	if err := r.Sign(opts.SigningKey); err != nil {
		return plan, err
	}
	plan.Record, plan.UpToSeq = &r, r.UpToSeq
	return plan, nil
}

// pruneChain prunes one chain: plans the cut, then has st store the
// record and delete up to the cut (also when there is no new record:
// the leftover events of an interrupted Prune).
func pruneChain(ctx context.Context, st PruneStore, chain string, opts *PruneOptions, trusted map[string]ed25519.PublicKey) ChainPrune {
	out := ChainPrune{Chain: chain}
	fail := func(err error) ChainPrune {
		out.Err = fmt.Errorf("chain %s: %w", chain, err)
		return out
	}
	plan, err := planPrune(ctx, st, chain, opts, trusted)
	out.UpToSeq = plan.UpToSeq
	if err != nil {
		return fail(err)
	}
	if out.UpToSeq == 0 {
		return out
	}
	var body []byte
	if plan.Record != nil {
		if body, err = json.Marshal(plan.Record); err != nil {
			return fail(err)
		}
	}
	n, stored, err := st.DeleteChain(ctx, chain, out.UpToSeq, body, opts.BatchSize)
	out.Deleted = n
	if stored {
		out.Record = plan.Record
	}
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
func cutCheckpoint(ctx context.Context, st PruneStore, chain string, limit int64, last *PruneRecord, before time.Time, trusted map[string]ed25519.PublicKey) (cp Checkpoint, ok bool, err error) {
	after := int64(0)
	if last != nil {
		after = int64(last.UpToSeq)
	}
	if limit <= after {
		return cp, false, nil
	}
	err = st.CutCheckpoints(ctx, chain, uint64(after), uint64(limit), func(b []byte) (bool, error) {
		var c Checkpoint
		if err := json.Unmarshal(b, &c); err != nil {
			return false, fmt.Errorf("read checkpoint: %w", err)
		}
		pub := trusted[c.KeyID]
		if pub == nil {
			return false, fmt.Errorf("checkpoint %d..%d is signed by key %s, which is not trusted: %w", c.FromSeq, c.ToSeq, c.KeyID, ErrBadSignature)
		}
		if err := c.Verify(pub); err != nil {
			return false, fmt.Errorf("checkpoint %d..%d: %w", c.FromSeq, c.ToSeq, err)
		}
		if c.Time.Before(before) {
			cp, ok = c, true
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return Checkpoint{}, false, err
	}
	return cp, ok, nil
}

// verifyToCut verifies the chain (a Verifier, with the trusted keys and
// opts.HMACKeys) and refuses the cut when any finding lies at or below
// it, or concerns the whole chain: the events about to be deleted must
// be the ones the checkpoint signed.
func verifyToCut(ctx context.Context, st PruneStore, chain string, cut uint64, opts *PruneOptions, trusted map[string]ed25519.PublicKey) error {
	pubs := make([]ed25519.PublicKey, 0, len(trusted))
	for _, p := range trusted {
		pubs = append(pubs, p)
	}
	rep, err := NewVerifier(st, &VerifierOptions{Chains: []string{chain}, PublicKeys: pubs, HMACKeys: opts.HMACKeys, MaxFindings: -1}).Verify(ctx)
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
