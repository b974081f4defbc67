package mysql

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	driver "github.com/go-sql-driver/mysql"
)

// How a batch reaches the server when the server allows it: as the rows
// of LOAD DATA LOCAL INFILE, which the server reads without its SQL
// parser. On MariaDB 10.11 that costs about three quarters of the
// server CPU an event that the same rows cost as multi-row INSERTs
// (BenchmarkIngest/store against store-inserts; BENCHMARKS.md).
//
// LOAD DATA LOCAL turns the errors of a row into warnings, whatever the
// sql_mode: a duplicate id skips the row (warning 1062), which is what
// Write wants, but a value that does not fit is truncated and a row
// that breaks a CHECK constraint is skipped, each with a warning too.
// So each file is loaded inside a transaction, the warnings are read
// after it (SHOW WARNINGS; the session's max_error_count is raised so
// that none is left out), and any warning but 1062 rolls the batch
// back and refuses it, as the strict INSERT would have.
//
// The file is an io.Reader registered with the driver under a name of
// 128 random bits for the one statement, so a server can read no other
// Write's rows (the driver answers the server's request for a file by
// that name only; the DSN may not allow files: refuseUnsafe).

// maxLoadRows bounds the rows of one file, below max_error_count (set
// to loadWarnings on every connection), so that SHOW WARNINGS lists a
// warning for every row that has one.
const (
	maxLoadRows  = 10000
	loadWarnings = 65535
)

// loadColumns are the columns of a load file's rows, in appendLoadRow's
// order: insertPrefix's.
const loadColumns = "(id, time, kind, action, severity, tenant, actor_id, object_type, " +
	"object_id, remote_ip, method, origin, category, tool, status, duration, actor_name, route, geo_code, " +
	"geo_country, search_message, search_path, search_repr, search_name, changes, extra, data)"

// loadRefused lists the errors with which a server or the driver refuses
// LOAD DATA LOCAL INFILE itself: ER_NOT_ALLOWED_COMMAND (MySQL before
// 8.0, older MariaDB), ER_LOAD_INFILE_CAPABILITY_DISABLED (MariaDB
// 10.6 and later: 4166, seen on 10.11), ER_CLIENT_LOCAL_FILES_DISABLED
// (MySQL 8.0), and the client's CR_LOAD_DATA_LOCAL_INFILE_REJECTED.
var loadRefused = map[uint16]bool{1148: true, 4166: true, 3948: true, 2068: true}

// buildLoad encodes events as the rows of load files of at most
// s.maxBytes and maxLoadRows rows each (a single row may be larger),
// into buf.stmt: file k ends at buf.ends[k], and its first row is the
// event at buf.firsts[k]. It refuses the events that build refuses
// (the size by the INSERT row, not the load row, which may be larger).
func (s *Store) buildLoad(buf *writeBuf, events []activitylog.Event) error {
	buf.stmt, buf.ends, buf.firsts = buf.stmt[:0], buf.ends[:0], buf.firsts[:0]
	var sp eventjson.Spans
	start, rows := 0, 0
	for i := range events {
		e := &events[i]
		if err := buf.encode(e, &sp); err != nil {
			return err
		}
		mark := len(buf.stmt)
		buf.stmt = appendLoadRow(buf.stmt, e, buf.doc, &sp)
		if size := len(buf.stmt) - mark; size > s.maxPacket &&
			len(insertPrefix)+len(appendRow(nil, e, buf.doc, &sp)) > s.maxPacket {
			// The INSERT form would be refused, so this one is too: a
			// store refuses no event that its INSERTs take. A load row
			// is not the INSERT row: a tab or newline in a column that
			// is not JSON takes two bytes here and one there (a quote
			// the other way round), so the row the INSERT form sends is
			// what decides, made only for a row this large.
			return fmt.Errorf("event %s: %w", e.ID, activitylog.Invalid("event", e.ID.String(),
				"is "+strconv.Itoa(len(buf.doc))+" bytes of JSON, more than the server's max_allowed_packet allows"))
		}
		if rows > 0 && (len(buf.stmt)-start > s.maxBytes || rows == maxLoadRows) {
			buf.ends, buf.firsts = append(buf.ends, mark), append(buf.firsts, i-rows)
			start, rows = mark, 0
		}
		rows++
	}
	if rows > 0 {
		buf.ends, buf.firsts = append(buf.ends, len(buf.stmt)), append(buf.firsts, len(events)-rows)
	}
	return nil
}

// load sends buf's files (buildLoad) in tx, and returns how many rows
// the server skipped as duplicates of a stored id (or of an earlier row
// of the batch). Any other warning is an error: an *activitylog.FieldError
// naming the event when the server refused one of its values, which
// the caller must not retry, and the transaction must be rolled back.
func (s *Store) load(ctx context.Context, tx *sql.Tx, buf *writeBuf, events []activitylog.Event) (dups int, err error) {
	start := 0
	for k, end := range buf.ends {
		file := buf.stmt[start:end]
		start = end
		var r [16]byte
		rand.Read(r[:])
		name := "activitylog-" + hex.EncodeToString(r[:])
		driver.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(file) })
		res, err := tx.ExecContext(ctx, "LOAD DATA LOCAL INFILE 'Reader::"+name+"' IGNORE INTO TABLE events CHARACTER SET binary "+
			`FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' `+loadColumns)
		driver.DeregisterReaderHandler(name)
		if err != nil {
			return dups, err
		}
		d, err := loadWarningsOf(ctx, tx, events, buf.firsts[k])
		if err != nil {
			return dups, err
		}
		// Every row is stored or a duplicate: a row skipped without a
		// warning listed (max_error_count lower than this file's rows,
		// whatever lowered it) must not go unnoticed.
		rows := len(events) - buf.firsts[k]
		if k+1 < len(buf.firsts) {
			rows = buf.firsts[k+1] - buf.firsts[k]
		}
		stored, err := res.RowsAffected()
		if err != nil {
			return dups, fmt.Errorf("load %d rows: %w", rows, err)
		}
		if int(stored)+d != rows {
			return dups, fmt.Errorf("load %d rows: the server stored %d and listed %d duplicate ids: a warning is missing", rows, stored, d)
		}
		dups += d
	}
	return dups, nil
}

// loadWarningsOf reads the warnings of the LOAD that tx ran last, whose
// first row was events[first], and returns how many were duplicate ids.
func loadWarningsOf(ctx context.Context, tx *sql.Tx, events []activitylog.Event, first int) (int, error) {
	rows, err := tx.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return 0, fmt.Errorf("read the warnings: %w", err)
	}
	defer rows.Close()
	dups := 0
	var refused error
	for rows.Next() {
		var (
			level, msg string
			code       uint16
		)
		if err := rows.Scan(&level, &code, &msg); err != nil {
			return 0, fmt.Errorf("read the warnings: %w", err)
		}
		if code == 1062 { // ER_DUP_ENTRY
			dups++
			continue
		}
		if refused == nil {
			refused = activitylog.Invalid("event", warnedEvent(events, first, msg), "the server refused a value: "+msg)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read the warnings: %w", err)
	}
	return dups, refused
}

// warnedEvent returns the id of the event a warning's "at row N" names,
// "" when it names none.
func warnedEvent(events []activitylog.Event, first int, msg string) string {
	_, after, ok := strings.Cut(msg, " at row ")
	if !ok {
		return ""
	}
	n, err := strconv.Atoi(strings.TrimSpace(after))
	if err != nil || n < 1 || first+n-1 >= len(events) {
		return ""
	}
	return events[first+n-1].ID.String()
}

// isLoadRefused reports whether err is the server or driver refusing
// LOAD DATA LOCAL INFILE.
func isLoadRefused(err error) bool {
	me, ok := errors.AsType[*driver.MySQLError](err)
	return ok && loadRefused[me.Number]
}

// appendLoadRow appends e's row of a load file: the values of
// loadColumns as appendRow writes them, each escaped by appendField,
// separated by tabs and ended by a newline; NULL is \N.
func appendLoadRow(b []byte, e *activitylog.Event, doc []byte, sp *eventjson.Spans) []byte {
	b = appendField(b, e.ID[:], false)
	b = append(b, '\t')
	b = strconv.AppendInt(b, e.Time.UnixNano(), 10)
	for _, v := range [...]string{string(e.Kind), e.Action, prefix(string(e.Severity)), e.Tenant, e.Actor.ID, e.Object.Type,
		prefix(e.Object.ID), prefix(e.Request.RemoteIP), prefix(e.Request.Method), prefix(e.Request.Origin),
		prefix(e.Category), prefix(e.Tool)} {
		b = append(b, '\t')
		b = appendField(b, v, false)
	}
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(e.Response.Status), 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(e.Response.Duration), 10)
	for _, v := range [...]string{e.Actor.Name, activitylog.RouteOf(e), e.Request.Geo.CountryCode, e.Request.Geo.Country} {
		b = append(b, '\t')
		b = appendField(b, v, false)
	}
	for _, v := range [...]string{e.Message, e.Request.Path, e.Object.Repr, e.Actor.Name} {
		b = append(b, '\t')
		b = appendField(b, v, true)
	}
	for _, sp := range [...][2]int{sp.Changes, sp.Extra} {
		b = append(b, '\t')
		if sp[1] == 0 {
			b = append(b, `\N`...)
			continue
		}
		b = appendField(b, doc[sp[0]:sp[1]], false)
	}
	b = append(b, '\t')
	b = appendField(b, doc, false)
	return append(b, '\n')
}

// appendField appends s escaped for a load file field (FIELDS
// TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n', no
// enclosure): the backslash, the tab, the newline and NUL are escaped,
// every other byte stands for itself (CHARACTER SET binary: no byte is
// converted). It lowers ASCII letters when lower is set.
func appendField[T string | []byte](b []byte, s T, lower bool) []byte {
	return appendWith(b, s, lower, &fieldEscapes)
}

var fieldEscapes = escapes{0: '0', '\t': 't', '\n': 'n', '\\': '\\'}
