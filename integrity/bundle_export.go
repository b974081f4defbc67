package integrity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/activitylog/activitylog"
)

// BundleSource is what WriteBundle reads: a verifier's Source that also
// gives a chain's event hashes, for the proofs. A Source that is also a
// PruneSource has its pruning records carried too. sqlite.Store is one.
type BundleSource interface {
	Source
	// Hashes returns the event hashes of chain's seqs from to to,
	// inclusive, in order.
	Hashes(ctx context.Context, chain string, from, to uint64) ([]Hash, error)
}

// ExportOptions selects what WriteBundle writes. The zero value writes
// every chain whole, and the events without a seal.
type ExportOptions struct {
	// Chains, when set, writes only these chains (each whole unless
	// another filter is set), and no unsealed event.
	Chains []string
	// Kinds, From and To select events (From inclusive, To exclusive):
	// the bundle then holds only those, each with an inclusion proof to
	// its chain's newest checkpoint, and the consistency proofs between
	// the chain's checkpoints.
	Kinds    []activitylog.Kind
	From, To time.Time
	// PublicKeys go into the bundle, for its reader to check the
	// checkpoints with (verify --bundle --trust-bundle-keys).
	PublicKeys []ed25519.PublicKey
	// Now is the bundle's creation time. Default: time.Now.
	Now func() time.Time
}

// Filtered reports whether o selects events (Kinds, From or To), so
// that the bundle carries proofs instead of whole chains.
func (o *ExportOptions) Filtered() bool {
	return len(o.Kinds) > 0 || !o.From.IsZero() || !o.To.IsZero()
}

// ExportStats counts what WriteBundle wrote.
type ExportStats struct {
	Chains, Checkpoints, Prunes, Events, Unsealed, Proofs, Consistency int
	// Uncovered counts the selected events left out because no
	// checkpoint covers them yet: only an inclusion proof to a signed
	// checkpoint vouches for a selected event.
	Uncovered int
	// UnknownKeys are the ids of keys that signed checkpoints in the
	// bundle but are not among ExportOptions.PublicKeys.
	UnknownKeys []string
}

// ErrNoSuchChain is wrapped by WriteBundle's error for a chain in
// ExportOptions.Chains that src does not hold.
var ErrNoSuchChain = fmt.Errorf("no such chain")

// ErrPrunedChain is wrapped by the error of a proof that would need
// the hash of an event before a pruning cut (ProofTree), such as a
// stored event at or below its chain's cut, which retention deleted.
var ErrPrunedChain = fmt.Errorf("the chain was pruned")

// WriteBundle writes the offline bundle of src's events that o selects
// to w (gzip-compressed NDJSON; see docs/integrity.md, Offline
// bundles): the public keys, each chain's info, checkpoints and pruning
// records, and the events with their seals and, for a filtered bundle,
// proofs. Nothing is written to w after an error, but what was written
// before stays: write to a temporary file, or let an HTTP client see a
// cut stream. After an error the stats count what was written, or are
// nil when nothing was.
func WriteBundle(ctx context.Context, src BundleSource, w io.Writer, o *ExportOptions) (*ExportStats, error) {
	if o == nil {
		o = &ExportOptions{}
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	whole := !o.Filtered()
	h := BundleHeader{
		Created:     now().UTC().Format(time.RFC3339Nano),
		WholeChains: whole,
		Filters:     BundleFilters{Chains: o.Chains},
	}
	if !o.From.IsZero() {
		h.Filters.From = o.From.UTC().Format(time.RFC3339Nano)
	}
	if !o.To.IsZero() {
		h.Filters.To = o.To.UTC().Format(time.RFC3339Nano)
	}
	for _, k := range o.Kinds {
		h.Filters.Kinds = append(h.Filters.Kinds, string(k))
	}
	chains, err := src.Chains(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range o.Chains {
		if !slices.ContainsFunc(chains, func(c ChainInfo) bool { return c.ID == id }) {
			return nil, fmt.Errorf("chain %s: %w in the store", id, ErrNoSuchChain)
		}
	}
	bw, err := NewBundleWriter(w, h)
	if err != nil {
		return nil, err
	}
	st := &ExportStats{}
	known := map[string]bool{}
	for _, k := range o.PublicKeys {
		known[KeyID(k)] = true
		if err := bw.Key(k); err != nil {
			return st, err
		}
	}
	selected := func(e *Entry) bool {
		if len(o.Kinds) > 0 && !slices.Contains(o.Kinds, e.Kind) {
			return false
		}
		return (o.From.IsZero() || !e.Time.Before(o.From)) && (o.To.IsZero() || e.Time.Before(o.To))
	}
	var ev activitylog.Event
	var again []byte
	// event decodes an entry's canonical bytes into the event whose JSON
	// form the bundle carries; nil when they do not round-trip (a row
	// damaged in the store), whose bytes are carried as they are.
	event := func(e *Entry) *activitylog.Event {
		ev = activitylog.Event{}
		if bytes.IndexByte(e.Canonical, 0) >= 0 || json.Unmarshal(e.Canonical, &ev) != nil {
			return nil
		}
		var err error
		if again, err = activitylog.AppendCanonical(again[:0], &ev); err != nil || !bytes.Equal(again, e.Canonical) {
			return nil
		}
		return &ev
	}
	for _, ch := range chains {
		if len(o.Chains) > 0 && !slices.Contains(o.Chains, ch.ID) {
			continue
		}
		st.Chains++
		if err := bw.Chain(ch); err != nil {
			return st, err
		}
		cps, err := src.Checkpoints(ctx, ch.ID)
		if err != nil {
			return st, err
		}
		var prunes []PruneRecord
		if ps, ok := src.(PruneSource); ok {
			if prunes, err = ps.Prunes(ctx, ch.ID); err != nil {
				return st, err
			}
		}
		// A bundle of selected events of a pruned chain begins at its
		// last cut: the pruning record stands for the events before it
		// (its tree for their part of the Merkle tree), the checkpoint at
		// the cut is the first one written, and the proofs are made
		// from the hashes after the cut.
		var cut *PruneRecord
		if !whole && len(prunes) > 0 {
			cut = &prunes[len(prunes)-1]
			for i := range prunes {
				if prunes[i].UpToSeq > cut.UpToSeq {
					cut = &prunes[i]
				}
			}
			prunes = []PruneRecord{*cut}
			cps = slices.DeleteFunc(cps, func(cp Checkpoint) bool { return cp.ToSeq < cut.UpToSeq })
		}
		for _, cp := range cps {
			if !known[cp.KeyID] && !slices.Contains(st.UnknownKeys, cp.KeyID) {
				st.UnknownKeys = append(st.UnknownKeys, cp.KeyID)
			}
			st.Checkpoints++
			if err := bw.Checkpoint(cp); err != nil {
				return st, err
			}
		}
		for _, p := range prunes {
			st.Prunes++
			if err := bw.Prune(p); err != nil {
				return st, err
			}
		}
		var tree *ProofTree
		var size uint64
		if !whole && len(cps) > 0 {
			size = cps[len(cps)-1].ToSeq
			hashes := func(from, to uint64) ([]Hash, error) { return src.Hashes(ctx, ch.ID, from, to) }
			if cut != nil {
				tree, err = NewProofTreeAfter(cut, size, hashes)
			} else {
				tree, err = NewProofTree(size, hashes)
			}
			if err != nil {
				return st, fmt.Errorf("chain %s: cannot make proofs (run verify to see what is wrong): %w", ch.ID, err)
			}
			for i := 1; i < len(cps); i++ {
				s1, s2 := cps[i-1].ToSeq, cps[i].ToSeq
				if s1 >= s2 || s1 < 1 {
					continue
				}
				p, err := tree.Consistency(s1, s2)
				if err != nil {
					return st, fmt.Errorf("chain %s: %w", ch.ID, err)
				}
				st.Consistency++
				if err := bw.Consistency(BundleConsistency{Chain: ch.ID, Size1: s1, Size2: s2, Path: p}); err != nil {
					return st, err
				}
			}
		}
		err = src.Entries(ctx, ch.ID, func(e Entry) error {
			if !whole && !selected(&e) {
				return nil
			}
			// No checkpoint covers it yet, or it is an event at or below
			// the cut that a pruning run has yet to delete (one stopped
			// half way): no proof can be made, and the bundle counts it.
			if !whole && e.Seal != nil && (tree == nil || e.Seal.Seq > size || cut != nil && e.Seal.Seq <= cut.UpToSeq) {
				st.Uncovered++
				return nil
			}
			var proof *BundleProof
			if tree != nil && e.Seal != nil && e.Seal.Seq <= size {
				p, err := tree.Inclusion(e.Seal.Seq, size)
				if err != nil {
					return fmt.Errorf("chain %s seq %d: %w", ch.ID, e.Seal.Seq, err)
				}
				proof = &BundleProof{TreeSize: size, Path: p}
				st.Proofs++
			}
			if e.Seal != nil {
				st.Events++
			} else {
				st.Unsealed++
			}
			return bw.Event(event(&e), e.Canonical, e.Seal, proof)
		})
		if err != nil {
			return st, err
		}
	}
	if len(o.Chains) == 0 {
		err = src.Unsealed(ctx, func(e Entry) error {
			if !whole && !selected(&e) {
				return nil
			}
			st.Unsealed++
			return bw.Event(event(&e), e.Canonical, nil, nil)
		})
		if err != nil {
			return st, err
		}
	}
	bw.Uncovered(st.Uncovered)
	return st, bw.Close()
}
