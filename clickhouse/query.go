package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/activitylog/activitylog"
)

// Get returns the event with id, or an error wrapping
// activitylog.ErrNotFound.
//
// The events table is ordered by tenant, kind and time, not by id, so
// an id alone is found by reading every id. A version 7 UUID (what
// activitylog.NewID makes, from the event's time) carries a time in
// milliseconds: Get first looks for the event within a day of it,
// through the primary index, and reads every id only when it is not
// there (an id made at another time than the event's, or no such
// event). The id is a PREWHERE condition: the server reads the ids,
// and the other columns of the granule that holds the event alone
// (18.16 did not move it there by itself: a missing id read every
// column, 20 times as long).
func (s *Store) Get(ctx context.Context, id activitylog.ID) (activitylog.Event, error) {
	if s.closed.Load() {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, errClosed)
	}
	var events []activitylog.Event
	err := s.byID(ctx, id, strings.TrimSuffix(selectEvents, " FROM "), " LIMIT 1", func(rows driver.Rows) (bool, error) {
		var err error
		events, err = readEvents(rows, 1)
		return len(events) > 0, err
	})
	if err != nil {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, unavailable(ctx, err))
	}
	if len(events) == 0 {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, activitylog.ErrNotFound)
	}
	return events[0], nil
}

// hintWindow is how far from the time in a version 7 id byID looks
// first.
const hintWindow = 24 * time.Hour

// byID runs "sel FROM events PREWHERE id = ? tail" and calls found with
// its rows, which reports whether they held the event: first within
// hintWindow of the time in a version 7 id, then, when that found
// nothing, over the whole table.
func (s *Store) byID(ctx context.Context, id activitylog.ID, sel, tail string, found func(driver.Rows) (bool, error)) error {
	if id[6]>>4 == 7 && id[8]>>6 == 2 { // version 7, RFC 9562 variant
		t := id.Time().UnixNano()
		rows, err := s.conn.Query(ctx, sel+" FROM "+s.t.events+" PREWHERE time >= ? AND time < ? AND id = ?"+tail,
			t-int64(hintWindow), t+int64(hintWindow), string(id[:]))
		if err != nil {
			return err
		}
		if ok, err := found(rows); ok || err != nil {
			return err
		}
	}
	rows, err := s.conn.Query(ctx, sel+" FROM "+s.t.events+" PREWHERE id = ?"+tail, string(id[:]))
	if err != nil {
		return err
	}
	_, err = found(rows)
	return err
}

// exists reports whether an event has id.
func (s *Store) exists(ctx context.Context, id activitylog.ID) (bool, error) {
	var ok bool
	err := s.byID(ctx, id, "SELECT 1", " LIMIT 1", func(rows driver.Rows) (bool, error) {
		defer rows.Close()
		ok = rows.Next()
		return ok, rows.Err()
	})
	return ok, err
}

// readEvents reads the rows of a selectEvents query and closes them.
func readEvents(rows driver.Rows, capacity int) ([]activitylog.Event, error) {
	defer rows.Close()
	events := make([]activitylog.Event, 0, min(capacity, 64))
	var r eventRow
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		e, err := r.event()
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		events = append(events, e)
	}
	return events, rows.Err()
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
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.t.events+q.whereSQL(), q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", unavailable(ctx, err))
	}
	return int64(n), nil
}

// CountUpTo returns min(Count(f), limit), reading no further than the
// limit-th match. A limit below 1 means no limit.
func (s *Store) CountUpTo(ctx context.Context, f activitylog.Filter, limit int64) (int64, error) {
	return s.CountSelect(ctx, f, activitylog.Condition{}, limit)
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
// that pair in the ordering (the id breaks ties, compared as bytes), so
// pages never overlap or skip an event even while new events arrive. A
// "before" cursor runs the same query in the opposite direction and
// reverses the rows. Offset paging (Page > 1) uses LIMIT and OFFSET.
// Either way Query asks for one row more than the page, to learn
// whether there is a next page.
func (s *Store) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	return s.selectPage(ctx, f, activitylog.Condition{}, "query events")
}

// selectPage is Query, and Select with a condition.
func (s *Store) selectPage(ctx context.Context, f activitylog.Filter, c activitylog.Condition, verb string) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	if err := c.Validate(); err != nil {
		return activitylog.Page{}, err
	}
	if s.closed.Load() {
		return activitylog.Page{}, fmt.Errorf("%s: %w", verb, errClosed)
	}
	if _, ok := orderColumns[f.Field()]; !ok { // Normalize admits only activitylog.Orderings
		return activitylog.Page{}, activitylog.Invalid("ordering", f.Ordering, "is not supported by this store")
	}
	var cur activitylog.Cursor
	if f.Cursor != "" {
		if cur, err = activitylog.DecodeCursor(f.Cursor); err != nil {
			return activitylog.Page{}, err
		}
	}
	text, args := s.pageSQL(f, c, cur)
	rows, err := s.conn.Query(ctx, text, args...)
	if err != nil {
		return activitylog.Page{}, fmt.Errorf("%s: %w", verb, unavailable(ctx, err))
	}
	events, err := readEvents(rows, f.PageSize+1)
	if err != nil {
		return activitylog.Page{}, fmt.Errorf("%s: %w", verb, unavailable(ctx, err))
	}
	more := len(events) > f.PageSize
	if more {
		events = events[:f.PageSize]
	}
	if cur.Before {
		slices.Reverse(events)
	}
	return activitylog.PageOf(f, events, f.Cursor != "", cur.Before, more), nil
}

// pageSQL returns the SELECT for one page of the normalized filter f
// and condition c after (or, for a "before" cursor, before) cur, in
// scan order, with one row more than the page.
func (s *Store) pageSQL(f activitylog.Filter, c activitylog.Condition, cur activitylog.Cursor) (string, []any) {
	field := f.Field()
	col := orderColumns[field]
	var q query
	q.where(f)
	q.condition(c)
	desc := f.Descending() != cur.Before // the direction of the scan
	if f.Cursor != "" {
		// (col, id) strictly beyond (value, id) in scan direction; the
		// col bound alone can narrow the primary index's ranges.
		op, opEq := ">", ">="
		if desc {
			op, opEq = "<", "<="
		}
		var v any = cur.Int
		if !activitylog.NumericOrdering(field) {
			v = cur.Str
		}
		q.cond(col+" "+opEq+" ? AND ("+col+" "+op+" ? OR id "+op+" ?)", v, v, string(cur.ID[:]))
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	order := " ORDER BY " + col + dir + ", id" + dir
	// Two steps in one statement: the page's (time, id) pairs, sorted
	// on the columns that order and filter alone, then the page's rows.
	// Sorting whole rows read every column of every matching row, the
	// JSON documents included (18.16 does not defer reading columns
	// past a LIMIT): a page of a million events took 5 times as long.
	inner := "SELECT time, id FROM " + s.t.events + q.whereSQL() + order + " LIMIT ?"
	q.args = append(q.args, f.PageSize+1)
	if f.Cursor == "" && f.Page > 1 {
		inner += " OFFSET ?"
		q.args = append(q.args, (f.Page-1)*f.PageSize)
	}
	text := selectEvents + s.t.events + " PREWHERE (time, id) IN (" + inner + ")" + order + " LIMIT ?"
	q.args = append(q.args, f.PageSize+1)
	return text, q.args
}

// query collects a WHERE clause and its arguments. Arguments are bound
// by the driver on the client (ClickHouse 18.16 has no server-side
// parameters): it quotes strings and escapes ', \ and NUL; every other
// byte, valid UTF-8 or not, is passed as it is and compared as bytes.
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

// condition adds c.
func (q *query) condition(c activitylog.Condition) {
	if c.MinDuration > 0 {
		q.cond("duration >= ?", int64(c.MinDuration))
	}
}

// where adds f's filters (not its paging), each exactly as
// activitylog.Filter.Match means it.
func (q *query) where(f activitylog.Filter) {
	for _, c := range [...]struct {
		col, v string
	}{
		{"kind", string(f.Kind)}, {"action", f.Action}, {"actor_id", f.ActorID}, {"tenant", f.Tenant},
		{"object_type", f.ObjectType}, {attr(aRemoteIP), f.RemoteIP}, {attr(aObjectID), f.ObjectID},
		{attr(aMethod), f.Method}, {attr(aOrigin), f.Origin}, {attr(aSeverity), string(f.Severity)},
		{attr(aCategory), f.Category}, {attr(aTool), f.Tool},
	} {
		if c.v != "" {
			q.cond(c.col+" = ?", c.v)
		}
	}
	if f.NoTenant {
		q.cond("tenant = ''")
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
		q.cond("status = ?", f.Status)
	}
	if f.Search != "" {
		// positionCaseInsensitive folds ASCII letters only, as
		// Filter.Match does (lowerUTF8 and ILIKE would fold others),
		// and takes the needle as bytes: no wildcards to escape.
		var parts []string
		for _, a := range [...]int{aMessage, aPath, aObjectRepr, aActorName} {
			parts = append(parts, "positionCaseInsensitive("+attr(a)+", ?) > 0")
			q.args = append(q.args, f.Search)
		}
		q.conds = append(q.conds, "("+strings.Join(parts, " OR ")+")")
	}
}

// Scan implements activitylog.Scanner: one query, in f's ordering,
// streamed from the server, so an export of a million events is read
// once. The query reads one state of the table: events written during
// the scan are not returned.
func (s *Store) Scan(ctx context.Context, f activitylog.Filter, fn func(e *activitylog.Event) error) error {
	f.Cursor, f.Page, f.PageSize = "", 0, 0
	f, err := f.Normalize(time.Now())
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("scan events: %w", errClosed)
	}
	col, ok := orderColumns[f.Field()]
	if !ok {
		return activitylog.Invalid("ordering", f.Ordering, "is not supported by this store")
	}
	var q query
	q.where(f)
	dir := " ASC"
	if f.Descending() {
		dir = " DESC"
	}
	rows, err := s.conn.Query(ctx, selectEvents+s.t.events+q.whereSQL()+" ORDER BY "+col+dir+", id"+dir, q.args...)
	if err != nil {
		return fmt.Errorf("scan events: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	var r eventRow
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("scan events: %w", unavailable(ctx, err))
		}
		e, err := r.event()
		if err != nil {
			return fmt.Errorf("scan events: decode: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan events: %w", unavailable(ctx, err))
	}
	return ctx.Err()
}
