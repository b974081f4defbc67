package mysql

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
	err := s.db.QueryRowContext(ctx, `SELECT data, time FROM events WHERE id = ?`, id[:]).Scan(&data, &ns)
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
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM events"+q.whereSQL(), q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", unavailable(ctx, err))
	}
	return n, nil
}

// CountUpTo returns how many events match f, ignoring its paging
// fields, but counts no further than limit: it returns min(Count(f),
// limit), and reads at most the rows up to the limit-th match. A limit
// below 1 means no limit.
func (s *Store) CountUpTo(ctx context.Context, f activitylog.Filter, limit int64) (int64, error) {
	return s.countSelect(ctx, f, activitylog.Condition{}, limit)
}

// countSelect counts the events that match both f and c, up to limit
// (none below 1): a LIMIT in a subquery stops the scan at the
// limit-th match.
func (s *Store) countSelect(ctx context.Context, f activitylog.Filter, c activitylog.Condition, limit int64) (int64, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return 0, err
	}
	if err := c.Validate(); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("count events: %w", errClosed)
	}
	var q query
	q.where(f)
	q.condition(c)
	sqlText := "SELECT COUNT(*) FROM events" + q.whereSQL()
	if limit > 0 {
		sqlText = "SELECT COUNT(*) FROM (SELECT 1 FROM events" + q.whereSQL() + " LIMIT ?) AS matches"
		q.args = append(q.args, limit)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, sqlText, q.args...).Scan(&n); err != nil {
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
// that pair in the ordering (id breaks ties), so pages never overlap or
// skip an event even while new events arrive. A "before" cursor runs the
// same query in the opposite direction and reverses the rows. Offset
// paging (Page > 1) uses LIMIT and OFFSET. Either way Query asks for one
// row more than the page to learn whether there is a next page.
func (s *Store) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	return s.selectPage(ctx, f, activitylog.Condition{}, "query events")
}

// selectPage is Query, narrowed by c (Analyzer.Select).
func (s *Store) selectPage(ctx context.Context, f activitylog.Filter, c activitylog.Condition, what string) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	if err := c.Validate(); err != nil {
		return activitylog.Page{}, err
	}
	if s.closed.Load() {
		return activitylog.Page{}, fmt.Errorf("%s: %w", what, errClosed)
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
	sqlText, args := selectPageSQL(f, c, cur)
	rows, err := s.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return activitylog.Page{}, fmt.Errorf("%s: %w", what, unavailable(ctx, err))
	}
	defer rows.Close()
	events := make([]activitylog.Event, 0, min(f.PageSize+1, 64))
	for rows.Next() {
		var (
			data sql.RawBytes // valid until Next; eventjson.Decode copies what it keeps
			ns   int64
		)
		if err := rows.Scan(&data, &ns); err != nil {
			return activitylog.Page{}, fmt.Errorf("%s: %w", what, unavailable(ctx, err))
		}
		e, err := eventjson.Decode(data, ns)
		if err != nil {
			return activitylog.Page{}, fmt.Errorf("%s: decode: %w", what, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return activitylog.Page{}, fmt.Errorf("%s: %w", what, unavailable(ctx, err))
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

// selectPageSQL returns the SELECT for one page of the normalized
// filter f and c after (or, for a "before" cursor, before) cur, in scan
// order, with one row more than the page.
func selectPageSQL(f activitylog.Filter, c activitylog.Condition, cur activitylog.Cursor) (string, []any) {
	field := f.Field()
	col := orderColumns[field]
	var q query
	q.where(f)
	q.condition(c)
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
			v = []byte(cur.Str)
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

// bin returns s as an argument the driver sends as a binary string
// (_binary'…'), which the binary columns compare byte for byte, and
// which no character set check can refuse.
func bin(s string) []byte { return []byte(s) }

// where adds f's filters (not its paging), as f.Match means them.
func (q *query) where(f activitylog.Filter) {
	if f.Kind != "" {
		q.cond("kind = ?", bin(string(f.Kind)))
	}
	if f.Action != "" {
		q.cond("action = ?", bin(f.Action))
	}
	if f.ActorID != "" {
		q.cond("actor_id = ?", bin(f.ActorID))
	}
	if f.Tenant != "" {
		q.cond("tenant = ?", bin(f.Tenant))
	}
	if f.NoTenant {
		q.cond("tenant = ''")
	}
	if f.RemoteIP != "" {
		q.cond("remote_ip = ?", bin(f.RemoteIP))
	}
	if f.ObjectType != "" {
		q.cond("object_type = ?", bin(f.ObjectType))
	}
	if f.ObjectID != "" {
		q.cond("object_id = ?", bin(f.ObjectID))
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
	if f.Method != "" {
		q.cond("method = ?", bin(f.Method))
	}
	if f.Origin != "" {
		q.cond("origin = ?", bin(f.Origin))
	}
	if f.Severity != "" {
		q.cond("severity = ?", bin(string(f.Severity)))
	}
	if f.Category != "" {
		q.cond("category = ?", bin(f.Category))
	}
	if f.Tool != "" {
		q.cond("tool = ?", bin(f.Tool))
	}
	if f.Search != "" {
		// The search_ columns hold the fields with ASCII letters
		// lowered, and so does the pattern: a byte-wise LIKE on them
		// folds ASCII letters only. The escapes make % and _ in the
		// search match themselves.
		p := []byte("%" + likeEscaper.Replace(asciiLower(f.Search)) + "%")
		q.cond(`(search_message LIKE ? OR search_path LIKE ? OR search_repr LIKE ? OR search_name LIKE ?)`, p, p, p, p)
	}
}

// condition adds c.
func (q *query) condition(c activitylog.Condition) {
	if c.MinDuration > 0 {
		q.cond("duration >= ?", int64(c.MinDuration))
	}
}

// likeEscaper escapes LIKE's wildcards with LIKE's default escape
// character, the backslash.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// asciiLower lowers ASCII letters only, as Filter.Match folds.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
