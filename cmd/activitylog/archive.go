package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
	"github.com/activitylog/activitylog/integrity"
)

// archiveCommand restores archive files (docs/archive.md).
var archiveCommand = &command{
	name:    "archive",
	summary: "restore archive files written before a retention run deleted their events",
	about: "restore FILE checks an archive file whole (its FILE.sha256 checksum file, every record, the limits; " +
		"with --public-key its seals and proofs) and only then writes its events to the store, in batches; a file that fails " +
		"is named with the line and field, and nothing of it is written. Stores skip ids they hold, so restoring twice is harmless. " +
		"With store set (--store, ACTIVITYLOG_STORE or the --config file) it writes to that store instead of --db (docs/archive.md).",
	subs: []*subcommand{
		{name: "restore", args: "FILE", nargs: 1, summary: "load archive files back into the store", define: defineArchiveRestore},
	},
}

func defineArchiveRestore(fs *flag.FlagSet) func(context.Context, *cli) error {
	var pubs keyFiles
	db := fs.String("db", "./activitylog.db", "SQLite database `PATH` to restore into, when no --store is set; it must exist (run activitylog migrate first)")
	batch := fs.Int("batch-size", 500, "events per write")
	maxLine := fs.Int("max-line-bytes", archive.DefaultMaxLineBytes, "longest record line accepted")
	maxEvents := fs.Int("max-events", archive.DefaultMaxEvents, "most events accepted in one file")
	fs.Var(&pubs, "public-key", "PEM public key `FILE` of the checkpoints' signer: files with sealed events must verify against it (repeatable)")
	storeURL := defineStoreFlag(fs)
	return func(ctx context.Context, c *cli) (err error) {
		if *batch < 1 || *batch > 10000 {
			return usageError("--batch-size %d: must be between 1 and 10000", *batch)
		}
		// The reader takes 0 or less as its default: a limit given so
		// is a mistake, not a wish for the default.
		if *maxLine < 1 {
			return usageError("--max-line-bytes %d: must be at least 1", *maxLine)
		}
		if *maxEvents < 1 {
			return usageError("--max-events %d: must be at least 1", *maxEvents)
		}
		// A FILE that is not there reads as a damaged archive (no
		// checksum file): say what is wrong, before the store opens.
		for _, path := range c.args {
			if fi, err := os.Stat(path); err != nil {
				return usageError("FILE %q: %v", path, unwrapPath(err))
			} else if !fi.Mode().IsRegular() {
				return usageError("FILE %q: is not a regular file", path)
			}
		}
		var keys []ed25519.PublicKey
		for _, f := range pubs {
			k, err := integrity.LoadPublicKey(f)
			if err != nil {
				return usageError("--public-key: %v", err)
			}
			keys = append(keys, k)
		}
		store, err := openTrail(ctx, *db, storeURL(c), false, func(activitylog.Store, string) error { return nil })
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, store.Close()) }()
		opts := &archive.RestoreOptions{
			BatchSize:  *batch,
			PublicKeys: keys,
			Read:       archive.ReadOptions{MaxLineBytes: *maxLine, MaxEvents: *maxEvents},
		}
		for _, path := range c.args {
			res, err := archive.RestoreFile(ctx, path, store, opts)
			if err != nil {
				return err // names the file, line and field
			}
			verified := ""
			if res.Verified {
				verified = ", seals and proofs verified"
			}
			// The store skips an id it holds and does not say which it
			// skipped: the count is of events now in it, new or not.
			fmt.Fprintf(c.stdout, "%s: %d events restored or already present (%d sealed in the file) in %d batches, sha256 %s%s\n",
				filepath.Base(path), res.Events, res.Sealed, res.Batches, res.SHA256, verified)
		}
		return nil
	}
}

// unwrapPath is err without the operation and path of an
// *os.PathError, which the message already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
