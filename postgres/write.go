package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// stageColumns are the columns of events that Write fills, in the
// order of the values its COPY sends.
var stageColumns = []string{
	"id", "time", "kind", "action", "severity", "tenant", "actor_id", "actor_name",
	"object_type", "object_id", "object_repr", "message", "path", "route", "remote_ip",
	"status", "duration", "method", "origin", "category", "tool", "country_code", "country",
	"changes", "extra", "data",
}

// createStage makes the connection's staging table, which Write COPYs a
// batch into: a temporary table (no write-ahead log, no indexes), which
// every commit empties.
const createStage = `CREATE TEMP TABLE IF NOT EXISTS events_stage (
	id uuid, time bigint, kind text, action text, severity text, tenant text, actor_id text, actor_name text,
	object_type text, object_id text, object_repr text, message text, path text, route text, remote_ip text,
	status integer, duration bigint, method text, origin text, category text, tool text, country_code text, country text,
	changes jsonb, extra jsonb, data bytea
) ON COMMIT DELETE ROWS`

// insertStaged moves the staged batch into events: the ids go into
// event_ids first, and only the rows whose id that insert took (the
// ones not stored before) go on into events. A concurrent Write of the
// same id waits on event_ids' primary key until this one ends.
var insertStaged = func() string {
	cols := ""
	for i, c := range stageColumns {
		if i > 0 {
			cols += ", "
		}
		cols += c
	}
	sel := ""
	for i, c := range stageColumns {
		if i > 0 {
			sel += ", "
		}
		sel += "s." + c
	}
	return `WITH ids AS (INSERT INTO event_ids (id, time) SELECT id, time FROM pg_temp.events_stage ON CONFLICT (id) DO NOTHING RETURNING id)
	INSERT INTO events (` + cols + `) SELECT ` + sel + ` FROM pg_temp.events_stage s JOIN ids ON ids.id = s.id`
}()

// writeBuf holds what Write encodes before it takes a connection;
// pooled.
type writeBuf struct {
	events []*activitylog.Event // the batch, each id once
	data   []byte               // every event's JSON, one after another
	ends   []int                // ends[i] is where event i's JSON ends in data
	spans  []eventjson.Spans    // where event i's changes and extra lie in data
	times  []int64
	seen   map[activitylog.ID]struct{}
	ids    []byte // the COPY stream of event_ids
	stream []byte // a chunk of the COPY stream of events
}

var writeBufs = sync.Pool{New: func() any { return &writeBuf{seen: map[activitylog.ID]struct{}{}} }}

// encode keeps the first event of each id and appends its JSON to
// b.data; an event that cannot be stored is an error naming it.
func (b *writeBuf) encode(events []activitylog.Event) error {
	b.events, b.data, b.ends, b.spans, b.times = b.events[:0], b.data[:0], b.ends[:0], b.spans[:0], b.times[:0]
	clear(b.seen)
	for i := range events {
		e := &events[i]
		if _, dup := b.seen[e.ID]; dup {
			continue
		}
		b.seen[e.ID] = struct{}{}
		if t := e.Time; !time.Unix(0, t.UnixNano()).Equal(t) || t.Year() > 2261 {
			return fmt.Errorf("event %s: %w", e.ID,
				activitylog.Invalid("time", t.Format(time.RFC3339Nano), "must be between the years 1678 and 2261"))
		}
		var sp eventjson.Spans
		var err error
		if b.data, err = eventjson.Append(b.data, e, &sp); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, eventjson.Refused(err))
		}
		b.events = append(b.events, e)
		b.ends = append(b.ends, len(b.data))
		b.spans = append(b.spans, sp)
		b.times = append(b.times, e.Time.UnixNano())
	}
	return nil
}

// Write stores events in one transaction: all of them or, on error,
// none. An event whose id is already stored (with any time) is skipped
// and the stored one left as it is, and an id twice in one batch is
// stored once (the first), so a retried batch never duplicates.
//
// The batch is encoded first (into COPY's binary format, copy.go), and
// the partitions it needs are made (ensurePartitions). Then, in one
// transaction, its ids are sent with COPY into event_ids and its rows
// with COPY into events. When an id is stored already, that fails on
// event_ids' primary key (23505), and the batch goes the staged way, in
// a new transaction: COPY into the connection's temporary staging table,
// then one INSERT … SELECT that puts the ids into event_ids ON CONFLICT
// DO NOTHING and only the rows whose id that took into events. Retries
// are rare, so the staged way's second pass over the rows is too.
//
// Write does not validate events (the Recorder and the API do), but it
// refuses a batch with an event it cannot store faithfully, one with a
// time outside the years 1678 to 2261 or a value JSON cannot hold (NaN,
// a func) in an any-typed field, with an *activitylog.FieldError that
// names the field. Otherwise an error wraps activitylog.ErrUnavailable
// when the database could not do the write, or is the context's error
// when ctx ended first.
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
		clear(buf.events) // drop references to the caller's events
		buf.events = buf.events[:0]
		if cap(buf.data) <= 4<<20 && len(buf.seen) <= 1<<14 {
			writeBufs.Put(buf)
		}
	}()
	if err := buf.encode(events); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	if err := s.ensurePartitions(ctx, buf.times); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	if !s.staged {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			pc := tx.Conn().PgConn()
			if err := copyFrom(ctx, pc, bytes.NewReader(buf.appendIDs()), copyIDs); err != nil {
				return err
			}
			return copyFrom(ctx, pc, &copyReader{ctx: ctx, b: buf}, copyEvents)
		})
		var pe *pgconn.PgError
		if err == nil {
			return nil
		}
		if !errors.As(err, &pe) || pe.Code != "23505" || ctx.Err() != nil {
			return fmt.Errorf("write events: copy: %w", unavailable(ctx, err))
		}
		// An id of the batch is stored already: a retry. The staged
		// path skips what is stored.
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := copyFrom(ctx, tx.Conn().PgConn(), &copyReader{ctx: ctx, b: buf}, copyStage); err != nil {
			return fmt.Errorf("copy: %w", unavailable(ctx, err))
		}
		if _, err := tx.Exec(ctx, insertStaged); err != nil {
			return fmt.Errorf("insert: %w", unavailable(ctx, err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

// withoutNUL returns JSON text j with each \u0000 escape replaced by
// \ufffd, and false when it has none.
func withoutNUL(j []byte) ([]byte, bool) {
	var out []byte
	for i := 0; i < len(j); i++ {
		if j[i] != '\\' {
			continue
		}
		if i+5 < len(j) && string(j[i+1:i+6]) == "u0000" {
			if out == nil {
				out = append([]byte(nil), j...)
			}
			copy(out[i+1:], "ufffd")
		}
		i++ // the escaped character
	}
	return out, out != nil
}

// text returns s as a text column can hold it: PostgreSQL refuses NUL
// and bytes that are not UTF-8, so each such byte becomes U+FFFD, as
// encoding/json writes an invalid byte. Filters map their values the
// same way, so that equal values still match.
func text(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return fixText(s, i)
		}
	}
	return s
}

func fixText(s string, from int) string {
	i := from
	for i < len(s) {
		c := s[i]
		if c == 0 {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	b = append(b, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c == 0 {
			b = append(b, "\uFFFD"...)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

func isUTF8(s string) bool { return utf8.ValidString(s) }
