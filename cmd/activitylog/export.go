package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// exportCommand writes an offline bundle: what verify --bundle checks
// with no access to the store (docs/integrity.md, Offline bundles).
var exportCommand = &command{
	name:    "export",
	summary: "write an offline bundle of the trail with its proofs, for verify --bundle",
	about: "Writes one gzip-compressed NDJSON file (--out) holding the public keys, every chain's info, the signed checkpoints " +
		"and the events in their JSON form, each with its seal. Filtered by --kind, --from or --to, the bundle holds only " +
		"those events, each with an RFC 6962 inclusion proof to its chain's newest checkpoint, and consistency proofs between " +
		"consecutive checkpoints; with no filter, or --chain only, it holds whole chains. Anyone can then check it with " +
		"activitylog verify --bundle FILE --public-key PUB, with the server stopped and the database gone.",
	subs: []*subcommand{
		{name: "", summary: "write the bundle", define: defineExport},
	},
}

func defineExport(fs *flag.FlagSet) func(context.Context, *cli) error {
	var pubs keyFiles
	var filters filterFlags
	withProofs := fs.Bool("with-proofs", false, "write the offline bundle (required: it is the only export this command makes)")
	db := fs.String("db", "./activitylog.db", "SQLite database `PATH` to export from; it must exist")
	out := fs.String("out", "", "bundle `FILE` to write (never over an existing one), or - for standard output")
	fs.Var(&pubs, "public-key", "PEM public key `FILE` to put in the bundle, the one that signed its checkpoints (repeatable)")
	filters.define(fs, "export")
	return func(ctx context.Context, c *cli) (err error) {
		if !*withProofs {
			return usageError("give --with-proofs: export writes the offline bundle of events, checkpoints and proofs")
		}
		if *out == "" {
			return usageError("--out is required: the bundle file to write, or - for standard output")
		}
		var o integrity.VerifierOptions
		if err := filters.apply(&o); err != nil {
			return err
		}
		var keys []ed25519.PublicKey
		for _, f := range pubs {
			k, err := integrity.LoadPublicKey(f)
			if err != nil {
				return usageError("--public-key: %v", err)
			}
			keys = append(keys, k)
		}
		if err := mustExist(*db); err != nil {
			return err
		}
		store, err := sqlite.Open(*db, &sqlite.Options{CheckpointInterval: -1})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, store.Close()) }()

		var w io.Writer = c.stdout
		if *out != "-" {
			f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return usageError("--out: %v", err)
			}
			defer func() {
				err = errors.Join(err, f.Close())
				if err != nil {
					os.Remove(*out)
				}
			}()
			w = f
		}
		st, err := exportBundle(ctx, store, w, &o, filters, keys)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "activitylog export: wrote %s: %d chains, %d checkpoints, %d prune records, %d sealed events, %d without a seal, %d inclusion proofs, %d consistency proofs\n",
			*out, st.chains, st.checkpoints, st.prunes, st.events, st.unsealed, st.proofs, st.consistency)
		if st.uncovered > 0 {
			fmt.Fprintf(c.stderr, "activitylog export: left out %d selected events that no checkpoint covers yet (only a proof to a signed checkpoint vouches for a selected event); export again after the next checkpoint to include them\n", st.uncovered)
		}
		for _, id := range st.unknownKeys {
			fmt.Fprintf(c.stderr, "activitylog export: WARNING: checkpoints signed by key %s, which no --public-key given is: the auditor must have it\n", id)
		}
		return nil
	}
}

type exportStats struct {
	chains, checkpoints, prunes, events, unsealed, proofs, consistency int
	uncovered                                                          int // selected, left out: no checkpoint covers them yet
	unknownKeys                                                        []string
}

// exportBundle writes the bundle of store's events that o selects.
func exportBundle(ctx context.Context, store *sqlite.Store, w io.Writer, o *integrity.VerifierOptions, f filterFlags, keys []ed25519.PublicKey) (*exportStats, error) {
	whole := !f.filtered()
	h := integrity.BundleHeader{
		Created:     time.Now().UTC().Format(time.RFC3339Nano),
		WholeChains: whole,
		Filters:     integrity.BundleFilters{Chains: o.Chains, From: f.from, To: f.to},
	}
	if !o.From.IsZero() {
		h.Filters.From = o.From.Format(time.RFC3339Nano)
	}
	if !o.To.IsZero() {
		h.Filters.To = o.To.Format(time.RFC3339Nano)
	}
	for _, k := range o.Kinds {
		h.Filters.Kinds = append(h.Filters.Kinds, string(k))
	}
	bw, err := integrity.NewBundleWriter(w, h)
	if err != nil {
		return nil, err
	}
	st := &exportStats{}
	known := map[string]bool{}
	for _, k := range keys {
		known[integrity.KeyID(k)] = true
		if err := bw.Key(k); err != nil {
			return nil, err
		}
	}
	chains, err := store.Chains(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range o.Chains {
		if !slices.ContainsFunc(chains, func(c integrity.ChainInfo) bool { return c.ID == id }) {
			return nil, fmt.Errorf("--chain %s: no such chain in the database", id)
		}
	}
	selected := func(e *integrity.Entry) bool {
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
	event := func(e *integrity.Entry) *activitylog.Event {
		ev = activitylog.Event{}
		if bytes.IndexByte(e.Canonical, 0) >= 0 || json.Unmarshal(e.Canonical, &ev) != nil {
			return nil
		}
		if again, err = activitylog.AppendCanonical(again[:0], &ev); err != nil || !bytes.Equal(again, e.Canonical) {
			return nil
		}
		return &ev
	}
	for _, ch := range chains {
		if len(o.Chains) > 0 && !slices.Contains(o.Chains, ch.ID) {
			continue
		}
		st.chains++
		if err := bw.Chain(ch); err != nil {
			return nil, err
		}
		cps, err := store.Checkpoints(ctx, ch.ID)
		if err != nil {
			return nil, err
		}
		for _, cp := range cps {
			if !known[cp.KeyID] && !slices.Contains(st.unknownKeys, cp.KeyID) {
				st.unknownKeys = append(st.unknownKeys, cp.KeyID)
			}
			st.checkpoints++
			if err := bw.Checkpoint(cp); err != nil {
				return nil, err
			}
		}
		var prunes []integrity.PruneRecord
		if ps, ok := any(store).(integrity.PruneSource); ok {
			if prunes, err = ps.Prunes(ctx, ch.ID); err != nil {
				return nil, err
			}
		}
		for _, p := range prunes {
			st.prunes++
			if err := bw.Prune(p); err != nil {
				return nil, err
			}
		}
		if !whole && len(prunes) > 0 {
			return nil, fmt.Errorf("chain %s was pruned up to seq %d: proofs need every event hash from seq 1; export it whole (--chain %s, without --kind, --from or --to)",
				ch.ID, prunes[len(prunes)-1].UpToSeq, ch.ID)
		}
		var tree *integrity.ProofTree
		var size uint64
		if !whole && len(cps) > 0 {
			size = cps[len(cps)-1].ToSeq
			hashes := func(from, to uint64) ([]integrity.Hash, error) { return store.Hashes(ctx, ch.ID, from, to) }
			if tree, err = integrity.NewProofTree(size, hashes); err != nil {
				return nil, fmt.Errorf("chain %s: cannot make proofs (run verify to see what is wrong): %w", ch.ID, err)
			}
			for i := 1; i < len(cps); i++ {
				s1, s2 := cps[i-1].ToSeq, cps[i].ToSeq
				if s1 >= s2 || s1 < 1 {
					continue
				}
				p, err := tree.Consistency(s1, s2)
				if err != nil {
					return nil, fmt.Errorf("chain %s: %w", ch.ID, err)
				}
				st.consistency++
				if err := bw.Consistency(integrity.BundleConsistency{Chain: ch.ID, Size1: s1, Size2: s2, Path: p}); err != nil {
					return nil, err
				}
			}
		}
		err = store.Entries(ctx, ch.ID, func(e integrity.Entry) error {
			if !whole && !selected(&e) {
				return nil
			}
			if !whole && e.Seal != nil && (tree == nil || e.Seal.Seq > size) {
				// Only an inclusion proof to a signed checkpoint vouches
				// for a selected event: one that no checkpoint covers
				// yet is left out, and counted.
				st.uncovered++
				return nil
			}
			var proof *integrity.BundleProof
			if tree != nil && e.Seal != nil && e.Seal.Seq <= size {
				p, err := tree.Inclusion(e.Seal.Seq, size)
				if err != nil {
					return fmt.Errorf("chain %s seq %d: %w", ch.ID, e.Seal.Seq, err)
				}
				proof = &integrity.BundleProof{TreeSize: size, Path: p}
				st.proofs++
			}
			if e.Seal != nil {
				st.events++
			} else {
				st.unsealed++
			}
			return bw.Event(event(&e), e.Canonical, e.Seal, proof)
		})
		if err != nil {
			return nil, err
		}
	}
	if len(o.Chains) == 0 {
		err = store.Unsealed(ctx, func(e integrity.Entry) error {
			if !whole && !selected(&e) {
				return nil
			}
			st.unsealed++
			return bw.Event(event(&e), e.Canonical, nil, nil)
		})
		if err != nil {
			return nil, err
		}
	}
	bw.Uncovered(st.uncovered)
	return st, bw.Close()
}
