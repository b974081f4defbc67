package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
)

// insertColumns are the columns Write fills, in the order of its
// arguments.
const insertColumns = "id, time, kind, action, severity, tenant, actor_id, actor_name, object_type, object_id, object_repr, message, path, remote_ip, status, duration, method, origin, category, tool, data"

const argsPerRow = 21

// chunkSizes are the row counts of the multi-row INSERT statements,
// largest first. A batch runs as one statement per maxRows events, and
// the rest as one statement of the smallest size that holds it, padded
// with copies of its last row, which ON CONFLICT DO NOTHING skips. So a
// batch of up to 512 events is one statement, at most a fifth of a
// statement is padding, and at most len(chunkSizes) statements are ever
// prepared. maxRows rows bind 512*21 = 10752 variables, well under
// SQLite's limit of 32766.
//
// Against one prepared single-row INSERT run once per event this saves
// database/sql's and the driver's work per call (BenchmarkWrite ran some
// 8% faster); against statements made for each batch, SQLite's parsing.
var chunkSizes = [...]int{512, 448, 384, 320, 256, 224, 192, 160, 128, 112, 96, 80, 64, 56, 48, 40, 32, 28, 24, 20, 16, 14, 12, 10, 8, 7, 6, 5, 4, 3, 2, 1}

const maxRows = 512

// chunk is one INSERT of a batch: events[start:end], with
// chunkSizes[size] rows.
type chunk struct{ size, start, end int }

// plan splits a batch of n events into INSERTs.
func plan(n int) []chunk {
	var cs []chunk
	start := 0
	for ; n-start >= maxRows; start += maxRows {
		cs = append(cs, chunk{0, start, start + maxRows})
	}
	if rest := n - start; rest > 0 {
		i := len(chunkSizes) - 1
		for chunkSizes[i] < rest {
			i--
		}
		cs = append(cs, chunk{i, start, n})
	}
	return cs
}

// stmt returns the prepared INSERT for chunkSizes[i] rows, preparing it
// on the write connection the first time. It must not be called while
// a write transaction is open: preparing needs the one connection.
func (s *Store) stmt(ctx context.Context, i int) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stmts[i]; st != nil {
		return st, nil
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	var b strings.Builder
	b.WriteString("INSERT INTO events (" + insertColumns + ") VALUES ")
	row := "(?" + strings.Repeat(",?", argsPerRow-1) + ")"
	for j := range chunkSizes[i] {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	// No conflict target: any unique index skips the row rather than
	// aborting the statement. For these unsealed rows only events_id can
	// conflict (events_chain_seq leaves them out), but a unique index
	// that could abort makes SQLite keep a statement journal for every
	// multi-row INSERT, which cost 15% of BenchmarkWrite.
	b.WriteString(" ON CONFLICT DO NOTHING")
	st, err := s.w.PrepareContext(ctx, b.String())
	if err != nil {
		return nil, err
	}
	s.stmts[i] = st
	return st, nil
}

// writeBuf holds what Write encodes before it takes the write
// connection; pooled, since a batch of 500 needs some 10500 arguments.
type writeBuf struct {
	data []byte // every event's JSON, one after another
	ends []int  // ends[i] is where event i's JSON ends in data
	args []any
}

// encode appends each event's JSON to b.data, recording where each
// ends; an event that cannot be stored is an error naming it.
func (b *writeBuf) encode(events []activitylog.Event) error {
	b.data, b.ends = b.data[:0], b.ends[:0]
	for i := range events {
		if t := events[i].Time; !time.Unix(0, t.UnixNano()).Equal(t) {
			return fmt.Errorf("event %s: %w", events[i].ID,
				activitylog.Invalid("time", t.Format(time.RFC3339Nano), "must be between the years 1678 and 2261"))
		}
		var err error
		if b.data, err = eventjson.Append(b.data, &events[i], nil); err != nil {
			return fmt.Errorf("event %s: %w", events[i].ID, eventjson.Refused(err))
		}
		b.ends = append(b.ends, len(b.data))
	}
	return nil
}

var writeBufs = sync.Pool{New: func() any { return new(writeBuf) }}

// Write stores events in one transaction: all of them or, on error,
// none. An event whose id is already stored is skipped and the stored
// one left as it is, so a retried batch never duplicates. Events are
// encoded before the write connection is taken, so concurrent Writes
// encode in parallel and only the inserts queue.
//
// Write does not validate events (the Recorder and the API do), but it
// refuses a batch with an event it cannot store faithfully, one with a
// time outside the years 1678 to 2261 (the column holds Unix
// nanoseconds) or a value JSON cannot hold (NaN, a func) in an
// any-typed field, with an *activitylog.FieldError that names the field.
// Otherwise an error wraps activitylog.ErrUnavailable when the database
// could not do the write (busy, out of disk, I/O, closed), or the
// context's error when ctx ended first.
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
		clear(buf.args) // drop references to the caller's strings
		buf.args = buf.args[:0]
		if cap(buf.data) <= 4<<20 {
			writeBufs.Put(buf)
		}
	}()
	if err := buf.encode(events); err != nil {
		return fmt.Errorf("write events: %w", err)
	}

	// Prepare the statements this batch needs before the transaction
	// takes the connection.
	chunks := plan(len(events))
	var stmts [len(chunkSizes)]*sql.Stmt
	for _, c := range chunks {
		if stmts[c.size] == nil {
			st, err := s.stmt(ctx, c.size)
			if err != nil {
				return fmt.Errorf("write events: prepare insert: %w", unavailable(ctx, err))
			}
			stmts[c.size] = st
		}
	}

	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dataSource)
	if err != nil {
		return fmt.Errorf("write events: begin: %w", unavailable(ctx, err))
	}
	defer tx.Rollback() // a no-op after Commit
	for _, c := range chunks {
		buf.args = buf.args[:0]
		for j := c.start; j < c.end; j++ {
			buf.args = appendArgs(buf.args, &events[j], buf.data[docStart(buf.ends, j):buf.ends[j]])
		}
		for range chunkSizes[c.size] - (c.end - c.start) {
			// Padding: the last row again, which the conflict clause skips.
			buf.args = append(buf.args, buf.args[len(buf.args)-argsPerRow:]...)
		}
		if _, err := tx.StmtContext(ctx, stmts[c.size]).ExecContext(ctx, buf.args...); err != nil {
			return fmt.Errorf("write events: insert: %w", unavailable(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write events: commit: %w", unavailable(ctx, err))
	}
	if s.ckpt != nil {
		s.ckpt.poke()
	}
	return nil
}

// docStart returns where event i's JSON starts in writeBuf.data.
func docStart(ends []int, i int) int {
	if i == 0 {
		return 0
	}
	return ends[i-1]
}

// appendArgs appends e's column values, in insertColumns order.
func appendArgs(args []any, e *activitylog.Event, data []byte) []any {
	return append(args,
		e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant,
		e.Actor.ID, e.Actor.Name, e.Object.Type, e.Object.ID, e.Object.Repr, e.Message,
		e.Request.Path, e.Request.RemoteIP, int64(e.Response.Status), int64(e.Response.Duration),
		e.Request.Method, e.Request.Origin, e.Category, e.Tool, data)
}
