// Package archive keeps a store's old events in files before a
// retention run deletes them, and loads them back.
//
// # Files
//
// An Archiver writes one file per kind and UTC day (and tenant scope)
// of the events that an activitylog.PurgeRequest selects, named by
// FileName: crud/2026/03/01/crud-2026-03-01.ndjson.gz. Each file is an
// offline bundle of the integrity package (integrity.BundleHeader):
// gzip-compressed NDJSON, a header record first, one record per event,
// an end record with the counts last. For a store that keeps seals
// (sqlite.Store, postgres.Store) the file also carries the chains'
// signed checkpoints, the consistency proofs between them and an
// inclusion proof for each sealed event, so that it verifies offline:
//
//	activitylog verify --bundle crud-2026-03-01.ndjson.gz --public-key signer.pub
//
// Beside each file, NAME.sha256 holds its SHA-256 as sha256sum writes
// it (`sha256sum -c NAME.sha256`).
//
// # Archive before delete
//
// Archiver.Archive returns nil only when every file is stored through
// the Archive (Dir: written to a temporary name, fsynced, linked to its
// name, the directory fsynced), its checksum file stored, and both read
// back and checked against the bytes written and the store's count. A
// retention runner deletes only after that:
//
//	ar, _ := archive.New(archive.Dir{Root: "/var/lib/activitylog/archive"}, store, nil)
//	if _, err := ar.Archive(ctx, req); err != nil {
//		return err // nothing is deleted
//	}
//	store.Purge(ctx, req)
//
// # Restore
//
// Restore and RestoreFile check a whole file first, its checksum and
// every record (ReadArchive, with limits on line length, events and
// size), and only then write its events in batches; a file that fails
// gets an error wrapping ErrDamaged that names the line and field, and
// nothing of it is written. Writers are idempotent by id, so restoring
// twice is harmless.
//
// # Storage
//
// Archive is three methods (Put, Open, List), so that object storage
// can stand in for Dir; docs/archive.md shows an S3-compatible one.
package archive
