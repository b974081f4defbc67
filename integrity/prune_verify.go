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

// span is what the filters select of one chain, seen in seq order: the
// seqs of the selected events, of the events within the time window,
// and around the window, from which the chain's selected span comes
// (see chainRun.listed).
type span struct {
	lo, hi   uint64 // seqs of the first and last selected event; 0: none
	wlo, whi uint64 // of the first and last event within From..To; 0: none
	early    uint64 // the last seq of an event before From; 0: none
	late     uint64 // the first seq after early of an event at or after To; 0: none
}

// see takes the event at seq, which must not be lower than any seen.
func (s *span) see(seq uint64, sel bool, when int8) {
	if sel {
		if s.lo == 0 {
			s.lo = seq
		}
		s.hi = seq
	}
	switch when {
	case whenIn:
		if s.wlo == 0 {
			s.wlo = seq
		}
		s.whi = seq
	case whenEarly:
		s.early, s.late = seq, 0
	case whenLate:
		if s.late == 0 {
			s.late = seq
		}
	}
}

// bounds returns the chain's selected span, from..to (to 0: unbounded);
// ok is false when it is empty.
//
//   - With From or To: the events within the window, of any kind, from
//     the seq before the first to the seq after the last; when there is
//     none, from the last event before From (seq 0 when none) to the
//     first event after it at or after To (unbounded when none): where
//     the window's events would be.
//   - With Kinds only: from the seq before the first selected event to
//     the seq after the last; empty when none is selected.
func (c *chainRun) bounds() (from, to uint64, ok bool) {
	s := &c.span
	if c.v.hasTime {
		if s.wlo != 0 {
			return s.wlo - 1, s.whi + 1, true
		}
		return s.early, s.late, true
	}
	if s.lo != 0 {
		return s.lo - 1, s.hi + 1, true
	}
	return 0, 0, false
}

// listed reports whether the filters list the finding: all are listed
// without filters; one judged by its event when that event is
// selected; one judged by its seqs when they touch the chain's
// selected span (bounds), and one of the whole chain (seq 0) when that
// span is not empty.
func (c *chainRun) listed(p pending) bool {
	if !c.v.filtered {
		return true
	}
	if p.ev {
		return p.sel
	}
	from, to, ok := c.bounds()
	if !ok {
		return false
	}
	if p.f.Seq == 0 {
		return true
	}
	a, b := p.f.Seq, max(p.f.Seq, p.f.EndSeq)
	return b >= from && (to == 0 || a <= to)
}
