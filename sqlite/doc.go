// Package sqlite is activitylog's embedded default store: one database
// file, pure Go (modernc.org/sqlite, no cgo), the schema migrated on
// Open.
//
//	store, err := sqlite.Open("audit.db", nil)
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	rec := activitylog.NewRecorder(store, nil)
//
// Store passes storetest.Run, the suite every store passes.
//
// # Schema
//
// Migrations are numbered SQL files in migrations/, embedded in the
// binary and recorded in the schema_migrations table as they are
// applied; Open applies those the file lacks, and so does Migrate (the
// "activitylog migrate" command). A migration is never edited once
// released; a change is a new file with the next number.
//
// Each event is one row: the fields that filters and orderings use are
// columns (time as Unix nanoseconds, the id as a 16-byte blob), and the
// whole event is kept beside them as its JSON document, which is what
// Get and Query return. The indexes are one per query shape and no
// more, each justified in migrations/0001_init.sql: events_id (unique),
// events_time, events_kind_time, and partial indexes for actor,
// tenant, object and client IP that leave out the events without one.
//
// # Writes
//
// The database runs in WAL mode with synchronous=NORMAL: a committed
// Write survives a crash of the process; a power failure may lose the
// last commits, never corrupt the file. Writes go through one
// connection, one transaction per Write, as one multi-row INSERT … ON
// CONFLICT (id) DO NOTHING per 512 events, prepared once: a batch is
// stored all or none, and a retried batch never duplicates. Events are
// encoded to JSON before the write connection is taken, by a hand-written
// encoder that gives exactly encoding/json's bytes.
//
// A background goroutine copies the write-ahead log back into the
// database file 100ms after writes (Options.CheckpointInterval), so that
// no Write has to; a Write does it only when the log outgrows
// Options.CheckpointPages.
//
// # Reads
//
// Query, Get and Count use a pool of connections of their own, and in
// WAL mode never wait for a write. Query calls Filter.Normalize first
// and returns its error unchanged. Keyset pages read the index in order
// from the cursor's (value, id) and stop after PageSize+1 rows; Search
// is a case-insensitive (ASCII) LIKE over the message, request path,
// object repr and actor name, with %, _ and \ escaped, and reads rows in
// time order until the page is full. Orderings other than time, and a
// filter by object type without an object id, sort every matching row.
//
// # Performance
//
// BenchmarkWrite writes batches of 500 request events to a file:
//
//	go test -run x -bench BenchmarkWrite -benchtime 20x ./sqlite/
//
// On a 2-core virtual machine that gave 41,000 to 62,000 events/s
// (median about 48,000) into a new file, and 28,000 to 31,000 events/s
// with -benchtime 200x, by when the file holds 100,000 events. What
// grows with the file is the indexes on actor and client IP: their keys
// arrive in no order, so once an index has more leaf pages than a batch
// has events, each event dirties a page of its own in each, and each such
// page is written to the log (a batch of 500 wrote about 200 pages into
// a new file, 1,200 at 100,000 events) and later to the database file.
package sqlite
