package integrity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/activitylog/activitylog"
	"github.com/transparency-dev/merkle/proof"
)

// ProofTree holds every node of a chain's Merkle tree over its first
// Size event hashes, so that many inclusion and consistency proofs are
// made in O(log n) each: what an export with proofs needs, where
// InclusionProof would rehash the whole tree for every event. It holds
// about 64 bytes per event.
type ProofTree struct {
	levels [][]Hash // levels[0] are the leaf hashes; levels[k][i] the root of leaves i<<k .. (i+1)<<k - 1
}

// NewProofTree reads the event hashes 1..size through hashes, in ranges
// of at most 65536, and builds the tree.
func NewProofTree(size uint64, hashes HashesFunc) (*ProofTree, error) {
	t := &ProofTree{levels: [][]Hash{make([]Hash, 0, size)}}
	for from := uint64(1); from <= size; {
		to := min(size, from+readChunk-1)
		hs, err := hashes(from, to)
		if err != nil {
			return nil, fmt.Errorf("build proof tree: %w", err)
		}
		if uint64(len(hs)) != to-from+1 {
			return nil, fmt.Errorf("build proof tree: read hashes of seqs %d to %d: got %d", from, to, len(hs))
		}
		for _, h := range hs {
			t.levels[0] = append(t.levels[0], LeafHash(h))
		}
		from = to + 1
	}
	for lv := t.levels[0]; len(lv) > 1; {
		up := make([]Hash, len(lv)/2)
		for i := range up {
			up[i] = Hash(nodeHash(lv[2*i][:], lv[2*i+1][:]))
		}
		t.levels = append(t.levels, up)
		lv = up
	}
	return t, nil
}

// Size returns the number of leaves.
func (t *ProofTree) Size() uint64 { return uint64(len(t.levels[0])) }

func (t *ProofTree) rehash(nodes proof.Nodes) ([]Hash, error) {
	hs := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
			return nil, fmt.Errorf("build proof: node %d/%d is beyond the tree of %d", id.Level, id.Index, t.Size())
		}
		h := t.levels[id.Level][id.Index]
		hs[i] = h[:]
	}
	out, err := nodes.Rehash(hs, nodeHash)
	if err != nil {
		return nil, fmt.Errorf("build proof: %w", err)
	}
	return bytesToHashes(out)
}

// Inclusion returns the inclusion proof of seq in the tree of treeSize
// leaves (treeSize <= Size), as InclusionProof does.
func (t *ProofTree) Inclusion(seq, treeSize uint64) ([]Hash, error) {
	if seq < 1 || seq > treeSize || treeSize > t.Size() {
		return nil, fmt.Errorf("inclusion proof: seq %d in a tree of %d, of %d leaves held", seq, treeSize, t.Size())
	}
	nodes, err := proof.Inclusion(seq-1, treeSize)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return t.rehash(nodes)
}

// Consistency returns the consistency proof between the trees of size1
// and size2 leaves, as ConsistencyProof does.
func (t *ProofTree) Consistency(size1, size2 uint64) ([]Hash, error) {
	if size2 > t.Size() {
		return nil, fmt.Errorf("consistency proof: a tree of %d, of %d leaves held", size2, t.Size())
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	return t.rehash(nodes)
}

// verifyProofs checks a bundle of selected events: each event's hash
// from its bytes and prev, its inclusion proof against its checkpoint's
// tree root; each checkpoint's signature and its link to the one before;
// and the consistency proof between each two consecutive checkpoints.
func (b *Bundle) verifyProofs(ctx context.Context, o *VerifierOptions) (*Report, error) {
	pubs := map[string]ed25519.PublicKey{}
	for _, p := range o.PublicKeys {
		pubs[KeyID(p)] = p
	}
	macs := map[string]*HMACKey{}
	for _, k := range o.HMACKeys {
		macs[k.ID()] = k
	}
	rep := &Report{Counts: map[Reason]int{}, Findings: []Finding{}}
	add := func(f Finding) { rep.add(o.MaxFindings, f) }
	type chainState struct {
		cr      *ChainReport
		sealer  *sealer // nil: the chain's HMAC key is missing
		valid   map[uint64]*Checkpoint
		maxSize uint64
	}
	states := map[string]*chainState{}
	rep.Chains = make([]ChainReport, len(b.chains))
	for i, info := range b.chains {
		cr := &rep.Chains[i]
		*cr = ChainReport{ID: info.ID, KeyID: info.KeyID}
		st := &chainState{cr: cr, valid: map[uint64]*Checkpoint{}}
		states[info.ID] = st
		if info.KeyID == "" {
			st.sealer = newSealer(nil)
		} else if k := macs[info.KeyID]; k != nil {
			st.sealer = newSealer(k)
		} else {
			add(Finding{Reason: ReasonBadSignature, Chain: info.ID, Detail: "the chain is keyed with HMAC key " + info.KeyID + ", which was not given: its hashes are not recomputed"})
		}
		// Checkpoints: signature, then the link to the last valid one.
		var last *Checkpoint
		var lastValid []*Checkpoint
		cps := b.cps[info.ID]
		cr.Checkpoints = len(cps)
		rep.Checkpoints += len(cps)
		for j := range cps {
			cp := &cps[j]
			fnd := Finding{Chain: info.ID, Seq: cp.FromSeq, EndSeq: cp.ToSeq}
			if cp.FromSeq == cp.ToSeq {
				fnd.EndSeq = 0
			}
			pub := pubs[cp.KeyID]
			if cp.Chain != info.ID {
				fnd.Reason, fnd.Detail = ReasonCheckpointMismatch, "the checkpoint names chain "+cp.Chain
				add(fnd)
				continue
			}
			if pub == nil {
				fnd.Reason, fnd.Detail = ReasonBadSignature, "signed by key "+cp.KeyID+", which is not trusted"
				add(fnd)
				last = nil
				continue
			}
			if err := cp.Verify(pub); err != nil {
				fnd.Reason, fnd.Detail = ReasonBadSignature, err.Error()
				add(fnd)
				last = nil
				continue
			}
			ok := true
			if last != nil || len(lastValid) == 0 {
				var wantPrev Hash
				wantFrom := uint64(1)
				if last != nil {
					wantPrev, wantFrom = last.Hash(), last.ToSeq+1
				}
				if cp.Prev != wantPrev || cp.FromSeq != wantFrom {
					fnd.Reason, fnd.Detail = ReasonCheckpointMismatch, fmt.Sprintf("does not follow the checkpoint before it (from %d, want %d; or its prev differs): a checkpoint was removed or added", cp.FromSeq, wantFrom)
					add(fnd)
					ok = false
				}
			}
			last = cp
			lastValid = append(lastValid, cp)
			if ok {
				st.valid[cp.ToSeq] = cp
			}
		}
		// Consistency between consecutive valid checkpoints.
		cons := map[[2]uint64][]Hash{}
		for _, c := range b.cons[info.ID] {
			cons[[2]uint64{c.Size1, c.Size2}] = c.Path
		}
		for j := 1; j < len(lastValid); j++ {
			c1, c2 := lastValid[j-1], lastValid[j]
			fnd := Finding{Reason: ReasonCheckpointMismatch, Chain: info.ID, Seq: c2.FromSeq, EndSeq: c2.ToSeq}
			p, ok := cons[[2]uint64{c1.ToSeq, c2.ToSeq}]
			if !ok {
				fnd.Detail = fmt.Sprintf("no consistency proof between the checkpoints of tree sizes %d and %d", c1.ToSeq, c2.ToSeq)
				add(fnd)
				delete(st.valid, c2.ToSeq)
				continue
			}
			if err := VerifyConsistency(c1.ToSeq, c2.ToSeq, p, c1.TreeRoot, c2.TreeRoot); err != nil {
				fnd.Detail = fmt.Sprintf("the tree of size %d does not extend the tree of size %d: %v", c2.ToSeq, c1.ToSeq, err)
				add(fnd)
				delete(st.valid, c2.ToSeq)
			}
		}
		for size := range st.valid {
			st.maxSize = max(st.maxSize, size)
		}
		cr.CheckpointsVerified = len(st.valid)
		rep.CheckpointsVerified += len(st.valid)
		cr.Anchored = st.maxSize
	}

	// Each event is verified only through its inclusion proof to a
	// checkpoint that verifies with a trusted key: a chain record is not
	// signed (its key_id, or a whole chain, can be made up), nor is an
	// event's seq, so an event that only hashes right proves nothing.
	type chainSeq struct {
		chain string
		seq   uint64
	}
	ids := map[activitylog.ID]chainSeq{} // where each event id was first seen
	seqs := map[chainSeq]struct{}{}
	err := b.events(ctx, func(e Entry, p *BundleProof) error {
		rep.Total++
		if e.EventID != (activitylog.ID{}) {
			at := Finding{EventID: e.EventID}
			if e.Seal != nil {
				at.Chain, at.Seq = e.Seal.Chain, e.Seal.Seq
			}
			if first, ok := ids[e.EventID]; ok {
				at.Reason, at.Detail = ReasonInserted, fmt.Sprintf("a second event with id %s (the first is in chain %q at seq %d): one of them was added", e.EventID, truncate(first.chain, 130), first.seq)
				add(at)
			} else {
				ids[e.EventID] = chainSeq{at.Chain, at.Seq}
			}
		}
		if e.Seal == nil {
			rep.Unsealed++
			add(Finding{Reason: ReasonMissingHash, EventID: e.EventID, Detail: "the event has no seal"})
			return nil
		}
		st := states[e.Seal.Chain]
		if st == nil {
			return fmt.Errorf("read bundle: an event of chain %q, which the first pass did not see: the file changed since it was opened: %w", truncate(e.Seal.Chain, 130), ErrBundle)
		}
		st.cr.Entries++
		st.cr.Length = max(st.cr.Length, e.Seal.Seq)
		fnd := Finding{Chain: e.Seal.Chain, Seq: e.Seal.Seq, EventID: e.EventID}
		if _, ok := seqs[chainSeq{e.Seal.Chain, e.Seal.Seq}]; ok {
			fnd.Reason, fnd.Detail = ReasonInserted, fmt.Sprintf("a second event at seq %d of the chain: one of them was added", e.Seal.Seq)
			add(fnd)
			return nil
		}
		seqs[chainSeq{e.Seal.Chain, e.Seal.Seq}] = struct{}{}
		if st.sealer == nil {
			return nil // reported once for the chain
		}
		if h := st.sealer.hash(&e.Seal.Prev, e.Canonical); h != e.Seal.Hash {
			fnd.Reason, fnd.Detail = ReasonModified, "the event's bytes do not hash to its seal's hash"
			add(fnd)
			return nil
		}
		switch {
		case p == nil && e.Seal.Seq <= st.maxSize:
			fnd.Reason, fnd.Detail = ReasonInserted, fmt.Sprintf("no inclusion proof, though the checkpoint of tree size %d covers seq %d", st.maxSize, e.Seal.Seq)
		case p == nil:
			fnd.Reason, fnd.Detail = ReasonInserted, "no inclusion proof: in a bundle of selected events an event is verified only through its proof to a trusted checkpoint, and no verified checkpoint covers this seq (an export leaves such events out)"
		case st.valid[p.TreeSize] == nil:
			fnd.Reason, fnd.Detail = ReasonInserted, fmt.Sprintf("its proof is to a tree of size %d, which no verified checkpoint signs", p.TreeSize)
		default:
			if err := VerifyInclusion(e.Seal.Seq, p.TreeSize, e.Seal.Hash, p.Path, st.valid[p.TreeSize].TreeRoot); err != nil {
				fnd.Reason, fnd.Detail = ReasonInserted, fmt.Sprintf("not in the tree the checkpoint of size %d signs: %v", p.TreeSize, err)
			}
		}
		if fnd.Reason != "" {
			add(fnd)
			return nil
		}
		st.cr.Verified++
		rep.Verified++
		return nil
	})
	if err == nil {
		for _, st := range states {
			if st.cr.Entries > 0 && len(st.valid) == 0 {
				add(Finding{Reason: ReasonBadSignature, Chain: st.cr.ID, Detail: fmt.Sprintf("the chain holds %d events but no checkpoint that verifies with a trusted key: none of its events can be verified (a chain record is not signed; anyone can add one)", st.cr.Entries)})
			}
		}
	}
	if err != nil {
		if errors.Is(err, ErrBundle) {
			return nil, err
		}
		return nil, fmt.Errorf("verify bundle: %w", err)
	}
	sortFindings(rep.Findings)
	return rep, nil
}
