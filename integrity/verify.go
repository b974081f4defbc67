package integrity

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/activitylog/activitylog"
)

// Reason says what is wrong, in a Finding.
type Reason string

// The reasons a Finding can give; docs/integrity.md says exactly
// when each is reported.
const (
	// The event's bytes do not hash to its seal's hash, and the seal
	// itself is vouched for (the next event links to it, or a verified
	// checkpoint covers it), or the chain is not keyed.
	ReasonModified Reason = "modified"
	// A gap: seqs that no stored event holds, or a break in the hash
	// links where the seqs were renumbered over a deleted event.
	ReasonMissing Reason = "missing"
	// An event whose seal is not part of the chain: it holds a seq that
	// the chain's links give to another event, its prev links to no
	// stored event, or (keyed chains) its HMAC is not valid and nothing
	// vouches for its seal. Also a whole chain (Seq..EndSeq its seqs)
	// that no checkpoint under a trusted key vouches for, when the
	// verifier was given PublicKeys.
	ReasonInserted Reason = "inserted"
	// An event stored at a seq other than the one its hash links give
	// it, or whose bytes are those another event's seal was made over.
	ReasonReordered Reason = "reordered"
	// The chain ends before the last seq that a verified checkpoint, in
	// the store or in the witness, covers.
	ReasonTruncated Reason = "truncated"
	// A checkpoint whose signature does not verify or whose key is not
	// trusted; or a keyed chain whose HMAC key the verifier lacks.
	ReasonBadSignature Reason = "bad_signature"
	// An event with no seal. Always a failure.
	ReasonMissingHash Reason = "missing_hash"
	// A signed checkpoint that disagrees with the store: a root that is
	// not the root of the stored hashes, a Prev or FromSeq that does not
	// follow the checkpoint before it, or a witness checkpoint that the
	// store lacks.
	ReasonCheckpointMismatch Reason = "checkpoint_mismatch"
)

// Entry is one stored event as a Source yields it.
type Entry struct {
	EventID activitylog.ID
	// Kind and Time are the event's kind and time as stored, for the
	// verifier's filters (VerifierOptions). A Source that cannot give
	// them leaves them zero, and such an entry matches no Kinds, From
	// or To filter.
	Kind activitylog.Kind
	Time time.Time
	// Seal is the event's seal; nil when the event has none (or only
	// part of one).
	Seal *Seal
	// Canonical is the event's canonical encoding
	// (activitylog.AppendCanonical of the event as stored).
	Canonical []byte
}

// Source is what the Verifier reads: a store, an export bundle, a test's
// slice. Its methods may be called from one goroutine at a time, in any
// order, and Entries more than once for the same chain (the verifier
// reads a chain again, keeping it in memory, when its first, streaming
// pass finds a fault). In the callbacks, fn must not keep e.Seal or
// e.Canonical after it returns, so a Source may reuse them; an error
// from fn ends the iteration and is returned. Errors are the Source's
// own failures, never findings.
type Source interface {
	// Chains lists the chains that hold events.
	Chains(ctx context.Context) ([]ChainInfo, error)
	// Entries calls fn for each sealed event of chain, by ascending
	// seq. The result does not depend on the order, but the verifier
	// streams in constant memory only when it is by seq.
	Entries(ctx context.Context, chain string, fn func(Entry) error) error
	// Checkpoints returns chain's checkpoints, by ascending ToSeq.
	Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error)
	// Unsealed calls fn for each event that has no seal, in any order.
	Unsealed(ctx context.Context, fn func(Entry) error) error
}

// VerifierOptions configures a Verifier. The zero value or a nil pointer
// trusts no checkpoint key, knows no HMAC key, has no witness and keeps
// up to 1000 findings.
type VerifierOptions struct {
	// PublicKeys are the keys whose checkpoints are trusted. A checkpoint
	// signed by any other key is reported as bad_signature, which is how
	// one re-signed by an attacker is caught.
	PublicKeys []ed25519.PublicKey
	// HMACKeys are the keys of keyed chains, found by their id. A chain
	// keyed with a key not given here is reported as bad_signature and
	// its hashes are not recomputed.
	HMACKeys []*HMACKey
	// Witness holds the checkpoints read from a witness
	// (ReadWitnessFile), of any chains, in any order.
	Witness []Checkpoint
	// MaxFindings bounds Report.Findings; Report.Counts counts them all.
	// Zero: 1000. Negative: no bound.
	MaxFindings int

	// Chains, when not empty, limits verification to these chains (by
	// id); events without a seal are then not read. A listed chain that
	// neither the store nor the witness knows is reported as an empty
	// chain.
	Chains []string
	// Kinds, From and To select events: of one of Kinds (any kind when
	// empty), with From <= Time < To (a zero bound is open). They narrow
	// the counts only: Total, Verified, Unsealed and each ChainReport's
	// Entries and Verified count selected events. Every chain read is
	// read whole and every finding is listed, whatever its event's kind
	// or time: those are stored columns that whoever tampers with the
	// store can rewrite too (docs/integrity.md, Selecting events).
	Kinds    []activitylog.Kind
	From, To time.Time
}

// Verifier recomputes a trail's chains, trees and checkpoints from a
// Source and reports what does not hold. It is safe for concurrent use
// if its Source is; each Verify reads the Source anew.
type Verifier struct {
	src     Source
	pubs    map[string]ed25519.PublicKey
	macs    map[string]*HMACKey
	witness []Checkpoint
	max     int

	// The filters (VerifierOptions.Chains, Kinds, From, To).
	chains   map[string]bool // nil: every chain
	kinds    map[activitylog.Kind]bool
	from, to time.Time
	filtered bool  // Kinds, From or To given
	hasTime  bool  // From or To given
	optErr   error // a filter that is not valid, returned by Verify
}

// NewVerifier returns a Verifier of src.
func NewVerifier(src Source, opts *VerifierOptions) *Verifier {
	var o VerifierOptions
	if opts != nil {
		o = *opts
	}
	v := &Verifier{src: src, pubs: map[string]ed25519.PublicKey{}, macs: map[string]*HMACKey{}, witness: o.Witness, max: o.MaxFindings}
	if v.max == 0 {
		v.max = 1000
	}
	for _, p := range o.PublicKeys {
		v.pubs[KeyID(p)] = p
	}
	for _, k := range o.HMACKeys {
		if k != nil { // a nil key names no chain
			v.macs[k.ID()] = k
		}
	}
	v.setFilters(&o)
	return v
}

// setFilters keeps the filters of o, and the first that is not valid
// as v.optErr.
func (v *Verifier) setFilters(o *VerifierOptions) {
	fail := func(err error) {
		if v.optErr == nil {
			v.optErr = err
		}
	}
	if len(o.Chains) > 0 {
		v.chains = map[string]bool{}
		for _, c := range o.Chains {
			if err := ValidateChainID(c); err != nil {
				fail(err)
			}
			v.chains[c] = true
		}
	}
	if len(o.Kinds) > 0 {
		v.kinds = map[activitylog.Kind]bool{}
		for _, k := range o.Kinds {
			if !k.Valid() {
				fail(activitylog.Invalid("kind", truncate(string(k), 80), "is not one of the kinds"))
			}
			v.kinds[k] = true
		}
	}
	v.from, v.to = o.From, o.To
	if !v.from.IsZero() && !v.to.IsZero() && !v.to.After(v.from) {
		fail(activitylog.Invalid("to", v.to.Format(time.RFC3339Nano), "must be after from "+v.from.Format(time.RFC3339Nano)))
	}
	v.hasTime = !v.from.IsZero() || !v.to.IsZero()
	v.filtered = v.kinds != nil || v.hasTime
}

// Where an event's time lies against the From/To window.
const (
	whenIn    int8 = iota // within the window, or no window
	whenEarly             // before From
	whenLate              // at or after To
	whenNone              // a zero time with a window: neither
)

func (v *Verifier) when(t time.Time) int8 {
	switch {
	case !v.hasTime:
		return whenIn
	case t.IsZero():
		return whenNone
	case !v.from.IsZero() && t.Before(v.from):
		return whenEarly
	case !v.to.IsZero() && !t.Before(v.to):
		return whenLate
	}
	return whenIn
}

// selected reports whether the filters select e.
func (v *Verifier) selected(e *Entry) bool {
	if !v.filtered {
		return true
	}
	if v.kinds != nil && !v.kinds[e.Kind] {
		return false
	}
	return v.when(e.Time) == whenIn
}

// Finding is one fault, with where it is. Seq..EndSeq is a range of
// seqs (EndSeq is zero for a single seq); for a checkpoint it is the
// checkpoint's FromSeq..ToSeq.
type Finding struct {
	Reason  Reason         `json:"reason"`
	Chain   string         `json:"chain,omitempty"`
	Seq     uint64         `json:"seq,omitempty"`
	EndSeq  uint64         `json:"end_seq,omitempty"`
	EventID activitylog.ID `json:"event_id,omitzero"`
	Detail  string         `json:"detail"`
}

// String returns the finding on one line, as reason, place and detail.
func (f Finding) String() string {
	s := string(f.Reason)
	if f.Chain != "" {
		s += " chain " + f.Chain
	}
	if f.Seq != 0 {
		s += fmt.Sprintf(" seq %d", f.Seq)
		if f.EndSeq != 0 {
			s += fmt.Sprintf("..%d", f.EndSeq)
		}
	}
	if !f.EventID.IsZero() {
		s += " event " + f.EventID.String()
	}
	return s + ": " + f.Detail
}

// ChainReport sums up one chain.
type ChainReport struct {
	ID    string `json:"id"`
	KeyID string `json:"key_id,omitempty"`
	// Entries is the number of sealed events read, Verified those whose
	// hash was recomputed and matched and that carry no finding; with
	// the filters Kinds, From or To, of the selected events only.
	Entries  int `json:"entries"`
	Verified int `json:"verified"`
	// Length is the chain's last seq as its hash links place it.
	Length uint64 `json:"length"`
	// Checkpoints counts the store's checkpoints of the chain, and
	// CheckpointsVerified those (from the store or the witness) whose
	// signature and both roots were checked and hold.
	Checkpoints         int `json:"checkpoints"`
	CheckpointsVerified int `json:"checkpoints_verified"`
	// PrunedTo is the cut of the chain's verified pruning record with
	// the highest UpToSeq, 0 for none: its events 1..PrunedTo may be
	// absent. CheckpointsPruned counts the valid checkpoints at or
	// below the cut whose roots could not be recomputed because events
	// under them were pruned (not findings).
	PrunedTo          uint64 `json:"pruned_to,omitempty"`
	CheckpointsPruned int    `json:"checkpoints_pruned,omitempty"`
	// Anchored is the highest seq that a verified checkpoint's tree root
	// covers. Events after it are protected by their hash links only:
	// in a chain without an HMAC key, whoever can write to the store can
	// append to it there undetected until the next checkpoint.
	Anchored uint64 `json:"anchored"`
}

// Report is the result of Verify.
type Report struct {
	// Total counts the events read, sealed and unsealed; Verified those
	// whose seal verified and that carry no finding. Unsealed counts the
	// events without a seal. With the filters Kinds, From or To, all
	// three count selected events only.
	Total    int `json:"total"`
	Verified int `json:"verified"`
	Unsealed int `json:"unsealed"`
	// Checkpoints counts the store's checkpoints, CheckpointsVerified
	// the distinct checkpoints (store or witness) that verified fully,
	// CheckpointsPruned those whose events were pruned (ChainReport).
	Checkpoints         int           `json:"checkpoints"`
	CheckpointsVerified int           `json:"checkpoints_verified"`
	CheckpointsPruned   int           `json:"checkpoints_pruned,omitempty"`
	Chains              []ChainReport `json:"chains"`
	// Counts counts the findings by reason, all of them (the filters
	// Kinds, From and To never hide one).
	Counts map[Reason]int `json:"counts"`
	// Findings lists them, by chain and seq, up to
	// VerifierOptions.MaxFindings; FindingsOmitted says how many more.
	Findings        []Finding `json:"findings"`
	FindingsOmitted int       `json:"findings_omitted,omitempty"`
}

// OK reports whether the trail verified with no finding at all.
func (r *Report) OK() bool { return len(r.Counts) == 0 }

func (r *Report) add(max int, f Finding) {
	r.Counts[f.Reason]++
	if max < 0 || len(r.Findings) < max {
		r.Findings = append(r.Findings, f)
	} else {
		r.FindingsOmitted++
	}
}

// Bounds on what the verifier keeps in memory to explain a fault.
const (
	poolMax      = 10_000   // unsealed events whose bytes are kept to match them into gaps
	poolBytes    = 64 << 20 // and their bytes at most
	keepMax      = 1024     // events with a bad hash whose bytes are kept to match them to other seals
	keepBytes    = 16 << 20
	gapTriesMax  = 1 << 22 // hash attempts to match unsealed events into gaps
	crossTriesMx = 1 << 20 // hash attempts to match bad-hash events to other seals
)

// unsealed is an event without a seal, kept to match it into a gap.
type unsealed struct {
	id      activitylog.ID
	canon   []byte // nil when over the bounds
	matched bool
	chain   string
	seq     uint64
	sel     bool // selected by the filters (counted)
}

// run is the state of one Verify call.
type run struct {
	v     *Verifier
	rep   *Report
	pool  []*unsealed
	bytes int
}

func (r *run) add(f Finding) { r.rep.add(r.v.max, f) }

// Verify reads the whole Source and reports. The error is the Source's
// or ctx's; faults in the trail are findings in the report.
func (v *Verifier) Verify(ctx context.Context) (*Report, error) {
	if v.optErr != nil {
		return nil, fmt.Errorf("verify: %w", v.optErr)
	}
	rep := &Report{Counts: map[Reason]int{}, Findings: []Finding{}, Chains: []ChainReport{}}
	r := &run{v: v, rep: rep}
	if v.chains == nil {
		err := v.src.Unsealed(ctx, func(e Entry) error {
			r.addUnsealed(e)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("verify: read unsealed events: %w", err)
		}
	}
	chains, err := v.src.Chains(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: list chains: %w", err)
	}
	slices.SortFunc(chains, func(a, b ChainInfo) int { return cmp.Compare(a.ID, b.ID) })
	seen := map[string]bool{}
	for _, c := range chains {
		if seen[c.ID] || v.chains != nil && !v.chains[c.ID] {
			continue
		}
		seen[c.ID] = true
		if err := r.chain(ctx, c, true); err != nil {
			return nil, err
		}
	}
	// Chains that only the witness knows: the store lost them whole;
	// and listed chains that nobody knows.
	var gone []string
	for _, cp := range v.witness {
		if !seen[cp.Chain] && (v.chains == nil || v.chains[cp.Chain]) {
			seen[cp.Chain] = true
			gone = append(gone, cp.Chain)
		}
	}
	for id := range v.chains {
		if !seen[id] {
			seen[id] = true
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		if err := r.chain(ctx, ChainInfo{ID: id}, false); err != nil {
			return nil, err
		}
	}
	for _, u := range r.pool {
		f := Finding{Reason: ReasonMissingHash, EventID: u.id, Detail: "the event has no seal"}
		if u.matched {
			f.Chain, f.Seq = u.chain, u.seq
			f.Detail = "the event has no seal; its bytes hash to the hash the next event links to, so it was this seq"
		}
		r.add(f)
	}
	for _, c := range rep.Chains {
		rep.Total += c.Entries
		rep.Verified += c.Verified
		rep.Checkpoints += c.Checkpoints
		rep.CheckpointsVerified += c.CheckpointsVerified
		rep.CheckpointsPruned += c.CheckpointsPruned
	}
	rep.Total += rep.Unsealed
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Chain, b.Chain), cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Reason, b.Reason))
	})
	return rep, nil
}

func (r *run) addUnsealed(e Entry) {
	sel := r.v.selected(&e)
	if sel {
		r.rep.Unsealed++
	}
	u := &unsealed{id: e.EventID, sel: sel}
	if len(r.pool) < poolMax && r.bytes+len(e.Canonical) <= poolBytes {
		u.canon = append([]byte(nil), e.Canonical...)
		r.bytes += len(u.canon)
		r.pool = append(r.pool, u)
		return
	}
	r.add(Finding{Reason: ReasonMissingHash, EventID: e.EventID, Detail: "the event has no seal"})
}

// cpCheck is a checkpoint with a valid signature, and what the tree
// pass found of it.
type cpCheck struct {
	cp                    Checkpoint
	hash                  Hash
	inStore, inWitness    bool
	treeChecked, treeOK   bool
	rangeChecked, rangeOK bool
}

func (c *cpCheck) where() string {
	if c.inStore {
		return fmt.Sprintf("checkpoint %d..%d", c.cp.FromSeq, c.cp.ToSeq)
	}
	return fmt.Sprintf("witness checkpoint %d..%d", c.cp.FromSeq, c.cp.ToSeq)
}

// chainRun verifies one chain.
type chainRun struct {
	*run
	info   ChainInfo
	cr     ChainReport
	seal   *sealer // nil when the HMAC key is unknown
	cps    []*cpCheck
	length uint64

	// The verified pruning record with the highest cut: events
	// 1..cut may be absent; cutHash is the event hash of seq cut, front
	// the tree over 1..cut. cut is 0 without one.
	cut     uint64
	cutHash Hash
	front   tree

	found []Finding // the chain's findings
	read  int       // the sealed events read, selected or not
}

// add keeps a finding of the chain. The filters never hide one.
func (c *chainRun) add(f Finding) { c.found = append(c.found, f) }

func (r *run) chain(ctx context.Context, info ChainInfo, inStore bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	c := &chainRun{run: r, info: info, cr: ChainReport{ID: info.ID, KeyID: info.KeyID}}
	switch {
	case info.KeyID == "":
		c.seal = newSealer(nil)
	case r.v.macs[info.KeyID] != nil:
		c.seal = newSealer(r.v.macs[info.KeyID])
	default:
		c.add(Finding{Reason: ReasonBadSignature, Chain: info.ID, Detail: "the chain is keyed with HMAC key " + info.KeyID + ", which the verifier was not given: its event hashes were not recomputed"})
	}
	cps, err := r.v.src.Checkpoints(ctx, info.ID)
	if err != nil {
		return fmt.Errorf("verify: read checkpoints of chain %s: %w", info.ID, err)
	}
	c.checkpoints(cps)
	if err := c.prunes(ctx); err != nil {
		return err
	}
	tc := c.newTreeChecker()
	if inStore {
		ok, err := c.fast(ctx, tc)
		if err != nil {
			return err
		}
		if !ok || forceThorough {
			c.cr.Verified = 0
			tc = c.newTreeChecker()
			if err := c.thorough(ctx, tc); err != nil {
				return err
			}
		}
	}
	if c.length < c.cut {
		c.length = c.cut // the chain ends at its cut: all of it was pruned
	}
	c.finish()
	for _, f := range c.found {
		r.add(f)
	}
	r.rep.Chains = append(r.rep.Chains, c.cr)
	return nil
}

// newTreeChecker returns a treeChecker of the chain's checkpoints that
// continues from the pruning record's tree at the cut.
func (c *chainRun) newTreeChecker() *treeChecker {
	tc := newTreeChecker(c.cps)
	if c.cut > 0 {
		tc.cut, tc.front = c.cut, c.front
	}
	return tc
}

// checkpoints checks the signatures and the Prev links of the store's
// checkpoints and of the witness's for this chain, reports what fails,
// and keeps the checkpoints with valid signatures for the tree pass.
func (c *chainRun) checkpoints(stored []Checkpoint) {
	c.cr.Checkpoints = len(stored)
	stored = slices.Clone(stored)
	slices.SortStableFunc(stored, func(a, b Checkpoint) int {
		return cmp.Or(cmp.Compare(a.ToSeq, b.ToSeq), cmp.Compare(a.FromSeq, b.FromSeq))
	})
	byHash := map[Hash]*cpCheck{}
	var last *cpCheck // the last checkpoint with a valid signature
	lastBad := false  // whether the one just before had a bad signature
	for _, cp := range stored {
		f := Finding{Chain: c.info.ID, Seq: cp.FromSeq, EndSeq: cp.ToSeq}
		if cp.Chain != c.info.ID {
			f.Reason, f.Detail = ReasonCheckpointMismatch, fmt.Sprintf("checkpoint %d..%d is stored with chain %s but names chain %s", cp.FromSeq, cp.ToSeq, c.info.ID, cp.Chain)
			c.add(f)
			continue
		}
		if err := c.verifySig(&cp); err != nil {
			f.Reason, f.Detail = ReasonBadSignature, fmt.Sprintf("checkpoint %d..%d: %v", cp.FromSeq, cp.ToSeq, err)
			c.add(f)
			lastBad = true
			continue
		}
		h := cp.Hash()
		if !lastBad {
			wantPrev, wantFrom, what := Hash{}, uint64(1), "no earlier checkpoint is stored"
			if last != nil {
				wantPrev, wantFrom, what = last.hash, last.cp.ToSeq+1, fmt.Sprintf("the checkpoint before it is %d..%d", last.cp.FromSeq, last.cp.ToSeq)
			}
			switch {
			case cp.Prev != wantPrev:
				f.Reason, f.Detail = ReasonCheckpointMismatch, fmt.Sprintf("checkpoint %d..%d: its prev %s does not link to the checkpoint before it (%s): a checkpoint was removed or added", cp.FromSeq, cp.ToSeq, cp.Prev, what)
				c.add(f)
			case cp.FromSeq != wantFrom:
				f.Reason, f.Detail = ReasonCheckpointMismatch, fmt.Sprintf("checkpoint %d..%d: from_seq is %d, want %d (%s)", cp.FromSeq, cp.ToSeq, cp.FromSeq, wantFrom, what)
				c.add(f)
			}
		}
		lastBad = false
		k := &cpCheck{cp: cp, hash: h, inStore: true}
		last = k
		if byHash[h] == nil {
			byHash[h] = k
			c.cps = append(c.cps, k)
		}
	}
	for _, cp := range c.v.witness {
		if cp.Chain != c.info.ID {
			continue
		}
		f := Finding{Chain: c.info.ID, Seq: cp.FromSeq, EndSeq: cp.ToSeq}
		if err := c.verifySig(&cp); err != nil {
			f.Reason, f.Detail = ReasonBadSignature, fmt.Sprintf("witness checkpoint %d..%d: %v", cp.FromSeq, cp.ToSeq, err)
			c.add(f)
			continue
		}
		h := cp.Hash()
		if k := byHash[h]; k != nil {
			k.inWitness = true
			continue
		}
		f.Reason, f.Detail = ReasonCheckpointMismatch, fmt.Sprintf("witness checkpoint %d..%d (hash %s) is not in the store: the store lost it", cp.FromSeq, cp.ToSeq, h)
		c.add(f)
		k := &cpCheck{cp: cp, hash: h, inWitness: true}
		byHash[h] = k
		c.cps = append(c.cps, k)
	}
	slices.SortStableFunc(c.cps, func(a, b *cpCheck) int {
		return cmp.Or(cmp.Compare(a.cp.ToSeq, b.cp.ToSeq), cmp.Compare(a.cp.FromSeq, b.cp.FromSeq))
	})
}

func (c *chainRun) verifySig(cp *Checkpoint) error {
	pub := c.v.pubs[cp.KeyID]
	if pub == nil {
		if err := cp.Validate(); err != nil {
			return err
		}
		return fmt.Errorf("signed by key %s, which is not trusted: %w", cp.KeyID, ErrBadSignature)
	}
	return cp.Verify(pub)
}

// forceThorough makes tests run the thorough pass on every chain.
var forceThorough = false

// errStop ends the fast pass at its first fault.
var errStop = errors.New("stop")

// fast is the streaming pass: it holds when the chain is perfect, and
// gives up at the first fault, leaving the explaining to thorough.
//
// Below a pruning record's cut, events may be absent: a run of stored
// events may begin at any seq up to the cut (its first prev cannot be
// checked, the event before it is gone), must reach the cut with the
// record's cut hash, and the event after the cut must link to it.
func (c *chainRun) fast(ctx context.Context, tc *treeChecker) (bool, error) {
	next, cur := uint64(1), Genesis(c.info.ID)
	ok := true
	sel := 0
	c.read = 0
	err := c.v.src.Entries(ctx, c.info.ID, func(e Entry) error {
		s := e.Seal
		if s == nil || s.Chain != c.info.ID {
			ok = false
			return errStop
		}
		if c.cut > 0 && s.Seq > next && next <= c.cut && s.Seq <= c.cut+1 {
			// Events next..s.Seq-1 were pruned.
			tc.skip(s.Seq - next)
			next, cur = s.Seq, s.Prev
			if s.Seq == c.cut+1 {
				cur = c.cutHash
			}
		}
		if s.Seq != next || s.Prev != cur || s.Seq == c.cut && s.Hash != c.cutHash ||
			c.seal != nil && c.seal.hash(&s.Prev, e.Canonical) != s.Hash {
			ok = false
			return errStop
		}
		tc.add(LeafHash(s.Hash))
		if c.v.selected(&e) {
			sel++
		}
		c.read++
		cur = s.Hash
		next++
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, fmt.Errorf("verify: read chain %s: %w", c.info.ID, err)
	}
	if !ok {
		return false, nil
	}
	if c.cut > 0 && next <= c.cut {
		// The stored events end below the cut: the rest was pruned.
		tc.skip(c.cut - next + 1)
		next = c.cut + 1
	}
	c.length = next - 1
	c.cr.Entries = sel
	if c.seal != nil {
		c.cr.Verified = sel
	}
	return true, nil
}

// finish reports the checkpoints that the tree pass found wrong and the
// truncation, and sums up.
func (c *chainRun) finish() {
	c.cr.Length = c.length
	c.cr.PrunedTo = c.cut
	if c.cut > 0 {
		c.cr.Anchored = c.cut // the record's tree, checked against the checkpoint at the cut
	}
	var maxTo *cpCheck
	for _, k := range c.cps {
		if k.cp.ToSeq <= c.cut && !(k.treeChecked && !k.treeOK) && !(k.rangeChecked && !k.rangeOK) && !(k.treeOK && k.rangeOK) {
			c.cr.CheckpointsPruned++
		}
		if k.treeChecked && !k.treeOK || k.rangeChecked && !k.rangeOK {
			what := "tree root"
			switch {
			case k.treeChecked && !k.treeOK && k.rangeChecked && !k.rangeOK:
				what = "tree root and range root"
			case !(k.treeChecked && !k.treeOK):
				what = "range root"
			}
			c.add(Finding{Reason: ReasonCheckpointMismatch, Chain: c.info.ID, Seq: k.cp.FromSeq, EndSeq: k.cp.ToSeq,
				Detail: fmt.Sprintf("%s: its %s is not the root of the stored event hashes", k.where(), what)})
		}
		if k.treeOK && k.rangeOK {
			c.cr.CheckpointsVerified++
		}
		if k.treeOK {
			c.cr.Anchored = max(c.cr.Anchored, k.cp.ToSeq)
		}
		if maxTo == nil || k.cp.ToSeq > maxTo.cp.ToSeq {
			maxTo = k
		}
	}
	c.unanchored()
	if maxTo != nil && maxTo.cp.ToSeq > c.length {
		f := Finding{Reason: ReasonTruncated, Chain: c.info.ID, Seq: c.length + 1, EndSeq: maxTo.cp.ToSeq,
			Detail: fmt.Sprintf("the chain ends at seq %d, but %s covers up to seq %d", c.length, maxTo.where(), maxTo.cp.ToSeq)}
		if f.Seq == f.EndSeq {
			f.EndSeq = 0
		}
		c.add(f)
	}
}

// unanchored reports, when the verifier trusts checkpoint keys, a chain
// that holds events but has no checkpoint (store or witness) whose tree
// or range root verified, and no verified pruning record: nothing
// signed vouches for any of it. Whoever can write to the store could
// have made it whole, with a genesis and seals of their own (the HMAC
// key of a keyed deployment does not stop a keyless chain). The Writer
// checkpoints a chain with its first batch, so a legitimate chain is
// never in this state for longer than a write.
func (c *chainRun) unanchored() {
	if len(c.v.pubs) == 0 || c.read == 0 || c.cut > 0 {
		return
	}
	for _, k := range c.cps {
		if k.treeOK || k.rangeOK {
			return
		}
	}
	f := Finding{Reason: ReasonInserted, Chain: c.info.ID, Seq: 1, EndSeq: c.length,
		Detail: fmt.Sprintf("the chain holds %d sealed events but no checkpoint signed by a trusted key vouches for any of them: the whole chain may have been written without the signing key", c.read)}
	if c.length <= 1 {
		f.EndSeq = 0
	}
	c.add(f)
}

// treeChecker recomputes a chain's tree leaf by leaf, in chain order,
// and checks each checkpoint's roots when it reaches its ToSeq. Leaves
// that are not known (missing events, skip) stop the checks of the
// roots over them; range roots that begin after them are checked still.
type treeChecker struct {
	byTo             []*cpCheck // by ToSeq
	byFrom           []*cpCheck // by FromSeq
	nextTo, nextFrom int
	pos              uint64
	full             tree
	fullOK           bool
	active           []*rangeAcc
	off              bool
	// cut and front are a pruning record's: at position cut, the tree
	// goes on from front (the tree over 1..cut that the record states
	// and the checkpoint at the cut signs), whatever leaves were known.
	cut   uint64
	front tree
}

type rangeAcc struct {
	from, until uint64
	t           tree
	ok          bool
}

func newTreeChecker(cps []*cpCheck) *treeChecker {
	tc := &treeChecker{byTo: cps, byFrom: slices.Clone(cps), full: newTree(), fullOK: true}
	slices.SortStableFunc(tc.byFrom, func(a, b *cpCheck) int { return cmp.Compare(a.cp.FromSeq, b.cp.FromSeq) })
	for _, k := range cps {
		k.treeChecked, k.treeOK, k.rangeChecked, k.rangeOK = false, false, false, false
	}
	return tc
}

// stop ends all checks: the positions of later leaves are not known.
func (tc *treeChecker) stop() {
	tc.off = true
	tc.fullOK = false
	tc.active = nil
}

// skip passes n positions whose leaves are not known (missing events):
// no root over them is checked.
func (tc *treeChecker) skip(n uint64) {
	if tc.cut > tc.pos && tc.pos+n >= tc.cut {
		k := tc.cut - tc.pos
		tc.skipN(k)
		tc.atCut()
		tc.skipN(n - k)
		return
	}
	tc.skipN(n)
}

// atCut makes the tree, at position cut, the pruning record's.
func (tc *treeChecker) atCut() {
	if tc.off {
		return
	}
	tc.full, tc.fullOK = tc.front.clone(), true
}

func (tc *treeChecker) skipN(n uint64) {
	if n == 0 || tc.off {
		tc.pos += n
		return
	}
	end := tc.pos + n
	tc.fullOK = false
	for _, a := range tc.active {
		a.ok = false
	}
	for tc.nextFrom < len(tc.byFrom) && tc.byFrom[tc.nextFrom].cp.FromSeq <= end {
		tc.nextFrom++ // begins over the gap: cannot be checked
	}
	for tc.nextTo < len(tc.byTo) && tc.byTo[tc.nextTo].cp.ToSeq <= end {
		tc.nextTo++
	}
	tc.pos = end
	tc.active = slices.DeleteFunc(tc.active, func(a *rangeAcc) bool { return a.until <= end })
}

// add appends the leaf at the next position.
func (tc *treeChecker) add(leaf Hash) {
	tc.pos++
	p := tc.pos
	if tc.off {
		return
	}
	for tc.nextFrom < len(tc.byFrom) && tc.byFrom[tc.nextFrom].cp.FromSeq <= p {
		k := tc.byFrom[tc.nextFrom]
		tc.nextFrom++
		if k.cp.FromSeq < p {
			continue // cannot happen: FromSeq >= 1
		}
		if n := len(tc.active); n > 0 && tc.active[n-1].from == p {
			tc.active[n-1].until = max(tc.active[n-1].until, k.cp.ToSeq)
			continue
		}
		tc.active = append(tc.active, &rangeAcc{from: p, until: k.cp.ToSeq, t: newTree(), ok: true})
	}
	if tc.fullOK {
		tc.full.appendLeaf(leaf)
	}
	for _, a := range tc.active {
		if a.ok {
			a.t.appendLeaf(leaf)
		}
	}
	for tc.nextTo < len(tc.byTo) && tc.byTo[tc.nextTo].cp.ToSeq <= p {
		k := tc.byTo[tc.nextTo]
		tc.nextTo++
		if k.cp.ToSeq < p {
			continue
		}
		if tc.fullOK {
			k.treeChecked, k.treeOK = true, tc.full.root() == k.cp.TreeRoot
		}
		for _, a := range tc.active {
			if a.from == k.cp.FromSeq && a.ok {
				k.rangeChecked, k.rangeOK = true, a.t.root() == k.cp.RangeRoot
			}
		}
	}
	tc.active = slices.DeleteFunc(tc.active, func(a *rangeAcc) bool { return a.until <= p })
	if p == tc.cut {
		tc.atCut()
	}
}

// covered reports whether a verified root covers position p.
func (c *chainRun) covered(p uint64) bool {
	if p <= c.cut {
		return true // the pruning record's tree, which the checkpoint at the cut signs
	}
	for _, k := range c.cps {
		if k.treeOK && p <= k.cp.ToSeq || k.rangeOK && k.cp.FromSeq <= p && p <= k.cp.ToSeq {
			return true
		}
	}
	return false
}
