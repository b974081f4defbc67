// Package postgres is an activitylog store in PostgreSQL (pgx v5): the
// events table partitioned by time, batches written with COPY, the
// schema migrated on Open.
//
//	store, err := postgres.Open(ctx, "postgres://audit@db:5432/app", nil)
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	rec := activitylog.NewRecorder(store, nil)
//
// Store passes storetest.Run and storetest.RunAnalyzer. It is an
// activitylog.Store, Resolver, Scanner, Analyzer and Purger, and an
// integrity.SealStore, Source, BundleSource and PruneSource; DropBefore
// is the retention fast path.
//
// # Schema
//
// The tables live in one schema, Options.Schema ("activitylog" by
// default), which Open creates. Migrations are numbered SQL files in
// migrations/, embedded in the binary and recorded in
// schema_migrations; Open applies those the schema lacks in one
// transaction under an advisory lock, so that replicas opening at once
// migrate once (Migrate).
//
// Each event is one row of events: the fields that filters, orderings
// and analytics use are columns (time as Unix nanoseconds, text
// COLLATE "C" so that orderings compare bytes), changes and extra are
// jsonb, and the whole event is kept as its JSON document (bytea), which
// is what Get and Query return. events is partitioned by RANGE (time),
// a partition a month by default (Options.PartitionInterval: day, week,
// month or year, fixed when the schema is made), with a DEFAULT
// partition as a safety net. Indexes: the primary key (time, id), and
// partial indexes on (kind, time) for the kinds but request, (actor_id,
// time), (tenant, time) and (object_type, object_id, time); each is
// explained in migrations/0001_init.sql. No GIN index: no query of the
// store looks inside changes or extra by containment.
//
// # Writes
//
// A unique key of a partitioned table must hold the partition key, so
// events' (time, id) cannot tell that an id is stored already with
// another time. event_ids, a narrow table that is not partitioned, holds
// every stored id once and makes Write idempotent by id alone. Write
// encodes the batch, creates the partitions it needs (in a transaction
// of its own, under an advisory lock; the next period's too, ahead of
// time), then in one transaction sends the ids with COPY into event_ids
// and the rows with COPY into events. When an id is stored already (a
// retry), that transaction fails on event_ids' key, and the batch goes
// the slow way instead: COPY into the connection's temporary staging
// table, then one INSERT … SELECT that puts the ids into event_ids ON
// CONFLICT DO NOTHING and only the rows whose id it took into events. A
// batch is stored all or none; a concurrent Write of the same id waits
// on event_ids' key and then skips it.
//
// # Reads
//
// Query calls Filter.Normalize first and returns its error unchanged.
// Keyset pages read an index in order from the cursor's (value, id) and
// stop after PageSize+1 rows; offset pages use OFFSET. Search is ILIKE
// over the message, request path, object repr and actor name, which under
// COLLATE "C" folds ASCII letters only, with %, _ and \ escaped. Get
// reads the event's time from event_ids, then its row through one
// partition's primary key. Scan is one query whose rows are read as the
// callback takes them. The analytics (Analyzer) are GROUP BY queries in
// one REPEATABLE READ snapshot, their groups folded by the root
// package's Dashboard helpers.
//
// # Text
//
// PostgreSQL's text refuses NUL and bytes that are not UTF-8, which an
// Event's strings may hold. The columns hold such a string with each of
// those bytes as U+FFFD (what encoding/json writes for an invalid byte,
// so the document agrees), and filters map their values the same way;
// the document keeps a NUL as \u0000, and Get returns it. jsonb refuses
// \u0000 too: changes and extra hold it as \ufffd.
//
// # Integrity
//
// Store is an integrity.SealStore, Source and BundleSource: an
// integrity.Writer over it seals events into hash chains with signed
// checkpoints, and integrity.Verify and WriteBundle read them back
// (seal.go, migrations/0002_integrity.sql). A seal is a row of seals,
// keyed (chain, seq), beside the event's row (a unique key on events
// would have to hold time); chains holds each chain's state and
// checkpoints the signed checkpoints. WriteSealed runs in one
// transaction under the chain's advisory lock, so that two writers of
// one chain go one at a time: it reads the tail, leaves out the ids
// stored already, and COPYs events, ids and seals, then stores the
// state and the checkpoint. The verifier recomputes each event's
// canonical bytes from its document; a column that disagrees with the
// document, an event row missing or moved to another time, is a
// finding. Prune deletes a chain's oldest events at a signed checkpoint
// after storing a signed pruning record (integrity.PruneSource), as the
// sqlite store does (seal_prune.go). Seals and LastCheckpoint serve the
// integrity API of activitylog serve (package integrityhttp), which
// seals into this store when its store setting names it.
//
// # Retention
//
// Purge deletes the unsealed events a PurgeRequest selects and counts
// the sealed ones it keeps; for every tenant and kind it drops the
// partitions wholly before the cut that hold no record of a purge and
// no sealed event, and deletes the rest row by row, 5000 a transaction.
// Prune is the retention of sealed trails. DropBefore drops every
// partition wholly before a time, sealed events included (their seals
// stay, and the verifier reports each as modified).
//
// # Locks
//
// TryLock takes a session-level advisory lock for a job that must run
// on one replica only (retention, health checks), on a connection of
// its own; the lock is lost when that connection drops, which Lost and
// Check report, so the jobs it guards must be idempotent.
package postgres
