package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/activitylog/activitylog/integrity"
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
		"activitylog verify --bundle FILE --public-key PUB, with the server stopped and the database gone. " +
		"With store set (--store, ACTIVITYLOG_STORE, or the --config file) it reads that event store, as serve writes it, instead of --db: " +
		"a store that keeps no seals (clickhouse, mongodb) is refused (docs/sealing.md).",
	subs: []*subcommand{
		{name: "", summary: "write the bundle", define: defineExport},
	},
}

func defineExport(fs *flag.FlagSet) func(context.Context, *cli) error {
	var pubs keyFiles
	var filters filterFlags
	withProofs := fs.Bool("with-proofs", false, "write the offline bundle (required: it is the only export this command makes)")
	db := fs.String("db", "./activitylog.db", "SQLite database `PATH` to export from, when no --store is set; it must exist")
	out := fs.String("out", "", "bundle `FILE` to write (never over an existing one), or - for standard output")
	fs.Var(&pubs, "public-key", "PEM public key `FILE` to put in the bundle, the one that signed its checkpoints (repeatable)")
	filters.define(fs, "export")
	storeURL := defineStoreFlag(fs)
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
		url := storeURL(c)
		store, err := openTrail(ctx, *db, url, true, checkBundleSource)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, store.Close()) }()

		var w io.Writer = c.stdout
		if *out != "-" {
			f, ferr := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if ferr != nil {
				return usageError("--out: %v", ferr)
			}
			// err is the command's: a bundle cut short by any failure
			// (a --chain unknown, the store) must not stay behind,
			// where it would pass for the whole trail's.
			defer func() {
				err = errors.Join(err, f.Close())
				if err != nil {
					os.Remove(*out)
				}
			}()
			w = f
		}
		st, err := exportBundle(ctx, store.(integrity.BundleSource), w, &o, keys)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "activitylog export: wrote %s from %s: %d chains, %d checkpoints, %d prune records, %d sealed events, %d without a seal, %d inclusion proofs, %d consistency proofs\n",
			*out, trailName(*db, url), st.Chains, st.Checkpoints, st.Prunes, st.Events, st.Unsealed, st.Proofs, st.Consistency)
		if st.Uncovered > 0 {
			fmt.Fprintf(c.stderr, "activitylog export: left out %d selected events that no checkpoint covers yet (only a proof to a signed checkpoint vouches for a selected event); export again after the next checkpoint to include them\n", st.Uncovered)
		}
		for _, id := range st.UnknownKeys {
			fmt.Fprintf(c.stderr, "activitylog export: WARNING: checkpoints signed by key %s, which no --public-key given is: the auditor must have it\n", id)
		}
		return nil
	}
}

// exportBundle writes the bundle of store's events that o selects. A
// store that is also an integrity.PruneSource has its pruning records
// written too.
func exportBundle(ctx context.Context, store integrity.BundleSource, w io.Writer, o *integrity.VerifierOptions, keys []ed25519.PublicKey) (*integrity.ExportStats, error) {
	st, err := integrity.WriteBundle(ctx, store, w, &integrity.ExportOptions{
		Chains: o.Chains, Kinds: o.Kinds, From: o.From, To: o.To, PublicKeys: keys,
	})
	if errors.Is(err, integrity.ErrNoSuchChain) {
		return nil, usageError("--chain: %v", err)
	}
	return st, err
}
