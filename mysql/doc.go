// Package mysql is an activitylog store in a MySQL or MariaDB database,
// through database/sql and github.com/go-sql-driver/mysql.
//
//	store, err := mysql.Open(ctx, "mysql://audit:secret@db.internal:3306/audit", nil)
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	rec := activitylog.NewRecorder(store, nil)
//
// Store is an activitylog.Store, Resolver, Analyzer and Purger, and
// passes storetest.Run and storetest.RunAnalyzer against MariaDB 10.11.
// It seals too: it is an integrity.SealStore, Source, BundleSource and
// PruneSource, and passes integrity/sealtest.Run.
//
// # Connecting
//
// Open takes a URL, mysql://user:password@host:port/database?param=value,
// or the driver's own DSN, user:password@tcp(host:port)/database?param=value;
// the parameters are the driver's (tls, timeout, readTimeout, …) in
// both forms. The database must exist; Open creates the tables. It sets
// what the store relies on whatever the DSN says: the utf8mb4
// character set, parseTime off, interpolateParams on (arguments are
// written into the statement text by the driver: one round trip a
// statement, nothing prepared) and a strict sql_mode without
// NO_BACKSLASH_ESCAPES. A bad DSN or option is an error wrapping
// activitylog.ErrInvalid that names it, with the password redacted; a
// server that cannot be reached, one wrapping activitylog.ErrUnavailable.
//
// # Schema
//
// Migrations are numbered SQL files in migrations/, embedded in the
// binary and recorded in schema_migrations; Open applies those the
// database lacks while it holds a named lock (GET_LOCK), so that
// processes opening one database at once migrate it once. DDL is not
// transactional in MySQL, so a migration that a crash cut short is not
// recorded and runs again from its first statement: every statement is
// written to be harmless the second time (CREATE TABLE IF NOT EXISTS,
// indexes inside it).
//
// Each event is one InnoDB row: the id (BINARY(16)) is the primary key,
// the time is a BIGINT of Unix nanoseconds, the fields that filters and
// orderings use are columns, changes and extra are JSON text, and the
// whole event is its JSON document (LONGBLOB), which Get and Query
// return. Text columns are binary (VARBINARY, BLOB), so comparisons and
// orderings compare bytes, trailing spaces included, as a "C" collation
// does. Search folds ASCII letters only, which no MySQL collation does,
// so the four searched fields are also stored with their ASCII letters
// lowered and searched with a byte-wise LIKE. migrations/0001_init.sql
// justifies each column and index.
//
// # Writes
//
// A Write sends its batch as the rows of LOAD DATA LOCAL INFILE files
// of at most Options.BatchBytes (4 MiB) and 10,000 rows each, read by
// the server without its SQL parser (about three quarters of the server
// CPU an event that INSERTs cost), in one transaction, so a batch is
// stored all or none. LOAD DATA LOCAL skips a row whose id is stored
// (IGNORE), so a retried batch never duplicates; it also makes a
// warning of a value that does not fit or a broken constraint, so the
// store reads the warnings of every file and refuses the batch, rolled
// back, on any but a duplicate id. The file is a reader registered with
// the driver under a random name for the one statement; files of this
// host stay refused (allowAllFiles is). Where the server does not take
// LOAD DATA LOCAL (local_infile off, a proxy) or Options.Inserts says
// so, a Write is multi-row INSERT … ON DUPLICATE KEY UPDATE id = id
// statements instead, whose values Write escapes itself, one
// autocommitted statement or several in one transaction; a Write that
// the server refuses LOAD DATA switches the store to INSERTs and sends
// the batch so. Not INSERT IGNORE, which turns a value that does not
// fit, and most other errors, into warnings. A deadlock with a
// concurrent Write is retried. Write refuses, with an
// *activitylog.FieldError, the events it cannot store faithfully:
// a time outside 1678–2261, a kind, action, tenant, actor id or object
// type longer than 1024 bytes, a value JSON cannot hold, an event
// larger than max_allowed_packet, a value the server refuses.
//
// # Reads
//
// Query pages by keyset (the cursor's ordering value and id) or by
// offset; every ordering breaks ties by id, and each secondary index
// ends in the primary key, so a time ordering with its tiebreak is one
// index read in either direction. The analytics are GROUP BY over the
// events in one read-only REPEATABLE READ transaction per call; there
// are no rollups, so a dashboard's cost grows with its window.
//
// # Integrity
//
// Events written through an integrity.Writer over the store are sealed
// into hash chains with signed checkpoints, as in the sqlite and
// postgres stores (migrations/0003_integrity.sql: seals, chains,
// checkpoints, prunes). WriteSealed is one transaction: it locks the
// chain's row in chains (INSERT … ON DUPLICATE KEY UPDATE, which also
// creates it for a new chain), reads the chain's state and last seal
// and checks one against the other (integrity.ErrTornChain), leaves out
// the ids already stored, and inserts the events with plain multi-row
// INSERTs, their seals, the new state and the checkpoint. The verifier
// (Entries) recomputes each event's canonical bytes from its document
// and time column and compares every other column with the document, so
// that an edit of either is reported. Purge never deletes a sealed
// event; Prune deletes a chain's oldest events at a signed checkpoint,
// after storing a signed pruning record (integrity.RunPrune).
//
// # Locks
//
// Store.TryLock takes a named lock of the server (GET_LOCK with no
// wait) for a job that must run on one replica at a time, as the
// postgres store's advisory lock does: replicas that share a database
// contend for it, and the same name in another database is another
// lock. The server-side name is "activitylog.lock." and a SHA-256 hash
// of the database and the name (Lock.Key), within the 64 characters
// that the server allows. The lock is held by a connection that the
// Lock keeps (a *sql.Conn of a pool of the locks' own, so none of
// Options.MaxConns) until Release, which runs RELEASE_LOCK and closes
// it. Two
// TryLocks of one name exclude each other even in one store, as each
// runs on its own connection (GET_LOCK is reentrant only within a
// connection). The server frees the lock when its connection ends: a
// goroutine checks the connection every second (IS_USED_LOCK), closes
// Lock.Lost when the lock is no longer the connection's, and Release
// then returns an error wrapping ErrLockLost. A lock is not a fence:
// the jobs it guards must be idempotent.
package mysql
