package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
)

// Get returns the event with id, or an error wrapping
// activitylog.ErrNotFound.
func (s *Store) Get(ctx context.Context, id activitylog.ID) (activitylog.Event, error) {
	if s.closed.Load() {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, errClosed)
	}
	var (
		data []byte
		ns   int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT data, time FROM events WHERE id = ?`, id[:]).Scan(&data, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, activitylog.ErrNotFound)
	}
	if err != nil {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, unavailable(ctx, err))
	}
	e, err := eventjson.Decode(data, ns)
	if err != nil {
		return activitylog.Event{}, fmt.Errorf("get event %s: decode: %w", id, err)
	}
	return e, nil
}

// Count returns how many events match f, ignoring its paging fields.
func (s *Store) Count(ctx context.Context, f activitylog.Filter) (int64, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("count events: %w", errClosed)
	}
	var q query
	q.where(f)
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM events"+q.whereSQL(), q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", unavailable(ctx, err))
	}
	return n, nil
}

// CountUpTo returns how many events match f, ignoring its paging
// fields, but counts no further than limit: it returns min(Count(f),
// limit), and reads at most the rows up to the limit-th match. A limit
// below 1 means no limit. The API counts list answers with it, so that
// a filter matching most of a large store costs no more than a bounded
// number of rows.
func (s *Store) CountUpTo(ctx context.Context, f activitylog.Filter, limit int64) (int64, error) {
	if limit < 1 {
		return s.Count(ctx, f)
	}
	f, err := f.Normalize(time.Now())
	if err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("count events: %w", errClosed)
	}
	sqlText, args := selectCountUpTo(f, limit)
	var n int64
	if err := s.r.QueryRowContext(ctx, sqlText, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", unavailable(ctx, err))
	}
	return n, nil
}

// selectCountUpTo returns the SELECT that counts the matches of the
// normalized filter f up to limit: the LIMIT in the subquery stops the
// scan at the limit-th match.
func selectCountUpTo(f activitylog.Filter, limit int64) (string, []any) {
	var q query
	q.where(f)
	return "SELECT COUNT(*) FROM (SELECT 1 FROM events" + q.whereSQL() + " LIMIT ?)", append(q.args, limit)
}

// orderColumns maps each of activitylog.Orderings to its column. Only
// these names, never the caller's string, reach the SQL text.
var orderColumns = map[string]string{
	"time":        "time",
	"kind":        "kind",
	"action":      "action",
	"status":      "status",
	"duration":    "duration",
	"actor_id":    "actor_id",
	"tenant":      "tenant",
	"object_type": "object_type",
}

// Query returns one page of the events that match f, in f's ordering.
//
// Keyset paging: a cursor holds the ordering value and id of the event
// at the page's edge, and the next page is the events strictly after
// that pair in the ordering (id breaks ties), so pages never overlap or
// skip an event even while new events arrive. A "before" cursor runs the
// same query in the opposite direction and reverses the rows. Offset
// paging (Page > 1) uses LIMIT and OFFSET. Either way Query asks for one
// row more than the page to learn whether there is a next page.
func (s *Store) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	if s.closed.Load() {
		return activitylog.Page{}, fmt.Errorf("query events: %w", errClosed)
	}
	if _, ok := orderColumns[f.Field()]; !ok { // Normalize admits only activitylog.Orderings
		return activitylog.Page{}, activitylog.Invalid("ordering", f.Ordering, "is not supported by this store")
	}
	var cur activitylog.Cursor
	hasCursor := f.Cursor != ""
	if hasCursor {
		if cur, err = activitylog.DecodeCursor(f.Cursor); err != nil {
			return activitylog.Page{}, err
		}
	}

	sqlText, args := selectPage(f, cur)
	rows, err := s.r.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return activitylog.Page{}, fmt.Errorf("query events: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	events := make([]activitylog.Event, 0, min(f.PageSize+1, 64))
	for rows.Next() {
		var (
			data sql.RawBytes // valid until Next; eventjson.Decode copies what it keeps
			ns   int64
		)
		if err := rows.Scan(&data, &ns); err != nil {
			return activitylog.Page{}, fmt.Errorf("query events: %w", unavailable(ctx, err))
		}
		e, err := eventjson.Decode(data, ns)
		if err != nil {
			return activitylog.Page{}, fmt.Errorf("query events: decode: %w", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return activitylog.Page{}, fmt.Errorf("query events: %w", unavailable(ctx, err))
	}
	more := len(events) > f.PageSize
	if more {
		events = events[:f.PageSize]
	}
	if cur.Before {
		slices.Reverse(events)
	}
	return activitylog.PageOf(f, events, hasCursor, cur.Before, more), nil
}

// selectPage returns the SELECT for one page of the normalized filter f
// after (or, for a "before" cursor, before) cur, in scan order, with
// one row more than the page.
func selectPage(f activitylog.Filter, cur activitylog.Cursor) (string, []any) {
	field := f.Field()
	col := orderColumns[field]
	var q query
	q.where(f)
	desc := f.Descending() != cur.Before // the direction of the scan
	hasCursor := f.Cursor != ""
	if hasCursor {
		// (col, id) strictly beyond (value, id) in scan direction,
		// written so that the col bound can drive an index range.
		op, opEq := ">", ">="
		if desc {
			op, opEq = "<", "<="
		}
		var v any = cur.Int
		if !activitylog.NumericOrdering(field) {
			v = cur.Str
		}
		q.cond(col+" "+opEq+" ? AND ("+col+" "+op+" ? OR id "+op+" ?)", v, v, cur.ID[:])
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	sqlText := "SELECT data, time FROM events" + q.whereSQL() + " ORDER BY " + col + dir + ", id" + dir + " LIMIT ?"
	q.args = append(q.args, f.PageSize+1)
	if !hasCursor && f.Page > 1 {
		sqlText += " OFFSET ?"
		q.args = append(q.args, (f.Page-1)*f.PageSize)
	}
	return sqlText, q.args
}

// query collects a WHERE clause and its arguments.
type query struct {
	conds []string
	args  []any
}

func (q *query) cond(c string, args ...any) {
	q.conds = append(q.conds, c)
	q.args = append(q.args, args...)
}

func (q *query) whereSQL() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}

// where adds f's filters (not its paging). A field with a partial index
// repeats the index's condition, which is always true when the field
// equals a non-empty value, so that the planner may use that index. A
// field with no index of its own is wrapped in likely(), which tells the
// planner that most rows pass: otherwise it guesses that an equality is
// rare and reads the whole table and sorts it, where walking the time
// index stops as soon as the page is full (TestQueryPlans).
func (q *query) where(f activitylog.Filter) {
	if f.Kind != "" {
		q.cond("kind = ?", string(f.Kind))
	}
	if f.Action != "" {
		q.cond("likely(action = ?)", f.Action)
	}
	if f.ActorID != "" {
		q.cond("actor_id = ? AND actor_id <> ''", f.ActorID)
	}
	if f.Tenant != "" {
		q.cond("tenant = ? AND tenant <> ''", f.Tenant)
	}
	if f.NoTenant {
		q.cond("likely(tenant = '')")
	}
	if f.RemoteIP != "" {
		q.cond("remote_ip = ? AND remote_ip <> ''", f.RemoteIP)
	}
	if f.ObjectType != "" {
		q.cond("object_type = ? AND object_type <> ''", f.ObjectType)
	}
	if f.ObjectID != "" {
		if f.ObjectType != "" {
			q.cond("object_id = ?", f.ObjectID)
		} else {
			q.cond("likely(object_id = ?)", f.ObjectID)
		}
	}
	if !f.From.IsZero() {
		q.cond("time >= ?", f.From.UnixNano())
	}
	if !f.To.IsZero() {
		q.cond("time < ?", f.To.UnixNano())
	}
	if f.StatusMin != 0 {
		q.cond("status >= ?", f.StatusMin)
	}
	if f.StatusMax != 0 {
		q.cond("status <= ?", f.StatusMax)
	}
	if f.Status != 0 {
		q.cond("likely(status = ?)", f.Status)
	}
	if f.Method != "" {
		q.cond("likely(method = ?)", f.Method)
	}
	if f.Origin != "" {
		q.cond("likely(origin = ?)", f.Origin)
	}
	if f.Severity != "" {
		q.cond("likely(severity = ?)", string(f.Severity))
	}
	if f.Category != "" {
		q.cond("likely(category = ?)", f.Category)
	}
	if f.Tool != "" {
		q.cond("likely(tool = ?)", f.Tool)
	}
	if f.Search != "" {
		// LIKE is case-insensitive for ASCII letters; the escapes make
		// % and _ in the search match themselves.
		p := "%" + likeEscaper.Replace(f.Search) + "%"
		q.cond(`(message LIKE ? ESCAPE '\' OR path LIKE ? ESCAPE '\' OR object_repr LIKE ? ESCAPE '\' OR actor_name LIKE ? ESCAPE '\')`,
			p, p, p, p)
	}
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
