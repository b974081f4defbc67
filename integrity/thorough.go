package integrity

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/activitylog/activitylog"
)

// record is one sealed event of a chain, held in memory by the
// thorough pass.
type record struct {
	id         activitylog.ID
	seq        uint64
	prev, hash Hash
	selfOK     bool   // its bytes hash to its hash (true when the key is unknown)
	canon      []byte // kept when !selfOK, within bounds
	synthetic  *unsealed
	sel        bool // selected by the filters (counted)

	onChain  bool   // on the chain the links make (G)
	pos      uint64 // its position there
	fragment int    // which run of links it is in
	why      string // why it is not on the chain (inserted)
	broken   bool   // it begins a run with no gap in the seqs before it
	reason   Reason // its finding, if any
	detail   string
}

// thorough reads the whole chain into memory and explains every fault.
// The chain is rebuilt from the hash links, not from the stored seqs:
// from the genesis value, each event is followed by the one whose prev
// is its hash. Where the links break, the next run begins at the event
// of lowest seq whose prev is no stored hash. Events that no run takes
// were inserted; events the runs take at another seq than stored were
// reordered; seqs that no event holds are missing.
func (c *chainRun) thorough(ctx context.Context, tc *treeChecker) error {
	var recs []*record
	kept, keptBytes := 0, 0
	n := 0
	c.read = 0
	err := c.v.src.Entries(ctx, c.info.ID, func(e Entry) error {
		s := e.Seal
		if s == nil {
			c.addUnsealed(e)
			return nil
		}
		sel := c.v.selected(&e)
		if sel {
			n++
		}
		c.read++
		if s.Chain != c.info.ID {
			c.add(Finding{Reason: ReasonInserted, Chain: c.info.ID, Seq: s.Seq, EventID: e.EventID,
				Detail: fmt.Sprintf("stored in chain %s, its seal names chain %s", c.info.ID, s.Chain)})
			return nil
		}
		r := &record{id: e.EventID, seq: s.Seq, prev: s.Prev, hash: s.Hash, selfOK: true, sel: sel}
		if c.seal != nil && c.seal.hash(&s.Prev, e.Canonical) != s.Hash {
			r.selfOK = false
			if kept < keepMax && keptBytes+len(e.Canonical) <= keepBytes {
				r.canon = append([]byte(nil), e.Canonical...)
				kept++
				keptBytes += len(r.canon)
			}
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify: read chain %s: %w", c.info.ID, err)
	}
	c.cr.Entries = n
	slices.SortStableFunc(recs, func(a, b *record) int { return cmp.Compare(a.seq, b.seq) })
	c.repairSeals(recs)
	recs = c.matchUnsealed(recs)

	// The hash links.
	byHash := make(map[Hash]int, len(recs))
	byPrev := make(map[Hash][]int, len(recs))
	for i, r := range recs {
		if _, ok := byHash[r.hash]; !ok {
			byHash[r.hash] = i
		}
		byPrev[r.prev] = append(byPrev[r.prev], i)
	}
	visited := make([]bool, len(recs))
	var chain []int // G: the chain in link order
	occupied := map[uint64]bool{}
	fragment := 0
	follow := func(i int) {
		for i >= 0 {
			visited[i] = true
			r := recs[i]
			r.onChain, r.fragment = true, fragment
			chain = append(chain, i)
			occupied[r.seq] = true
			i = pick(recs, byPrev, byPrev[r.hash], visited, r.seq)
		}
	}
	genesis := Genesis(c.info.ID)
	follow(pick(recs, byPrev, byPrev[genesis], visited, 0))
	// Later runs, each from an event whose prev is no stored hash.
	for i, r := range recs {
		if visited[i] {
			continue
		}
		if _, linked := byHash[r.prev]; linked || r.prev == genesis {
			continue // a fork that lost: see below
		}
		visited[i] = true
		if occupied[r.seq] {
			r.why = fmt.Sprintf("its prev links to no stored event, and seq %d belongs to another event of the chain", r.seq)
			continue
		}
		fragment++
		follow(i)
	}
	for _, r := range recs {
		if r.onChain || r.why != "" {
			continue
		}
		if j, ok := byHash[r.prev]; ok && recs[j].onChain {
			r.why = fmt.Sprintf("its prev links to the event at seq %d, which the chain continues with another event", recs[j].seq)
		} else if r.prev == genesis {
			r.why = "its prev is the chain's genesis value, which the chain continues with another event"
		} else {
			r.why = "its prev links to an event that is not part of the chain either"
		}
	}

	// Positions, and the tree over them.
	var last *record
	for _, i := range chain {
		r := recs[i]
		switch {
		case last == nil && r.fragment == 0:
			r.pos = 1
		case last != nil && r.fragment == last.fragment:
			r.pos = last.pos + 1
		default: // a run that begins after a break in the links
			lastPos, lastSeq := uint64(0), uint64(0)
			if last != nil {
				lastPos, lastSeq = last.pos, last.seq
			}
			if c.cut > 0 && r.seq == c.cut+1 && r.prev == c.cutHash && lastPos <= c.cut {
				// The event after a pruning record's cut, linked to its
				// cut hash: what is before it was pruned.
				tc.skip(c.cut - lastPos)
				r.pos = r.seq
			} else if r.seq > lastSeq+1 && r.seq > lastPos {
				// Deleted events left a gap in the seqs: the run keeps its
				// seqs as positions.
				tc.skip(r.seq - 1 - lastPos)
				r.pos = r.seq
			} else {
				// No gap in the seqs: they were renumbered over what is
				// gone, or the event is forged. Later positions are not
				// known.
				tc.stop()
				r.pos = lastPos + 1
				r.broken = true
			}
		}
		tc.add(LeafHash(r.hash))
		last = r
	}
	if last != nil {
		c.length = last.pos
	}

	c.explain(recs, chain)
	c.checkCut(recs, chain)
	for _, r := range recs {
		if r.synthetic != nil {
			continue
		}
		if r.reason != "" {
			c.add(Finding{Reason: r.reason, Chain: c.info.ID, Seq: r.seq, EventID: r.id, Detail: r.detail})
		} else if r.onChain && r.selfOK && c.seal != nil && r.sel {
			c.cr.Verified++
		}
	}
	return nil
}

// checkCut holds the events at a pruning record's cut to it: the event
// stored at the cut must have the record's cut hash, and the first
// event after it must link to that hash.
func (c *chainRun) checkCut(recs []*record, chain []int) {
	if c.cut == 0 {
		return
	}
	for _, i := range chain {
		r := recs[i]
		if r.synthetic != nil || r.reason != "" || !r.onChain {
			continue
		}
		switch {
		case r.seq == c.cut && r.hash != c.cutHash:
			r.reason, r.detail = ReasonModified, fmt.Sprintf("its hash is not the cut hash %s that the pruning record up to seq %d signs", c.cutHash, c.cut)
		case r.seq == c.cut+1 && r.prev != c.cutHash && r.selfOK:
			r.reason, r.detail = ReasonInserted, fmt.Sprintf("its prev is not the cut hash %s that the pruning record up to seq %d signs: it is not the event that followed the cut", c.cutHash, c.cut)
		}
	}
}

// pick chooses the event that follows, among the candidates whose prev
// is the hash of the event at seq lastSeq: one whose bytes match its
// hash, then one that another event links to, then the one at seq
// lastSeq+1, then the lowest seq. It returns -1 when there is none.
func pick(recs []*record, byPrev map[Hash][]int, cands []int, visited []bool, lastSeq uint64) int {
	best, bs := -1, 0
	for _, i := range cands {
		if visited[i] {
			continue
		}
		r := recs[i]
		s := 0
		if r.selfOK {
			s += 4
		}
		if len(byPrev[r.hash]) > 0 {
			s += 2
		}
		if r.seq == lastSeq+1 {
			s++
		}
		if best < 0 || s > bs || s == bs && r.seq < recs[best].seq {
			best, bs = i, s
		}
	}
	return best
}

// matchUnsealed tries, for each one-seq gap where the links break, the
// unsealed events: one whose bytes, after the event before the gap,
// hash to the prev of the event after it is the event whose seal was
// removed. It takes the gap's place as a record that reports
// missing_hash.
func (c *chainRun) matchUnsealed(recs []*record) []*record {
	if c.seal == nil || len(c.pool) == 0 {
		return recs
	}
	tries := 0
	var add []*record
	for i := 0; i < len(recs); i++ {
		var prev Hash
		var seq uint64
		switch {
		case i == 0 && recs[0].seq == 2:
			prev, seq = Genesis(c.info.ID), 1
		case i > 0 && recs[i].seq == recs[i-1].seq+2:
			prev, seq = recs[i-1].hash, recs[i].seq-1
		default:
			continue
		}
		want := recs[i].prev
		if want == prev {
			continue
		}
		for _, u := range c.pool {
			if u.matched || u.canon == nil {
				continue
			}
			if tries++; tries > gapTriesMax {
				break
			}
			if c.seal.hash(&prev, u.canon) == want {
				u.matched, u.chain, u.seq = true, c.info.ID, seq
				add = append(add, &record{id: u.id, seq: seq, prev: prev, hash: want, selfOK: true, synthetic: u, sel: u.sel})
				break
			}
		}
	}
	if len(add) == 0 {
		return recs
	}
	recs = append(recs, add...)
	slices.SortStableFunc(recs, func(a, b *record) int { return cmp.Compare(a.seq, b.seq) })
	return recs
}

// repairSeals finds seals whose hash or prev alone was edited: an event
// whose bytes do not match its seal, but hash to what the next event
// links to (its hash was changed), or match its hash after the previous
// event's hash (its prev was changed). The seal is put back, so that
// the links and trees hold, and the event is reported modified.
func (c *chainRun) repairSeals(recs []*record) {
	for i, r := range recs {
		if r.selfOK || r.canon == nil {
			continue
		}
		if i+1 < len(recs) && recs[i+1].seq == r.seq+1 {
			if h := c.seal.hash(&r.prev, r.canon); h == recs[i+1].prev && h != r.hash {
				r.hash, r.selfOK = h, true
				r.reason, r.detail = ReasonModified, "its seal's hash was changed: its bytes hash to the hash the next event links to"
				continue
			}
		}
		if i > 0 && recs[i-1].seq == r.seq-1 {
			if p := recs[i-1].hash; p != r.prev && c.seal.hash(&p, r.canon) == r.hash {
				r.prev, r.selfOK = p, true
				r.reason, r.detail = ReasonModified, "its seal's prev was changed: its bytes and the previous event's hash make its hash"
			}
		} else if c.cut > 0 && r.seq == c.cut+1 {
			if p := c.cutHash; p != r.prev && c.seal.hash(&p, r.canon) == r.hash {
				r.prev, r.selfOK = p, true
				r.reason, r.detail = ReasonModified, "its seal's prev was changed: its bytes and the pruning record's cut hash make its hash"
			}
		}
	}
}

// explain gives each record its finding, and reports the gaps.
func (c *chainRun) explain(recs []*record, chain []int) {
	// Runs that begin with no gap in the seqs before them.
	runLen := map[int]int{}
	for _, i := range chain {
		runLen[recs[i].fragment]++
	}
	for _, i := range chain {
		r := recs[i]
		if !r.broken {
			continue
		}
		switch {
		case c.info.KeyID != "" && r.selfOK && c.seal != nil, runLen[r.fragment] > 1 && (c.info.KeyID == "" || c.seal == nil):
			r.reason, r.detail = ReasonMissing, "its prev links to no stored event and no seq is free before it: events before it were deleted and the seqs renumbered"
		case !r.selfOK:
			// left to the hash check below
		default:
			r.reason, r.detail = ReasonInserted, "its prev links to no stored event and no event links to it"
		}
	}

	// Events off the chain.
	for _, r := range recs {
		if !r.onChain && r.reason == "" {
			r.reason, r.detail = ReasonInserted, r.why
		}
	}

	// Order: the stored seqs along the chain must increase. Those off
	// a longest increasing run moved; so did the event stored where a
	// moved one belongs.
	vals := make([]uint64, len(chain))
	for k, i := range chain {
		vals[k] = recs[i].seq
	}
	keep := lisKeep(vals)
	var bySeq map[uint64][]int // chain index k by stored seq
	for k, i := range chain {
		if keep[k] {
			continue
		}
		if bySeq == nil {
			bySeq = map[uint64][]int{}
			for k, j := range chain {
				bySeq[recs[j].seq] = append(bySeq[recs[j].seq], k)
			}
		}
		// Of two events stored at one seq, the one the links place
		// there stays; the other moved.
		if r := recs[i]; r.seq == r.pos {
			for _, k2 := range bySeq[r.seq] {
				if o := recs[chain[k2]]; keep[k2] && o.seq != o.pos {
					keep[k], keep[k2] = true, false
					break
				}
			}
		}
	}
	for k, i := range chain {
		if keep[k] {
			continue
		}
		r := recs[i]
		if r.reason == "" {
			r.reason, r.detail = ReasonReordered, fmt.Sprintf("stored at seq %d, but the hash links place it at seq %d", r.seq, r.pos)
		}
		for _, k2 := range bySeq[r.pos] {
			j := chain[k2]
			o := recs[j]
			if o.reason == "" && o.pos != o.seq && o.fragment == r.fragment {
				o.reason, o.detail = ReasonReordered, fmt.Sprintf("stored at seq %d, but the hash links place it at seq %d", o.seq, o.pos)
			}
		}
	}

	// Seqs that no event holds, up to the last seq of the chain. An
	// event that moved holds the seq it belongs at, not the one it is
	// stored at.
	var maxSeq uint64
	for _, i := range chain {
		r := recs[i]
		if r.reason == ReasonReordered {
			maxSeq = max(maxSeq, r.pos)
		} else {
			maxSeq = max(maxSeq, r.seq)
		}
	}
	seqs := make([]uint64, 0, len(recs))
	for _, r := range recs {
		s := r.seq
		if r.onChain && r.reason == ReasonReordered {
			s = r.pos
		}
		if s >= 1 && s <= maxSeq {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	// A jump in the seqs between two events that link directly, over
	// seqs no event holds, is an edited seq, not a deletion.
	jumped := map[uint64]bool{} // first seq of each such gap
	for k := 1; k < len(chain); k++ {
		a, b := recs[chain[k-1]], recs[chain[k]]
		if a.fragment != b.fragment || a.reason == ReasonReordered || b.reason == ReasonReordered || b.seq <= a.seq+1 {
			continue
		}
		if j, ok := slices.BinarySearch(seqs, a.seq); ok && j+1 < len(seqs) && seqs[j+1] == b.seq {
			if b.reason == "" {
				b.reason, b.detail = ReasonReordered, fmt.Sprintf("stored at seq %d, but it links directly to the event at seq %d: its seq was changed", b.seq, a.seq)
			}
			jumped[a.seq+1] = true
		}
	}
	expect := uint64(1)
	for _, s := range seqs {
		if s > expect && !jumped[expect] && s-1 > c.cut {
			// A verified pruning record accepts the seqs up to its cut.
			a := max(expect, c.cut+1)
			f := Finding{Reason: ReasonMissing, Chain: c.info.ID, Seq: a, EndSeq: s - 1, Detail: fmt.Sprintf("no stored event holds seq %d to %d", a, s-1)}
			if s-1 == a {
				f.EndSeq, f.Detail = 0, fmt.Sprintf("no stored event holds seq %d", a)
			}
			c.add(f)
		}
		expect = s + 1
	}

	// Bytes that do not match their hash.
	var bad []*record
	for _, i := range chain {
		if r := recs[i]; !r.selfOK && r.synthetic == nil {
			bad = append(bad, r)
		}
	}
	tries := 0
	for k, i := range chain {
		r := recs[i]
		if r.selfOK || r.reason != "" {
			continue
		}
		// Bytes moved from another event's seal?
		if r.canon != nil {
			for _, o := range bad {
				if o == r {
					continue
				}
				if tries++; tries > crossTriesMx {
					break
				}
				if c.seal.hash(&o.prev, r.canon) == o.hash {
					r.reason, r.detail = ReasonReordered, fmt.Sprintf("its bytes are those that the seal of seq %d was made over", o.seq)
					break
				}
			}
			if r.reason != "" {
				continue
			}
		}
		vouched := c.covered(r.pos)
		if k+1 < len(chain) {
			if nx := recs[chain[k+1]]; nx.fragment == r.fragment && nx.selfOK {
				vouched = true
			}
		}
		switch {
		case c.info.KeyID == "":
			r.reason, r.detail = ReasonModified, "its bytes do not hash to its seal's hash"
		case vouched:
			r.reason, r.detail = ReasonModified, "its bytes do not hash to its seal's hash, which the next event or a checkpoint vouches for"
		default:
			r.reason, r.detail = ReasonInserted, "its HMAC does not verify and no later event or checkpoint vouches for its seal: it was not written with the chain's key"
		}
	}
}

// lisKeep marks the elements of one longest strictly increasing
// subsequence of vals.
func lisKeep(vals []uint64) []bool {
	keep := make([]bool, len(vals))
	if len(vals) == 0 {
		return keep
	}
	if slices.IsSorted(vals) && !hasDup(vals) {
		for i := range keep {
			keep[i] = true
		}
		return keep
	}
	tails := []int{}
	prev := make([]int, len(vals))
	for i, x := range vals {
		j := sort.Search(len(tails), func(k int) bool { return vals[tails[k]] >= x })
		prev[i] = -1
		if j > 0 {
			prev[i] = tails[j-1]
		}
		if j == len(tails) {
			tails = append(tails, i)
		} else {
			tails[j] = i
		}
	}
	for k := tails[len(tails)-1]; k >= 0; k = prev[k] {
		keep[k] = true
	}
	return keep
}

func hasDup(sorted []uint64) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return true
		}
	}
	return false
}
