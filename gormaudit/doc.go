// Package gormaudit records GORM's data changes as activitylog events:
// a GORM plugin, registered with db.Use.
//
//	rec := activitylog.NewRecorder(store, nil)
//	db.Use(gormaudit.New(rec, &gormaudit.Options{
//		Exclude: map[string][]string{"*": {"updated_at"}},
//		Mask:    []string{"password_hash"},
//	}))
//	db.WithContext(activitylog.WithActor(ctx, actor)).Create(&user)
//
// # Events
//
// Creates, updates and deletes are crud events of action create,
// update and delete. Object.Type is the table name (a join table for
// many-to-many associations, so Append, Replace, Delete and Clear are
// recorded as creates and deletes of join rows), Object.ID the primary
// key (a composite key as a JSON array of strings, ["7","admin"]), and
// Object.Repr the model's AuditRepr or String method. Changes maps
// column names to old and new values. Before an update the plugin
// reads, in the same transaction and by the update's own WHERE clause,
// the old values of the columns being assigned; before a delete, the
// whole rows. Reads are recorded, as action "read", only for the models
// that opt in (Options.ReadModels, ReadAuditor).
//
// # One row, many rows
//
// A statement that touches one row makes one row event. A statement
// that touches several (a bulk Updates or Delete with a condition, a
// slice Create, CreateInBatches, a Find) makes set events: Object.ID is
// empty and Extra holds "set": true, "count" (the rows in the whole
// statement), "ids" (this event's rows), "rows" (per id, each column's
// old and new value), "condition" (the WHERE clause, values inlined),
// and "chunk" and "chunks". A set event accounts for at most
// Options.ChunkSize rows, so a bulk update of 10,000 rows leaves 20 set
// events that together list every id, each within activitylog's limits.
// Rows that cannot be told apart (a table without a primary key) are
// accounted for by count and condition, with "ids_unknown": true.
//
// # Transactions
//
// Events of a write are held until its transaction commits and dropped
// when it rolls back. The plugin wraps the connection pool so that it
// sees the commit of every transaction GORM begins: the default one
// around each write, db.Begin and db.Transaction. Savepoints (nested
// db.Transaction, SavePoint and RollbackTo) are followed, so events
// after a savepoint are dropped when the transaction rolls back to it.
// Reads are recorded at once: the data was disclosed either way.
//
// Not recorded: AutoMigrate and other migrator calls, raw SQL (Exec,
// Raw), and statements with DryRun. Transactions begun outside the
// wrapped pool (db.Connection, a *sql.Tx handed to GORM) are recorded
// statement by statement, without waiting for the commit.
//
// # Failure
//
// The plugin never fails the host's query. A failing Record, a failing
// read of old values, and a panic in Options.Filter or a model's
// AuditRepr or String method go to Options.OnError.
package gormaudit
