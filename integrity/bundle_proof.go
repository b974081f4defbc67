package integrity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/activitylog/activitylog"
	"github.com/transparency-dev/merkle/proof"
)

// ProofTree holds every node of a chain's Merkle tree over its first
// Size event hashes, so that many inclusion and consistency proofs are
// made in O(log n) each: what an export with proofs needs, where
// InclusionProof would rehash the whole tree for every event. It holds
// about 64 bytes per event.
//
// A tree made by NewProofTreeAfter holds only what a pruning record
// leaves: the nodes at or after its cut, and the record's compact range
// for what came before. It proves every seq after the cut in every tree
// of at least the cut's size; a proof that needs a node below the cut
// fails with ErrPrunedChain.
type ProofTree struct {
	// levels[k][i-off[k]] is the root of leaves i<<k .. (i+1)<<k - 1.
	levels [][]Hash
	off    []uint64
	size   uint64
}

// NewProofTree reads the event hashes 1..size through hashes, in ranges
// of at most 65536, and builds the tree.
func NewProofTree(size uint64, hashes HashesFunc) (*ProofTree, error) {
	return buildProofTree(tree{}, size, hashes)
}

// NewProofTreeAfter builds the tree of a chain pruned up to p.UpToSeq
// (size >= p.UpToSeq): it reads the event hashes p.UpToSeq+1..size
// through hashes and takes the part before from the record, its Tree
// with LeafHash(p.CutHash) appended. It trusts the record: a verifier
// checks the record's signature and that this part has the TreeRoot of
// the checkpoint at the cut.
func NewProofTreeAfter(p *PruneRecord, size uint64, hashes HashesFunc) (*ProofTree, error) {
	if p.UpToSeq < 1 || p.UpToSeq > size {
		return nil, fmt.Errorf("build proof tree: a cut at seq %d in a tree of %d", p.UpToSeq, size)
	}
	front, err := p.frontier()
	if err != nil {
		return nil, fmt.Errorf("build proof tree: prune record up to seq %d: %w", p.UpToSeq, err)
	}
	return buildProofTree(front, size, hashes)
}

// buildProofTree builds the tree of size leaves whose first front.size()
// leaves are known only by front's compact range (none when front is
// the zero tree), and reads the event hashes of the others.
func buildProofTree(front tree, size uint64, hashes HashesFunc) (*ProofTree, error) {
	var cut uint64
	var fr []Hash // front's subtree roots, the largest (leftmost) first
	if front.c != nil {
		cut, fr = front.size(), front.state()
	}
	t := &ProofTree{size: size}
	// Level k starts at the last node that lies wholly within the first
	// cut leaves, when that node is one of front's (bit k of cut is
	// set), else at the first node that does not.
	frontAt := func(k int) (Hash, bool) {
		if cut>>k&1 == 0 {
			return Hash{}, false
		}
		// front holds one root per bit set in cut, highest bit first.
		return fr[bits.OnesCount64(cut>>(k+1))], true
	}
	lv := make([]Hash, 0, size-cut+1)
	off := cut
	if h, ok := frontAt(0); ok {
		lv, off = append(lv, h), cut-1
	}
	for from := cut + 1; from <= size; {
		to := min(size, from+readChunk-1)
		hs, err := hashes(from, to)
		if err != nil {
			return nil, fmt.Errorf("build proof tree: %w", err)
		}
		if uint64(len(hs)) != to-from+1 {
			return nil, fmt.Errorf("build proof tree: read hashes of seqs %d to %d: got %d", from, to, len(hs))
		}
		for _, h := range hs {
			lv = append(lv, LeafHash(h))
		}
		from = to + 1
	}
	t.levels, t.off = append(t.levels, lv), append(t.off, off)
	for k := 1; size>>k > 0; k++ {
		below, belowOff := t.levels[k-1], t.off[k-1]
		first := cut >> k // the first node not wholly within the cut
		up := make([]Hash, 0, size>>k-first+1)
		off := first
		if h, ok := frontAt(k); ok {
			up, off = append(up, h), first-1
		}
		for i := first; i < size>>k; i++ {
			// Its children are 2i and 2i+1, neither wholly within the cut
			// but perhaps the left one, which is then front's.
			l, r := 2*i-belowOff, 2*i+1-belowOff
			up = append(up, Hash(nodeHash(below[l][:], below[r][:])))
		}
		t.levels, t.off = append(t.levels, up), append(t.off, off)
	}
	return t, nil
}

// Size returns the number of leaves.
func (t *ProofTree) Size() uint64 { return t.size }

func (t *ProofTree) rehash(nodes proof.Nodes) ([]Hash, error) {
	hs := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if int(id.Level) >= len(t.levels) || id.Index >= t.off[id.Level]+uint64(len(t.levels[id.Level])) {
			return nil, fmt.Errorf("build proof: node %d/%d is beyond the tree of %d", id.Level, id.Index, t.Size())
		}
		if id.Index < t.off[id.Level] {
			return nil, fmt.Errorf("build proof: node %d/%d lies before the pruning cut: %w", id.Level, id.Index, ErrPrunedChain)
		}
		h := t.levels[id.Level][id.Index-t.off[id.Level]]
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

// pruneAnchor returns the chain's pruning record with the highest cut
// among those signed by a trusted key, nil for none, and reports the
// others that are not (bad_signature). A bundle of selected events of
// a pruned chain begins at its cut: the record's tree stands for the
// pruned events, and the checkpoint at the cut is the first one that
// the consistency proofs link (verifyProofs checks that the record
// names it and makes its tree root).
func (b *Bundle) pruneAnchor(chain string, pubs map[string]ed25519.PublicKey, add func(Finding)) *PruneRecord {
	var best *PruneRecord
	recs := b.prunes[chain]
	for i := range recs {
		p := &recs[i]
		f := Finding{Reason: ReasonBadSignature, Chain: chain, Seq: 1, EndSeq: p.UpToSeq}
		if p.UpToSeq <= 1 {
			f.EndSeq = 0
		}
		where := fmt.Sprintf("prune record up to seq %d", p.UpToSeq)
		if p.Chain != chain {
			f.Reason, f.Detail = ReasonCheckpointMismatch, fmt.Sprintf("%s is carried with chain %s but names chain %s", where, chain, truncate(p.Chain, 130))
			add(f)
			continue
		}
		pub := pubs[p.KeyID]
		if pub == nil {
			f.Detail = fmt.Sprintf("%s: signed by key %s, which is not trusted", where, p.KeyID)
			add(f)
			continue
		}
		if err := p.Verify(pub); err != nil {
			f.Detail = fmt.Sprintf("%s: %v", where, err)
			add(f)
			continue
		}
		if best == nil || p.UpToSeq > best.UpToSeq {
			best = p
		}
	}
	if best != nil && !slices.ContainsFunc(b.cps[chain], func(cp Checkpoint) bool { return cp.ToSeq == best.UpToSeq && cp.Hash() == best.Checkpoint }) {
		add(Finding{Reason: ReasonCheckpointMismatch, Chain: chain, Seq: best.UpToSeq,
			Detail: fmt.Sprintf("the prune record up to seq %d names checkpoint %s, which the bundle does not hold", best.UpToSeq, best.Checkpoint)})
	}
	return best
}

// frontRoot returns the root of the tree the record states over
// 1..UpToSeq; false when its tree is not the right size.
func (p *PruneRecord) frontRoot() (Hash, bool) {
	t, err := p.frontier()
	if err != nil {
		return Hash{}, false
	}
	return t.root(), true
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
		cut := b.pruneAnchor(info.ID, pubs, add)
		if cut != nil {
			cr.PrunedTo = cut.UpToSeq
		}
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
			if cut != nil && cp.ToSeq == cut.UpToSeq && cp.Hash() == cut.Checkpoint {
				// The checkpoint at the pruning cut: the record vouches
				// for the tree it signs (pruneAnchor checked its root),
				// so it needs no link to the pruned checkpoints before
				// it, and those prove nothing any more.
				if root, ok := cut.frontRoot(); !ok || root != cp.TreeRoot {
					fnd.Reason, fnd.Detail = ReasonCheckpointMismatch, fmt.Sprintf("the prune record up to seq %d: its cut hash and tree do not make this checkpoint's tree root", cut.UpToSeq)
					add(fnd)
					last = nil
					continue
				}
				for _, k := range lastValid {
					if st.valid[k.ToSeq] == k {
						delete(st.valid, k.ToSeq)
						cr.CheckpointsPruned++
					}
				}
				last, lastValid = cp, []*Checkpoint{cp}
				st.valid[cp.ToSeq] = cp
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
