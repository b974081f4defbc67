package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/jackc/pgx/v5"
)

// Get returns the event with id, or an error wrapping
// activitylog.ErrNotFound. It reads the event's time from event_ids and
// then its row through the primary key of the one partition that holds
// it.
func (s *Store) Get(ctx context.Context, id activitylog.ID) (activitylog.Event, error) {
	if s.closed.Load() {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, errClosed)
	}
	var (
		data []byte
		ns   int64
	)
	err := s.pool.QueryRow(ctx, `SELECT e.data, e.time FROM event_ids i JOIN events e ON e.time = i.time AND e.id = i.id
		WHERE i.id = $1`, [16]byte(id)).Scan(&data, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
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
	return s.CountUpTo(ctx, f, 0)
}

// CountUpTo returns how many events match f, ignoring its paging
// fields, but counts no further than limit: it returns min(Count(f),
// limit), and reads at most the rows up to the limit-th match. A limit
// below 1 means no limit.
func (s *Store) CountUpTo(ctx context.Context, f activitylog.Filter, limit int64) (int64, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return 0, err
	}
	return s.countWhere(ctx, f, activitylog.Condition{}, limit)
}

// countWhere counts the events of the normalized f that meet c, up to
// limit when it is at least 1.
func (s *Store) countWhere(ctx context.Context, f activitylog.Filter, c activitylog.Condition, limit int64) (int64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("count events: %w", errClosed)
	}
	var q query
	q.where(f)
	q.condition(c)
	sqlText := "SELECT count(*) FROM events" + q.whereSQL()
	if limit > 0 {
		sqlText = "SELECT count(*) FROM (SELECT 1 FROM events" + q.whereSQL() + " LIMIT " + q.arg(limit) + ") l"
	}
	var n int64
	if err := s.pool.QueryRow(ctx, sqlText, q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", unavailable(ctx, err))
	}
	return n, nil
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
// that pair in the ordering (id breaks ties): the row comparison
// (col, id) > ($1, $2), which an index ending in (time, id) takes as a
// bound. A "before" cursor runs the same query in the opposite
// direction and reverses the rows. Offset paging (Page > 1) uses LIMIT
// and OFFSET. Either way Query asks for one row more than the page to
// learn whether there is a next page.
func (s *Store) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	return s.page(ctx, f, activitylog.Condition{})
}

// page is Query of the normalized f, narrowed by c.
func (s *Store) page(ctx context.Context, f activitylog.Filter, c activitylog.Condition) (activitylog.Page, error) {
	if s.closed.Load() {
		return activitylog.Page{}, fmt.Errorf("query events: %w", errClosed)
	}
	if _, ok := orderColumns[f.Field()]; !ok { // Normalize admits only activitylog.Orderings
		return activitylog.Page{}, activitylog.Invalid("ordering", f.Ordering, "is not supported by this store")
	}
	var cur activitylog.Cursor
	hasCursor := f.Cursor != ""
	if hasCursor {
		var err error
		if cur, err = activitylog.DecodeCursor(f.Cursor); err != nil {
			return activitylog.Page{}, err
		}
	}
	sqlText, args := selectPage(f, c, cur)
	rows, err := s.pool.Query(ctx, sqlText, args...)
	if err != nil {
		return activitylog.Page{}, fmt.Errorf("query events: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	events := make([]activitylog.Event, 0, min(f.PageSize+1, 64))
	for rows.Next() {
		var (
			data []byte
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
// (narrowed by c) after (or, for a "before" cursor, before) cur, in scan
// order, with one row more than the page.
func selectPage(f activitylog.Filter, c activitylog.Condition, cur activitylog.Cursor) (string, []any) {
	field := f.Field()
	col := orderColumns[field]
	var q query
	q.where(f)
	q.condition(c)
	desc := f.Descending() != cur.Before // the direction of the scan
	hasCursor := f.Cursor != ""
	if hasCursor {
		op, opEq := ">", ">="
		if desc {
			op, opEq = "<", "<="
		}
		var v any = cur.Int
		if field == "status" {
			v = int32(max(min(cur.Int, 1<<31-1), -1<<31))
		} else if !activitylog.NumericOrdering(field) {
			v = text(cur.Str)
		}
		// The row comparison is exact; the bound on col alone lets an
		// index whose key ends in col without id bound its scan.
		p := q.arg(v)
		q.cond(col + " " + opEq + " " + p + " AND (" + col + ", id) " + op + " (" + p + ", " + q.arg([16]byte(cur.ID)) + ")")
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	sqlText := "SELECT data, time FROM events" + q.whereSQL() + " ORDER BY " + col + dir + ", id" + dir + " LIMIT " + q.arg(f.PageSize+1)
	if !hasCursor && f.Page > 1 {
		sqlText += " OFFSET " + q.arg((f.Page-1)*f.PageSize)
	}
	return sqlText, q.args
}

// query collects a WHERE clause and its arguments, numbered $1, $2, …
type query struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) cond(c string) { q.conds = append(q.conds, c) }

func (q *query) whereSQL() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}

// eq adds col = v, with v mapped as Write maps the column's values.
func (q *query) eq(col, v string) { q.cond(col + " = " + q.arg(text(v))) }

// where adds f's filters (not its paging). A field with a partial index
// repeats the index's condition, which is always true when the field
// equals a non-empty value, so that the planner may use that index.
func (q *query) where(f activitylog.Filter) {
	if f.Kind != "" {
		q.eq("kind", string(f.Kind))
		if f.Kind != activitylog.KindRequest {
			q.cond("kind <> 'request'")
		}
	}
	if f.Action != "" {
		q.eq("action", f.Action)
	}
	if f.ActorID != "" {
		q.eq("actor_id", f.ActorID)
		q.cond("actor_id <> ''")
	}
	if f.Tenant != "" {
		q.eq("tenant", f.Tenant)
		q.cond("tenant <> ''")
	}
	if f.NoTenant {
		q.cond("tenant = ''")
	}
	if f.RemoteIP != "" {
		q.eq("remote_ip", f.RemoteIP)
	}
	if f.ObjectType != "" {
		q.eq("object_type", f.ObjectType)
		q.cond("object_type <> ''")
	}
	if f.ObjectID != "" {
		q.eq("object_id", f.ObjectID)
	}
	if !f.From.IsZero() {
		q.cond("time >= " + q.arg(f.From.UnixNano()))
	}
	if !f.To.IsZero() {
		q.cond("time < " + q.arg(f.To.UnixNano()))
	}
	if f.StatusMin != 0 {
		q.cond("status >= " + q.arg(int32(f.StatusMin)))
	}
	if f.StatusMax != 0 {
		q.cond("status <= " + q.arg(int32(f.StatusMax)))
	}
	if f.Status != 0 {
		q.cond("status = " + q.arg(int32(f.Status)))
	}
	if f.Method != "" {
		q.eq("method", f.Method)
	}
	if f.Origin != "" {
		q.eq("origin", f.Origin)
	}
	if f.Severity != "" {
		q.eq("severity", string(f.Severity))
	}
	if f.Category != "" {
		q.eq("category", f.Category)
	}
	if f.Tool != "" {
		q.eq("tool", f.Tool)
	}
	if f.Search != "" {
		// The columns are COLLATE "C", under which ILIKE folds ASCII
		// letters only, as Filter.Match does; the escapes make %, _ and
		// \ in the search match themselves.
		p := q.arg("%" + likeEscaper.Replace(text(f.Search)) + "%")
		q.cond("(message ILIKE " + p + " OR path ILIKE " + p + " OR object_repr ILIKE " + p + " OR actor_name ILIKE " + p + ")")
	}
}

// condition adds c's narrowing.
func (q *query) condition(c activitylog.Condition) {
	if c.MinDuration > 0 {
		q.cond("duration >= " + q.arg(int64(c.MinDuration)))
	}
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
