package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// entryEvent decodes an entry's canonical bytes into e, as
// integrity.WriteBundle does: false when they do not round-trip (a row
// damaged in the store).
func entryEvent(ent *integrity.Entry, e *activitylog.Event, buf *[]byte) bool {
	*e = activitylog.Event{}
	if bytes.IndexByte(ent.Canonical, 0) >= 0 || json.Unmarshal(ent.Canonical, e) != nil {
		return false
	}
	again, err := activitylog.AppendCanonical((*buf)[:0], e)
	*buf = again
	return err == nil && bytes.Equal(again, ent.Canonical)
}

// pick reports whether the entry is one of sel's events, decoding it
// into e. An entry that does not decode is an error: its bytes cannot
// be restored, and leaving it out would lose it.
func (sel *selection) pick(ent *integrity.Entry, e *activitylog.Event, buf *[]byte) (bool, error) {
	// Cheap checks on what the store gave beside the bytes first.
	if ent.Kind != "" && ent.Kind != sel.kind || !ent.Time.IsZero() && (ent.Time.Before(sel.from) || !ent.Time.Before(sel.to)) {
		return false, nil
	}
	if !entryEvent(ent, e, buf) {
		where := "unsealed"
		if ent.Seal != nil {
			where = fmt.Sprintf("chain %s seq %d", ent.Seal.Chain, ent.Seal.Seq)
		}
		return false, fmt.Errorf("event %s (%s): its stored bytes are not an event's canonical form; run activitylog verify", ent.EventID, where)
	}
	return sel.match(e), nil
}

// exportSealed writes sel's events of a store that keeps seals: for
// each chain that holds some, its chain record, its checkpoints up to
// the first that covers them all (the anchor; for a pruned chain, from
// the one at its last cut, with its pruning record), the consistency
// proofs between them, and its selected events with an inclusion proof
// to the anchor; then the selected events without a seal. Events at or
// below a chain's cut, which a prune stopped half way left, have no
// proof: they are left out and counted as released (File.Released). It
// reads each chain twice: once to find its selected events, once to
// write them.
func (ar *Archiver) exportSealed(ctx context.Context, bw *integrity.BundleWriter, sel *selection, chains []integrity.ChainInfo) (events, sealed, released int, err error) {
	var e activitylog.Event
	var buf []byte
	for _, ch := range chains {
		// A pruned chain's file begins at its last cut: the pruning
		// record stands for the events before it (its tree for their
		// part of the Merkle tree), and the checkpoint at the cut is
		// the first one carried.
		var cut *integrity.PruneRecord
		if ps, ok := ar.src.(integrity.PruneSource); ok {
			prunes, err := ps.Prunes(ctx, ch.ID)
			if err != nil {
				return events, sealed, released, fmt.Errorf("read pruning records of chain %s: %w", ch.ID, err)
			}
			for i := range prunes {
				if cut == nil || prunes[i].UpToSeq > cut.UpToSeq {
					cut = &prunes[i]
				}
			}
		}
		below := func(s *integrity.Seal) bool { return cut != nil && s.Seq <= cut.UpToSeq }
		var n int
		var last uint64
		err := ar.src.Entries(ctx, ch.ID, func(ent integrity.Entry) error {
			if ent.Seal == nil {
				return fmt.Errorf("event %s has only part of a seal; run activitylog verify", ent.EventID)
			}
			ok, err := sel.pick(&ent, &e, &buf)
			switch {
			case ok && below(ent.Seal):
				released++
			case ok:
				n++
				last = max(last, ent.Seal.Seq)
			}
			return err
		})
		if err != nil {
			return events, sealed, released, fmt.Errorf("read chain %s: %w", ch.ID, err)
		}
		if n == 0 {
			continue
		}
		cps, err := ar.src.Checkpoints(ctx, ch.ID)
		if err != nil {
			return events, sealed, released, fmt.Errorf("read checkpoints of chain %s: %w", ch.ID, err)
		}
		if cut != nil {
			cps = slices.DeleteFunc(cps, func(cp integrity.Checkpoint) bool { return cp.ToSeq < cut.UpToSeq })
		}
		anchor := -1
		for i, cp := range cps {
			if cp.ToSeq >= last {
				anchor = i
				break
			}
		}
		if anchor < 0 {
			return events, sealed, released, fmt.Errorf("chain %s: no signed checkpoint covers seq %d yet, so its events cannot be proven; flush the sealing writer (it checkpoints on a ticker) and run again", ch.ID, last)
		}
		cps = cps[:anchor+1]
		size := cps[anchor].ToSeq
		hashes := func(from, to uint64) ([]integrity.Hash, error) { return ar.src.Hashes(ctx, ch.ID, from, to) }
		var tree *integrity.ProofTree
		if cut != nil {
			tree, err = integrity.NewProofTreeAfter(cut, size, hashes)
		} else {
			tree, err = integrity.NewProofTree(size, hashes)
		}
		if err != nil {
			return events, sealed, released, fmt.Errorf("chain %s: cannot make proofs (run activitylog verify to see what is wrong): %w", ch.ID, err)
		}
		if err := bw.Chain(ch); err != nil {
			return events, sealed, released, err
		}
		for _, cp := range cps {
			if err := bw.Checkpoint(cp); err != nil {
				return events, sealed, released, err
			}
		}
		if cut != nil {
			if err := bw.Prune(*cut); err != nil {
				return events, sealed, released, err
			}
		}
		for i := 1; i < len(cps); i++ {
			s1, s2 := cps[i-1].ToSeq, cps[i].ToSeq
			if s1 < 1 || s1 >= s2 {
				continue
			}
			p, err := tree.Consistency(s1, s2)
			if err != nil {
				return events, sealed, released, fmt.Errorf("chain %s: %w", ch.ID, err)
			}
			if err := bw.Consistency(integrity.BundleConsistency{Chain: ch.ID, Size1: s1, Size2: s2, Path: p}); err != nil {
				return events, sealed, released, err
			}
		}
		m := 0
		err = ar.src.Entries(ctx, ch.ID, func(ent integrity.Entry) error {
			if ent.Seal == nil {
				return fmt.Errorf("event %s has only part of a seal; run activitylog verify", ent.EventID)
			}
			ok, err := sel.pick(&ent, &e, &buf)
			if err != nil || !ok || below(ent.Seal) {
				return err
			}
			if ent.Seal.Seq > size {
				return fmt.Errorf("event %s at seq %d was not there on the first read (the anchor covers %d); run again", ent.EventID, ent.Seal.Seq, size)
			}
			p, err := tree.Inclusion(ent.Seal.Seq, size)
			if err != nil {
				return fmt.Errorf("seq %d: %w", ent.Seal.Seq, err)
			}
			m++
			return bw.Event(&e, nil, ent.Seal, &integrity.BundleProof{TreeSize: size, Path: p})
		})
		if err != nil {
			return events, sealed, released, fmt.Errorf("read chain %s: %w", ch.ID, err)
		}
		events += m
		sealed += m
	}
	err = ar.src.Unsealed(ctx, func(ent integrity.Entry) error {
		ok, err := sel.pick(&ent, &e, &buf)
		if err != nil || !ok {
			return err
		}
		events++
		return bw.Event(&e, nil, nil, nil)
	})
	if err != nil {
		return events, sealed, released, fmt.Errorf("read unsealed events: %w", err)
	}
	return events, sealed, released, nil
}
