// Package mongo stores activitylog events in MongoDB, through the
// official Go driver (go.mongodb.org/mongo-driver/v2).
//
//	s, err := mongo.Open(ctx, "mongodb://127.0.0.1:27017/audit", nil)
//
// # Layout
//
// One database (Options.Database, else the URI's path, else
// "activitylog") holds three collections: the events
// (Options.Collection, "events"), each event's latest resolution
// ("resolutions") and every resolution ever stored ("resolutions_log").
//
// An event is one document. Its _id is the event id as canonical UUID
// text, which sorts as the id's bytes do. Its time is an int64 of Unix
// nanoseconds, not a BSON date, which holds milliseconds only. Every
// field that a Filter or an ordering reads is a top-level field
// (kind, action, severity, tenant, actor_id, object_type, object_id,
// remote_ip, status, duration, method, origin, category, tool), and the
// event itself is kept whole in "event" as its JSON document, the
// documented event format, so that every field round-trips exactly.
// Search reads four more fields, ASCII-lowercased copies of the
// message, request path, object repr and actor name.
//
// All tenants share the one collection, with a tenant field that the
// queries filter on (and that leads the tenant, kind and time index).
// Keeping tenants apart in separate databases, where a deployment wants
// that, is the job of the layer that routes a tenant to its store: this
// package is given one database and serves whatever it holds.
//
// Open creates the indexes that the filters and orderings use (Indexes
// lists them) unless Options.SkipIndexes. It lists the indexes first and
// creates only the missing ones, one command each, so reopening a
// database costs one round trip and never asks FerretDB v1 to create
// indexes that exist (a createIndexes command naming two or more
// existing indexes makes FerretDB v1.24.2 drop the connection). With
// Options.ReadOnly it creates nothing (no index, no collection), refuses
// a database without the events collection, and the store refuses every
// write.
//
// # Writes
//
// Write is idempotent by event id (a duplicate _id is skipped) but not
// all or nothing: without transactions (FerretDB has none, and MongoDB
// has them only on a replica set) a Write that fails may have stored
// part of its batch. Retrying the batch, as the Recorder does, stores
// what is missing, so a retried batch converges to each event stored
// exactly once. See Store.Write.
//
// # Retention
//
// Purge (activitylog.Purger, for the CLI's cleanup and serve's
// retention policies) deletes the events a PurgeRequest selects, in
// rounds of at most 5000: it finds their ids and kinds, then deletes
// them by id, one deleteMany per kind, so that the counts by kind are
// the server's own. The records of purges (system events of category
// retention) are never deleted. The store seals nothing, so nothing is
// kept for a seal (KeptSealed is 0). A purged event's latest resolution
// goes with it, so that Resolution answers not found, as the SQL stores
// do; the resolution log keeps every resolution, as their resolutions
// tables do. Without transactions each command is atomic, the purge
// is not: one that fails part way has deleted what its result counts,
// and running it again deletes the rest (but not the latest
// resolutions of events it deleted just before failing). See
// Store.Purge.
//
// # Queries
//
// Query, Count and Scan mean what activitylog.Filter.Match means. Text
// orderings compare bytes, as MongoDB compares strings without a
// collation; ties are broken by _id. Search is a case-sensitive regular
// expression, the search text quoted literally and ASCII-lowercased,
// over the lowercased copies, so only ASCII letters fold, whatever the
// server's own case folding does. Keyset cursors become range
// conditions on (field, _id); offset pages use skip and limit.
//
// The Store does not implement activitylog.Analyzer: the API falls back
// to activitylog.ScanAnalyzer, which reads the events through Scan.
//
// # Errors
//
// A bad URI or option is an *activitylog.FieldError naming it ("uri",
// "database", "collection", …), with any password in the URI replaced
// by "xxxxx". A server that cannot be reached within the server
// selection timeout, and any other error of the deployment, wraps
// activitylog.ErrUnavailable.
//
// # Servers
//
// The tests ran against FerretDB v1.24.2 on PostgreSQL 15 (see
// tools/ferretdb), which speaks the MongoDB wire protocol, not against
// a MongoDB server; set ACTIVITYLOG_TEST_MONGO_URI to run them against
// one. FerretDB v1 sorts and counts in its own memory, pushing only
// equality filters down to PostgreSQL, so there a page or a count costs
// time in proportion to the events that match (BenchmarkQuery); on
// MongoDB the indexes serve sort and limit.
package mongo
