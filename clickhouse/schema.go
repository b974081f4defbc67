package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/activitylog/activitylog/internal/schemaver"
)

// The events table has a column for each field that orders (the
// orderings of activitylog.Orderings, and the primary key: tenant,
// kind, time, id), one Array(String) column, attrs, for the other
// fields that filters, Search and the analytics read, and the event's
// JSON document in data, which is what Get and Query return.
//
// Why so few columns: ClickHouse 18.16 writes every column of every
// part (one part per insert and partition) as two files of its own,
// and creating files was most of an insert's cost on the machine the
// store was measured on: 5000 events took 2.5 to 4 times as long into
// a column per field (50) as into 12 columns. The array is two files
// whatever it holds. Newer servers (20.3 and later) write small parts
// as one file ("compact parts"), which removes that cost.
const eventColumns = "id, time, kind, tenant, action, actor_id, object_type, status, duration, attrs, data"

// The elements of attrs, 1-based as SQL indexes arrays.
const (
	aSeverity    = iota + 1 // Severity
	aObjectID               // Object.ID
	aRemoteIP               // Request.RemoteIP
	aMethod                 // Request.Method
	aOrigin                 // Request.Origin
	aCategory               // Category
	aTool                   // Tool
	aRoute                  // activitylog.RouteOf: Request.Route, else Request.Path
	aCountryCode            // Request.Geo.CountryCode
	aCountry                // Request.Geo.Country
	aUsername               // Extra["username"] when it is a string, for Suspects
	aActorName              // Actor.Name
	aMessage                // Message
	aPath                   // Request.Path
	aObjectRepr             // Object.Repr
	numAttrs     = iota
)

// attr returns the SQL of element i of attrs.
func attr(i int) string { return "attrs[" + strconv.Itoa(i) + "]" }

// partitionBy puts an event in the partition of its UTC month; times
// after 2099 (which Event.Validate accepts up to 2200, and DateTime
// cannot hold past 2106) all go to the partition of January 2100.
// Partitions are the unit of retention (ALTER TABLE … DROP PARTITION)
// and of an insert's atomicity.
const partitionBy = "toYYYYMM(toDateTime(least(intDiv(time, 1000000000), 4102444800)))"

// tables names the store's tables in one database.
type tables struct {
	db, events, resolutions, migrations string // quoted, qualified: `db`.`name`
	migrationsName                      string // the migrations table's bare name
}

func newTables(db, table string) tables {
	q := func(name string) string { return "`" + db + "`.`" + name + "`" }
	return tables{
		db:          "`" + db + "`",
		events:      q(table),
		resolutions: q(table + "_resolutions"),
		migrations:  q(table + "_migrations"),

		migrationsName: table + "_migrations",
	}
}

// identifier is what a database or table name may be: it is written
// into statements (quoted), so nothing else is accepted.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// migrations are the schema's steps, applied in order and recorded in
// the migrations table. A released step is never edited; a change is a
// new step at the end. Each is idempotent (IF NOT EXISTS), so two
// stores that open a new database at once both succeed.
//
// 1. The events: ordered by (tenant, kind, time, id), the filters the
// API uses most (every principal's filter has its tenant; the lists
// are per kind; windows are times), one partition per month, in
// granules of 1024 rows rather than 8192, so that the lookups of a few
// ids (Write's check, Get) and the pages of a narrow filter read an
// eighth of the rows. A ReplacingMergeTree: Write stores an event once
// (write.go), and the engine's merges fold the copies of the one case
// Write cannot prevent (two processes writing the same new event at the
// same moment, which store identical rows) into one.
//
// 2. The resolutions: every one kept, ordered by event and by the
// order in which they were stored (seq); the last stored wins.
func migrations(t tables) []string {
	return []string{
		"CREATE TABLE IF NOT EXISTS " + t.events + " (id FixedString(16), time Int64, kind String, tenant String," +
			" action String, actor_id String, object_type String, status Int32, duration Int64," +
			" attrs Array(String), data String) ENGINE = ReplacingMergeTree PARTITION BY " + partitionBy +
			" ORDER BY (tenant, kind, time, id) SETTINGS index_granularity = 1024",
		"CREATE TABLE IF NOT EXISTS " + t.resolutions + " (event_id FixedString(16), seq Int64," +
			" resolved_by String, resolved_at Int64, note String) ENGINE = MergeTree ORDER BY (event_id, seq)",
	}
}

// Migrate applies the schema steps the database lacks, in order, and
// records each in the migrations table (the store's table name with
// _migrations). Open calls it unless Options.SkipMigrate or
// Options.ReadOnly, and on a ReadOnly store it refuses. It returns how
// many steps it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	if s.readOnly {
		return 0, fmt.Errorf("migrate %s: %w", s.t.events, errReadOnly)
	}
	n, err := s.migrate(ctx)
	if err != nil {
		return n, fmt.Errorf("migrate %s: %w", s.t.events, err)
	}
	return n, nil
}

func (s *Store) migrate(ctx context.Context) (int, error) {
	err := s.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.t.migrations+
		" (version UInt32, applied_at Int64) ENGINE = MergeTree ORDER BY version")
	if err != nil {
		return 0, unavailable(ctx, err)
	}
	var done uint32
	if err := s.conn.QueryRow(ctx, "SELECT max(version) FROM "+s.t.migrations).Scan(&done); err != nil {
		return 0, unavailable(ctx, err)
	}
	steps := migrations(s.t)
	n := 0
	for v := int(done); v < len(steps); v++ {
		if err := s.conn.Exec(ctx, steps[v]); err != nil {
			return n, fmt.Errorf("step %d: %w", v+1, unavailable(ctx, err))
		}
		if err := s.record(ctx, uint32(v+1)); err != nil {
			return n, fmt.Errorf("record step %d: %w", v+1, unavailable(ctx, err))
		}
		n++
	}
	return n, nil
}

// record notes in the migrations table that step version was applied.
// (An INSERT with VALUES in its text waits for data blocks on 18.16:
// every insert is a batch.)
func (s *Store) record(ctx context.Context, version uint32) error {
	ins, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.t.migrations+" (version, applied_at)")
	if err != nil {
		return err
	}
	defer ins.Close()
	if err := ins.Append(version, time.Now().UnixNano()); err != nil {
		return err
	}
	return ins.Send()
}

// checkSchema refuses, for Options.ReadOnly, a database whose
// migrations table is missing or not at this version's last step,
// naming the database. It creates nothing.
func (s *Store) checkSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	return schemaver.Check("database", s.db, v, len(migrations(s.t)))
}

// SchemaVersion returns the last schema step the migrations table
// records, or 0 when the database has no such table. It creates
// nothing.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("read schema version: %w", errClosed)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?",
		s.db, s.t.migrationsName).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", unavailable(ctx, err))
	}
	if n == 0 {
		return 0, nil
	}
	var done uint32
	if err := s.conn.QueryRow(ctx, "SELECT max(version) FROM "+s.t.migrations).Scan(&done); err != nil {
		return 0, fmt.Errorf("read schema version: %w", unavailable(ctx, err))
	}
	return int(done), nil
}
