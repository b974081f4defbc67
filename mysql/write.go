package mysql

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	driver "github.com/go-sql-driver/mysql"
)

// insertPrefix starts every INSERT that Write sends; the columns are in
// the order appendRow writes them.
const insertPrefix = "INSERT INTO events (id, time, kind, action, severity, tenant, actor_id, object_type, " +
	"object_id, remote_ip, method, origin, category, tool, status, duration, actor_name, route, geo_code, " +
	"geo_country, search_message, search_path, search_repr, search_name, changes, extra, data) VALUES "

// insertSuffix ends every INSERT: a row whose id is stored already is
// left as it is, and so is the second of two rows with the same id in
// one batch. Not INSERT IGNORE, which would also turn a value that does
// not fit and every other error into a warning and store the row
// anyway. (A plain INSERT first, and this only after a duplicate-key
// error, spent no less server CPU an event in BenchmarkIngest.)
const insertSuffix = " ON DUPLICATE KEY UPDATE id = id"

// Column widths (migrations/0001_init.sql).
const (
	orderWidth  = activitylog.MaxShortField     // kind, action, tenant, actor_id, object_type
	filterWidth = activitylog.MaxShortField + 1 // the filter-only columns keep this much
)

// writeBuf holds what Write builds: one event's document at a time, and
// the statements. Pooled, since a batch of 500 makes some 600 KB of SQL.
type writeBuf struct {
	doc    []byte
	stmt   []byte   // the statement being built; the load files (buildLoad)
	stmts  []string // the INSERT statements (build)
	ends   []int    // where each load file ends in stmt
	firsts []int    // the index of each load file's first event
}

var writeBufs = sync.Pool{New: func() any { return new(writeBuf) }}

// Write stores events all or none, and idempotently by id: an event
// whose id is stored already is skipped and the stored one left as it
// is, so a retried batch never duplicates.
//
// The batch is sent as multi-row INSERT … ON DUPLICATE KEY UPDATE id =
// id statements of at most Options.BatchBytes each, with the values
// written into the statement text (one round trip a statement, nothing
// prepared). A batch that fits in one statement is one autocommitted
// statement, which InnoDB applies whole or not at all; a larger one is
// one transaction. A deadlock with another Write (InnoDB rolls one of
// them back) is retried, twice at most.
//
// Write does not validate events (the Recorder and the API do), but it
// refuses a batch with an event it cannot store faithfully: a time
// outside the years 1678 to 2261 (the column holds Unix nanoseconds),
// a kind, action, tenant, actor id or object type longer than 1024
// bytes (Event.Validate's limit; these columns are ordered by), a
// value JSON cannot hold (NaN, a func) in an any-typed field, or an
// event larger than the server's max_allowed_packet, with an
// *activitylog.FieldError naming the field; a value that the server
// refuses all the same (data too long, a failed CHECK constraint) is a
// FieldError naming "event", as retrying cannot help. Otherwise an
// error wraps activitylog.ErrUnavailable when the server could not do
// the write, or is the context's error when ctx ended first.
func (s *Store) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("write events: %w", errClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	buf := writeBufs.Get().(*writeBuf)
	defer func() {
		clear(buf.stmts)
		buf.stmts = buf.stmts[:0]
		if cap(buf.stmt) <= 2*s.maxBytes && cap(buf.doc) <= 1<<20 {
			writeBufs.Put(buf)
		}
	}()
	if !s.inserts.Load() {
		err := s.writeLoad(ctx, buf, events)
		if !isLoadRefused(err) {
			return writeError(ctx, err)
		}
		// The server (or a proxy before it) does not take LOAD DATA
		// LOCAL INFILE after all: INSERTs from now on.
		s.inserts.Store(true)
	}
	if err := s.build(buf, events, insertSuffix); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	var err error
	for attempt := 0; ; attempt++ {
		err = s.send(ctx, buf.stmts)
		if err == nil || attempt == 2 || !retryable(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return writeError(ctx, err)
}

// writeError is what Write returns for err: nil for nil; a FieldError
// as it is (an event refused before or by the server), and one naming
// the event for a server error that refuses a value, neither of which a
// retry can help; otherwise err wrapping activitylog.ErrUnavailable, or
// the context's error.
func writeError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, activitylog.ErrInvalid) {
		return fmt.Errorf("write events: %w", err)
	}
	if me, ok := errors.AsType[*driver.MySQLError](err); ok && refusedValue[me.Number] {
		// Not the server's trouble but a value's, which check does
		// not foresee (a message longer than a MEDIUMBLOB holds, with
		// a max_allowed_packet above 16 MiB): retrying cannot help.
		return fmt.Errorf("write events: %w", activitylog.Invalid("event", "", "the server refused a value: "+me.Message))
	}
	return fmt.Errorf("write events: %w", unavailable(ctx, err))
}

// writeLoad is Write as load files (load.go) in one transaction,
// retried after a deadlock as Write's INSERTs are; an event refused
// before or by the server is an error wrapping activitylog.ErrInvalid,
// the server refusing LOAD DATA LOCAL itself one that isLoadRefused.
func (s *Store) writeLoad(ctx context.Context, buf *writeBuf, events []activitylog.Event) error {
	if err := s.buildLoad(buf, events); err != nil {
		return err
	}
	var err error
	for attempt := 0; ; attempt++ {
		err = s.sendLoad(ctx, buf, events)
		if err == nil || attempt == 2 || !retryable(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

// sendLoad loads buf's files in one transaction.
func (s *Store) sendLoad(ctx context.Context, buf *writeBuf, events []activitylog.Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if _, err := s.load(ctx, tx, buf, events); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// refusedValue lists the server's errors that refuse a value: data too
// long, out of range, an incorrect value, a check constraint that fails.
var refusedValue = map[uint16]bool{1406: true, 1264: true, 1366: true, 4025: true, 3819: true}

// encode checks that e can be stored (check) and puts its JSON document
// in buf.doc, with sp the spans of its changes and extra; an error
// names the event.
func (buf *writeBuf) encode(e *activitylog.Event, sp *eventjson.Spans) error {
	if err := check(e); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	var err error
	if buf.doc, err = eventjson.Append(buf.doc[:0], e, sp); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, eventjson.Refused(err))
	}
	return nil
}

// build encodes events into INSERT statements of at most s.maxBytes
// each (or one event's row, when that alone is larger), each ending in
// suffix: insertSuffix for Write, "" (a plain INSERT, which fails on an
// id stored already) for WriteSealed.
func (s *Store) build(buf *writeBuf, events []activitylog.Event, suffix string) error {
	buf.stmt = append(buf.stmt[:0], insertPrefix...)
	rows := 0
	var sp eventjson.Spans
	for i := range events {
		e := &events[i]
		if err := buf.encode(e, &sp); err != nil {
			return err
		}
		mark := len(buf.stmt)
		if rows > 0 {
			buf.stmt = append(buf.stmt, ',')
		}
		buf.stmt = appendRow(buf.stmt, e, buf.doc, &sp)
		if len(buf.stmt)+len(suffix) <= s.maxBytes {
			rows++
			continue
		}
		// Too large: send what came before, and start again with this row.
		row := buf.stmt[mark:]
		if rows > 0 {
			row = row[1:]
			buf.stmts = append(buf.stmts, string(buf.stmt[:mark])+suffix)
		}
		if len(insertPrefix)+len(row)+len(suffix) > s.maxPacket {
			return fmt.Errorf("event %s: %w", e.ID, activitylog.Invalid("event", e.ID.String(),
				"is "+strconv.Itoa(len(buf.doc))+" bytes of JSON, more than the server's max_allowed_packet allows"))
		}
		next := append(make([]byte, 0, max(len(insertPrefix)+len(row), s.maxBytes)), insertPrefix...)
		next = append(next, row...)
		buf.stmt, rows = next, 1
	}
	buf.stmts = append(buf.stmts, string(buf.stmt)+suffix)
	return nil
}

// send runs the statements: one alone, autocommitted, which is atomic;
// several in a transaction.
func (s *Store) send(ctx context.Context, stmts []string) error {
	if len(stmts) == 1 {
		_, err := s.db.ExecContext(ctx, stmts[0])
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// check refuses an event that the table cannot hold as it is.
func check(e *activitylog.Event) error {
	if t := e.Time; !time.Unix(0, t.UnixNano()).Equal(t) {
		return activitylog.Invalid("time", t.Format(time.RFC3339Nano), "must be between the years 1678 and 2261")
	}
	for _, f := range [...]struct{ name, v string }{
		{"kind", string(e.Kind)}, {"action", e.Action}, {"tenant", e.Tenant},
		{"actor.id", e.Actor.ID}, {"object.type", e.Object.Type},
	} {
		if len(f.v) > orderWidth {
			return activitylog.Invalid(f.name, truncate(f.v, 32), "is longer than "+strconv.Itoa(orderWidth)+" bytes")
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// appendRow appends e's row, "(…)", in insertPrefix's column order.
func appendRow(b []byte, e *activitylog.Event, doc []byte, sp *eventjson.Spans) []byte {
	b = append(b, "(X'"...)
	b = appendHex(b, e.ID[:])
	b = append(b, "',"...)
	b = strconv.AppendInt(b, e.Time.UnixNano(), 10)
	for _, v := range [...]string{string(e.Kind), e.Action} {
		b = appendBinary(b, v)
	}
	b = appendBinary(b, prefix(string(e.Severity)))
	for _, v := range [...]string{e.Tenant, e.Actor.ID, e.Object.Type} {
		b = appendBinary(b, v)
	}
	for _, v := range [...]string{e.Object.ID, e.Request.RemoteIP, e.Request.Method, e.Request.Origin, e.Category, e.Tool} {
		b = appendBinary(b, prefix(v))
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(e.Response.Status), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(e.Response.Duration), 10)
	b = appendBinary(b, e.Actor.Name)
	b = appendBinary(b, activitylog.RouteOf(e))
	b = appendBinary(b, e.Request.Geo.CountryCode)
	b = appendBinary(b, e.Request.Geo.Country)
	for _, v := range [...]string{e.Message, e.Request.Path, e.Object.Repr, e.Actor.Name} {
		b = appendOpen(b, v)
		b = appendEscaped(b, v, true)
		b = append(b, '\'')
	}
	for _, sp := range [...][2]int{sp.Changes, sp.Extra} {
		if sp[1] == 0 {
			b = append(b, ",NULL"...)
			continue
		}
		// JSON text, valid UTF-8 (the encoder replaces invalid bytes as
		// encoding/json does), into a utf8mb4 column.
		b = append(b, ",'"...)
		b = appendEscaped(b, doc[sp[0]:sp[1]], false)
		b = append(b, '\'')
	}
	// Valid UTF-8 (the encoder replaces invalid bytes as encoding/json
	// does), so a plain literal.
	b = append(b, ",'"...)
	b = appendEscaped(b, doc, false)
	return append(b, "')"...)
}

// prefix returns the first filterWidth bytes of s: what a filter-only
// column keeps.
func prefix(s string) string {
	if len(s) > filterWidth {
		return s[:filterWidth]
	}
	return s
}

// appendBinary appends ",'<s escaped>'" into a binary column.
func appendBinary(b []byte, s string) []byte {
	b = appendOpen(b, s)
	b = appendEscaped(b, s, false)
	return append(b, '\'')
}

// appendOpen opens a string literal for s: ",_binary'" when s has a
// byte that is not ASCII, so that the server takes it as bytes and
// checks no character set (s may not be valid UTF-8); a plain ",'"
// otherwise, which a binary column stores byte for byte as well, and
// which the server parses faster: with an introducer on every value the
// server spent some 20% more CPU an event of BenchmarkIngest (MariaDB
// 10.11, measured from /proc).
func appendOpen(b []byte, s string) []byte {
	if !isASCII(s) {
		return append(b, ",_binary'"...)
	}
	return append(b, ",'"...)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

func appendHex(b, v []byte) []byte {
	for _, c := range v {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// appendEscaped appends s escaped for a single-quoted string literal
// when NO_BACKSLASH_ESCAPES is off (the store's sql_mode): the quote
// and the backslash must be escaped, NUL and Ctrl-Z are for the tools
// that read a statement as a C string or a Windows text; everything
// else stands for itself, double quotes and newlines included (the
// driver escapes those too, which makes a JSON document a sixth
// longer). It lowers ASCII letters when lower is set.
func appendEscaped[T string | []byte](b []byte, s T, lower bool) []byte {
	return appendWith(b, s, lower, &literalEscapes)
}

// An escapes table maps each byte to the letter that follows a
// backslash in its place, or 0 for a byte that stands for itself.
type escapes [256]byte

var literalEscapes = escapes{0: '0', '\x1a': 'Z', '\'': '\'', '\\': '\\'}

// appendWith appends s with the bytes that esc names escaped, and ASCII
// letters lowered when lower is set.
func appendWith[T string | []byte](b []byte, s T, lower bool, esc *escapes) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if e := esc[c]; e != 0 {
			b = append(b, s[start:i]...)
			b = append(b, '\\', e)
			start = i + 1
		} else if lower && 'A' <= c && c <= 'Z' {
			b = append(b, s[start:i]...)
			b = append(b, c+'a'-'A')
			start = i + 1
		}
	}
	return append(b, s[start:]...)
}
