package integrity

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// prunes reads the chain's pruning records, when the Source has them,
// reports those that do not hold, and keeps the verified one with the
// highest cut. A record holds when its signature is valid under a
// trusted key, it names this chain, a valid checkpoint (store or
// witness) ends at its cut with the hash it names, and its tree with
// its cut hash appended has that checkpoint's TreeRoot.
func (c *chainRun) prunes(ctx context.Context) error {
	ps, ok := c.v.src.(PruneSource)
	if !ok {
		return nil
	}
	recs, err := ps.Prunes(ctx, c.info.ID)
	if err != nil {
		return fmt.Errorf("verify: read prune records of chain %s: %w", c.info.ID, err)
	}
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b PruneRecord) int { return cmp.Compare(a.UpToSeq, b.UpToSeq) })
	for i := range recs {
		p := &recs[i]
		f := Finding{Chain: c.info.ID, Seq: 1, EndSeq: p.UpToSeq}
		if p.UpToSeq <= 1 {
			f.EndSeq = 0
		}
		if p.UpToSeq == 0 {
			f.Seq = 0
		}
		where := fmt.Sprintf("prune record up to seq %d", p.UpToSeq)
		if p.Chain != c.info.ID {
			f.Reason, f.Detail = ReasonCheckpointMismatch, fmt.Sprintf("%s is stored with chain %s but names chain %s", where, c.info.ID, p.Chain)
			c.add(f)
			continue
		}
		if err := c.verifyPruneSig(p); err != nil {
			f.Reason, f.Detail = ReasonBadSignature, fmt.Sprintf("%s: %v; the events it pruned count as missing", where, err)
			c.add(f)
			continue
		}
		var at *cpCheck // the valid checkpoint that ends at the cut with the named hash
		var other *cpCheck
		for _, k := range c.cps {
			if k.cp.ToSeq == p.UpToSeq {
				if k.hash == p.Checkpoint {
					at = k
					break
				}
				other = k
			}
		}
		if at == nil {
			f.Reason = ReasonCheckpointMismatch
			if other != nil {
				f.Detail = fmt.Sprintf("%s names checkpoint %s, but the checkpoint %d..%d is %s", where, p.Checkpoint, other.cp.FromSeq, other.cp.ToSeq, other.hash)
			} else {
				f.Detail = fmt.Sprintf("%s names checkpoint %s, but no valid checkpoint ends at seq %d", where, p.Checkpoint, p.UpToSeq)
			}
			c.add(f)
			continue
		}
		front, err := p.frontier()
		if err != nil { // cannot happen: Validate checked the tree's size
			f.Reason, f.Detail = ReasonCheckpointMismatch, fmt.Sprintf("%s: tree: %v", where, err)
			c.add(f)
			continue
		}
		if front.root() != at.cp.TreeRoot {
			f.Reason, f.Detail = ReasonCheckpointMismatch, fmt.Sprintf("%s: its cut hash %s and tree do not make the tree root of checkpoint %d..%d", where, p.CutHash, at.cp.FromSeq, at.cp.ToSeq)
			c.add(f)
			continue
		}
		if p.UpToSeq > c.cut {
			c.cut, c.cutHash, c.front = p.UpToSeq, p.CutHash, front
		}
	}
	return nil
}

func (c *chainRun) verifyPruneSig(p *PruneRecord) error {
	pub := c.v.pubs[p.KeyID]
	if pub == nil {
		if err := p.Validate(); err != nil {
			return err
		}
		return fmt.Errorf("signed by key %s, which is not trusted: %w", p.KeyID, ErrBadSignature)
	}
	return p.Verify(pub)
}
