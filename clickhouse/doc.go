// Package clickhouse is an activitylog store in ClickHouse, over the
// native protocol (github.com/ClickHouse/clickhouse-go/v2). It suits
// large trails: inserts in blocks, analytics as GROUP BYs in the
// server.
//
//	store, err := clickhouse.Open(ctx, "clickhouse://127.0.0.1:9000/audit", nil)
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	rec := activitylog.NewRecorder(store, nil)
//
// Store is an activitylog.Store, Resolver, Analyzer, Scanner and Purger, and
// passes storetest.Run and storetest.RunAnalyzer. It was written and
// tested against ClickHouse 18.16 (Debian's package), and needs nothing
// newer: no DateTime64, JSON, Map, Bool or IPv4 types, no TTL, no
// server-side query parameters.
//
// # Schema
//
// Open creates the tables it lacks (unless Options.SkipMigrate), as
// numbered steps recorded in a migrations table; the database must
// exist. With Options.ReadOnly it creates nothing, refuses a database
// that is not at the last step, and the server refuses every write. The events table (Options.Table, default "events") is a
// ReplacingMergeTree partitioned by month and ordered by (tenant,
// kind, time, id), in granules of 1024 rows. Time is Unix nanoseconds
// in an Int64, the id a FixedString(16). The fields that orderings use
// have columns; the other fields that filters, Search and the
// analytics read are the elements of one Array(String) column, attrs;
// the rest of the event is a JSON document in a String column, data.
// Few columns, because ClickHouse 18.16 writes each column of each
// insert as files of its own, and creating them was most of an
// insert's cost. Resolutions are rows of a table of their own, every
// one kept; the last stored wins.
//
// # Writes
//
// A Write asks which of its ids the table holds at the batch's times
// and sends the others as one block of one INSERT, so a retried batch
// never duplicates. ClickHouse has no transactions: a block is stored
// whole in each partition (month) it touches, so a batch within one
// month is stored all or none, and a failed batch across months may
// have stored some months; its retry stores the rest, and converges to
// exactly once. Two processes that write the same new event at the
// same moment may both store it; the engine folds such identical rows
// when it merges parts. See write.go for the whole argument.
//
// Arguments are bound by the driver on the client: strings quoted, with
// ', \ and NUL escaped; every other byte passes as it is. Strings are
// compared as bytes, so filters are exact and text orderings are in
// byte order; Search folds ASCII letters only
// (positionCaseInsensitive). The fields with columns or in attrs come
// back byte for byte; the others go through JSON, where a byte that is
// not valid UTF-8 becomes U+FFFD.
//
// # Reads
//
// Query, Count and the analytics narrow the primary index by tenant,
// kind and time. ClickHouse 18.16 cannot read a table in its order to
// stop at a page, so a page reads every row its filter selects and
// keeps the first PageSize+1 (a top-N sort): narrow filters and
// windows are fast, a page of a whole large tenant is not. Get looks
// for a version 7 id near the time it carries first, through the
// index, and reads every id only when it is not there.
//
// # Retention
//
// Purge (activitylog.Purger, which the CLI's cleanup and serve's
// retention policies call) deletes the events before a cut, of some
// kinds or all, of one tenant or all; the records of purges (system
// events of category retention) are never deleted. ClickHouse 18.16
// has no DELETE statement and no TTL, so:
//
//   - When a purge is of every tenant and kind, each month (partition)
//     that ends, in the server's time zone, at or before the cut and
//     holds no record of a purge is counted and dropped whole (ALTER
//     TABLE … DROP PARTITION), which costs nothing; not one over the
//     server's max_partition_size_to_drop, one that holds an event at
//     or after the cut, or those from December 2099 on (the partition
//     key caps later times there).
//   - The rest, and every narrower purge, is counted and then deleted
//     by one mutation (ALTER TABLE … DELETE WHERE), which Purge waits
//     for, polling system.mutations. The server rewrites, whole, each
//     part that holds an event the mutation deletes, and parts are
//     merged up to a month: a cut inside a month rewrites that month's
//     parts. With nothing left to delete (as when the cut is at a
//     month's start, after months without records of purges), no
//     mutation is made at all.
//   - On 18.16 system.mutations reports no failure (a newer server's is
//     an error wrapping activitylog.ErrUnavailable): the server retries
//     a failing mutation forever. Purge waits for its own mutation, and
//     for those made before it, each wait at most
//     Options.MutationTimeout (1h; two waits, so up to twice that),
//     then fails naming them, so a stuck one does not hold every later
//     purge.
//
// Counts are exact, distinct ids by kind: an event stored twice (see
// Writes) counts once. Without transactions the count and the delete
// are two statements: this Store's Writes of events before the cut
// wait between them (Writes of later events go on), but another
// process that writes events before the cut during a purge may have
// them deleted uncounted. ClickHouse does not seal events, so
// KeptSealed is always 0. A purged event's resolutions are kept, as
// the other stores keep them. A store opened ReadOnly refuses to purge.
package clickhouse
