package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
)

// The analytics answer with SQL aggregations. A dashboard or error
// rates whose filter is only a window and a tenant (what the API's
// scoping leaves for a principal that may read its whole tenant) reads
// the hourly rollups of migrations/0004_rollups.sql (and of
// 0008_rollup_series.sql: statuses and countries) for the whole hours
// of the window, and the events for the rest; any other filter (one
// actor's events, a kind, a search) reads the events alone, through the
// indexes Query uses. Either way the answer is the one
// activitylog.ScanAnalyzer gives (storetest.RunAnalyzer).

var _ activitylog.Analyzer = (*Store)(nil)

const hourNS = int64(time.Hour)

// routeSQL is activitylog.RouteOf: request.route from the document (a
// BLOB of text JSON, which the JSON functions would read as JSONB
// unless cast), else the path.
const routeSQL = `coalesce(nullif(json_extract(CAST(data AS TEXT), '$.request.route'), ''), path)`

// countryCodeSQL and countryNameSQL are activitylog.CountryOf: the
// request's geo.country_code and geo.country, empty when absent, and
// hasCountrySQL the events that have either. Its instr skips the JSON
// functions for the documents without a geo (most of them, without an
// IP database), and the JSON functions parse a document once for the
// three (SQLite keeps the last parses of a statement).
const (
	countryCodeSQL = `coalesce(json_extract(CAST(data AS TEXT), '$.request.geo.country_code'), '')`
	countryNameSQL = `coalesce(json_extract(CAST(data AS TEXT), '$.request.geo.country'), '')`
	hasCountrySQL  = `instr(CAST(data AS TEXT), '"geo"') > 0 AND (` + countryCodeSQL + ` <> '' OR ` + countryNameSQL + ` <> '')`
)

// latencyBucketSQL is activitylog.LatencyBucket of the duration column:
// v = whole microseconds; v itself below 32, else 16*e + (v >> e) where
// 2^(e+4) <= v < 2^(e+5).
var latencyBucketSQL = func() string {
	const v = "(duration / 1000)"
	var b strings.Builder
	b.WriteString("(CASE WHEN " + v + " < 32 THEN " + v)
	for e := 1; e < 50; e++ { // a duration in µs is below 2^54
		fmt.Fprintf(&b, " WHEN %s < %d THEN %d + (%s >> %d)", v, int64(1)<<(e+5), 16*e, v, e)
	}
	fmt.Fprintf(&b, " ELSE %d + (%s >> %d) END)", 16*50, v, 50)
	return b.String()
}()

// A rollupTable is one of the rollups: what it counts of the events,
// by hour, tenant and its keys.
type rollupTable struct {
	name  string
	keys  []string // its key columns after hour and tenant
	exprs []string // their values, from a row of events
	where string   // the events it counts; "" for all
}

var rollupTables = []rollupTable{
	{"rollup_kinds", []string{"kind", "action"}, []string{"kind", "action"}, ""},
	{"rollup_actors", []string{"actor_id"}, []string{"actor_id"}, "actor_id <> ''"},
	{"rollup_ips", []string{"ip"}, []string{"remote_ip"}, "remote_ip <> ''"},
	{"rollup_routes", []string{"route", "status"}, []string{routeSQL, "status"}, "kind = 'request'"},
	{"rollup_latency", []string{"bucket"}, []string{latencyBucketSQL}, "kind = 'request' AND duration > 0"},
	{"rollup_statuses", []string{"status"}, []string{"status"}, "kind = 'request'"},
	{"rollup_countries", []string{"code", "name"}, []string{countryCodeSQL, countryNameSQL}, hasCountrySQL},
}

// foldSQL returns the statement that adds the events of from that meet
// cond to t.
func (t rollupTable) foldSQL(from, cond string) string {
	cols := "hour, tenant, " + strings.Join(t.keys, ", ")
	groups := make([]string, len(t.keys)+2)
	for i := range groups {
		groups[i] = strconv.Itoa(i + 1)
	}
	if t.where != "" {
		cond += " AND " + t.where
	}
	return "INSERT INTO " + t.name + " (" + cols + ", n) SELECT time / 3600000000000, tenant, " +
		strings.Join(t.exprs, ", ") + ", count(*) FROM " + from + " WHERE " + cond +
		" GROUP BY " + strings.Join(groups, ", ") + " ON CONFLICT (" + cols + ") DO UPDATE SET n = n + excluded.n"
}

// foldRows bounds the events one fold transaction adds to the rollups,
// so that it holds the write lock briefly (some 0.1 s; a fold costs some
// 25 µs an event) and a Write waits no longer.
const foldRows = 5000

// Rollup folds every event not yet in the rollups into them, a bounded
// transaction at a time. The analytics fold as they go, before they
// read, so calling it is never needed for correct answers; calling it
// on a ticker (every minute, say) keeps that work out of the requests,
// and calling it after an import pays for the import's fold at once.
func (s *Store) Rollup(ctx context.Context) error {
	if err := s.catchUp(ctx); err != nil {
		return fmt.Errorf("fold rollups: %w", err)
	}
	return nil
}

// catchUp folds until the rollups hold every event stored when it
// began, and no hour is dirty. Events written meanwhile are left to the
// next fold (the reads count them from the events), so that it ends
// even when writes outpace it.
func (s *Store) catchUp(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	var m0 int64
	for i := 0; ; i++ {
		var w, m int64
		var dirty bool
		err := s.r.QueryRowContext(ctx, `SELECT (SELECT seq FROM rollup_state WHERE id = 1),
			(SELECT coalesce(max(seq), 0) FROM events), EXISTS (SELECT 1 FROM rollup_dirty)`).Scan(&w, &m, &dirty)
		if err != nil {
			return unavailable(ctx, err)
		}
		if i == 0 {
			m0 = m
		}
		if w >= min(m, m0) && (!dirty || i > 1000) {
			return nil
		}
		if err := s.foldOnce(ctx, foldRows); err != nil {
			return err
		}
	}
}

// foldOnce recounts the dirty hours and folds up to maxRows events past
// the watermark, in one write transaction.
func (s *Store) foldOnce(ctx context.Context, maxRows int64) error {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dataSource)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer tx.Rollback() // a no-op after Commit
	var w, m int64
	var dirty bool
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT seq FROM rollup_state WHERE id = 1),
		(SELECT coalesce(max(seq), 0) FROM events), EXISTS (SELECT 1 FROM rollup_dirty)`).Scan(&w, &m, &dirty); err != nil {
		return unavailable(ctx, err)
	}
	exec := func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return unavailable(ctx, err)
		}
		return nil
	}
	if dirty {
		// Recount a day of dirty hours at a time: a retention run may
		// have marked every hour.
		rows, err := tx.QueryContext(ctx, `SELECT hour FROM rollup_dirty ORDER BY hour LIMIT 24`)
		if err != nil {
			return unavailable(ctx, err)
		}
		var hours []string
		for rows.Next() {
			var h int64
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return unavailable(ctx, err)
			}
			hours = append(hours, strconv.FormatInt(h, 10))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return unavailable(ctx, err)
		}
		in := "(" + strings.Join(hours, ", ") + ")" // integers read from the table
		for _, t := range rollupTables {
			if err := exec("DELETE FROM " + t.name + " WHERE hour IN " + in); err != nil {
				return err
			}
			if err := exec(t.foldSQL(`rollup_dirty JOIN events INDEXED BY events_time
				ON time >= hour * 3600000000000 AND time < hour * 3600000000000 + 3600000000000`,
				"hour IN "+in+" AND seq <= ?"), w); err != nil {
				return err
			}
		}
		if err := exec("DELETE FROM rollup_dirty WHERE hour IN " + in); err != nil {
			return err
		}
	}
	if hi := min(m, w+maxRows); hi > w {
		for _, t := range rollupTables {
			// NOT INDEXED: the rowid range, which the planner would
			// trade for events_kind_time on kind = 'request'.
			if err := exec(t.foldSQL("events NOT INDEXED", "seq > ? AND seq <= ?"), w, hi); err != nil {
				return err
			}
		}
		if err := exec("UPDATE rollup_state SET seq = ? WHERE id = 1", hi); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable(ctx, err)
	}
	if s.ckpt != nil {
		s.ckpt.poke()
	}
	return nil
}

// sources says where an aggregation over the normalized filter f reads
// its events: from the rollups for the whole hours [hA, hB) when
// rollup, and from the events for everything else (raw).
type sources struct {
	f       activitylog.Filter
	rollup  bool
	hA, hB  int64 // unix hours
	w       int64 // the watermark, read in the transaction of the reads
	tenant  string
	tArgs   []any
	rTenant string // the tenant condition on a rollup
}

// planSources decides whether the rollups can answer for f: only when f
// selects by nothing but its window and tenant, and bucketed series (if
// any) are in whole hours.
func planSources(f activitylog.Filter, bucket time.Duration) sources {
	src := sources{f: f}
	g := f
	g.From, g.To, g.Tenant, g.NoTenant, g.LastHours = time.Time{}, time.Time{}, "", false, 0
	g.Ordering, g.Cursor, g.Page, g.PageSize = "", "", 0, 0
	if g != (activitylog.Filter{}) || bucket%time.Hour != 0 || f.To.IsZero() {
		return src
	}
	from := f.From.UnixNano()
	if f.From.IsZero() {
		from = 0
	}
	hA, hB := (from+hourNS-1)/hourNS, f.To.UnixNano()/hourNS
	if from < 0 || hA >= hB {
		return src
	}
	src.rollup, src.hA, src.hB = true, hA, hB
	switch {
	case f.Tenant != "":
		src.tenant, src.tArgs, src.rTenant = " AND +tenant = ?", []any{f.Tenant}, " AND tenant = ?"
	case f.NoTenant:
		src.tenant, src.rTenant = " AND +tenant = ''", " AND tenant = ''"
	}
	return src
}

// begin starts the read transaction of an aggregation, so that its
// statements see one state of the store, and reads the watermark.
func (s *Store) begin(ctx context.Context, src *sources) (*sql.Tx, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, unavailable(ctx, err)
	}
	if src.rollup {
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM rollup_state WHERE id = 1`).Scan(&src.w); err != nil {
			tx.Rollback()
			return nil, unavailable(ctx, err)
		}
	}
	return tx, nil
}

// raw returns a subquery of cols of the events the rollups do not
// answer for, those that meet cond (written with a unary + on each
// column, so that it steers no index choice), and its arguments.
//
// Without rollups it is every event of f. With them, it is the union
// of: the partial hours at the window's edges (through the time index),
// the events past the watermark in the whole hours (through the rowid,
// NOT INDEXED), and every event of the dirty hours among them.
func (src *sources) raw(cols, cond string) (string, []any) {
	if cond != "" {
		cond = " AND " + cond
	}
	if !src.rollup {
		var q query
		q.where(src.f)
		where := q.whereSQL()
		if where == "" {
			where = " WHERE 1"
		}
		return "SELECT " + cols + " FROM " + eventsFor(src.f) + where + cond, q.args
	}
	var parts []string
	var args []any
	edge := func(from, to time.Time) {
		var q query
		q.where(activitylog.Filter{From: from, To: to, Tenant: src.f.Tenant, NoTenant: src.f.NoTenant})
		parts = append(parts, "SELECT "+cols+" FROM events"+q.whereSQL()+cond)
		args = append(args, q.args...)
	}
	a, b := time.Unix(0, src.hA*hourNS), time.Unix(0, src.hB*hourNS)
	if !src.f.From.IsZero() && src.f.From.Before(a) {
		edge(src.f.From, a)
	}
	if b.Before(src.f.To) {
		edge(b, src.f.To)
	}
	parts = append(parts, "SELECT "+cols+" FROM events NOT INDEXED WHERE seq > ? AND +time >= ? AND +time < ?"+
		" AND time / 3600000000000 NOT IN (SELECT hour FROM rollup_dirty)"+src.tenant+cond)
	args = append(args, src.w, src.hA*hourNS, src.hB*hourNS)
	args = append(args, src.tArgs...)
	parts = append(parts, "SELECT "+cols+` FROM rollup_dirty JOIN events INDEXED BY events_time
		ON time >= hour * 3600000000000 AND time < hour * 3600000000000 + 3600000000000
		WHERE hour >= ? AND hour < ?`+src.tenant+cond)
	args = append(args, src.hA, src.hB)
	args = append(args, src.tArgs...)
	return strings.Join(parts, " UNION ALL "), args
}

// eventsFor returns the FROM clause of an aggregation over the events
// of f: one actor's events through events_actor_time. Without
// statistics the planner takes an actor's and a tenant's index for
// equally selective, and chose the tenant's, a hundred times larger
// (TestExplainMillion).
func eventsFor(f activitylog.Filter) string {
	if f.ActorID != "" {
		return "events INDEXED BY events_actor_time"
	}
	return "events"
}

// rolled returns the condition on a rollup table's rows that the
// rollups answer for, and its arguments.
func (src *sources) rolled() (string, []any) {
	args := []any{src.hA, src.hB}
	if src.f.Tenant != "" {
		args = append(args, src.f.Tenant)
	}
	return "hour >= ? AND hour < ? AND hour NOT IN (SELECT hour FROM rollup_dirty)" + src.rTenant, args
}

// counts runs "keys, n" over the rollup table (when the rollups answer)
// and over the raw events, summed by keys, and calls fn with each row.
// rawKeys are the keys' values from a row of events, cond the events
// counted. The query ends with tail (ORDER BY, LIMIT) and its args.
func counts(ctx context.Context, tx *sql.Tx, src *sources, table string, keys []string, rawKeys []string,
	cond, tail string, tailArgs []any, fn func(vals []any) error) error {
	return countsBy(ctx, tx, src, table, keys, keys, rawKeys, cond, tail, tailArgs, fn)
}

// countsBy is counts whose keys are read from the rollup table as
// rollKeys (column expressions; a key named as its column is itself).
func countsBy(ctx context.Context, tx *sql.Tx, src *sources, table string, keys, rollKeys, rawKeys []string,
	cond, tail string, tailArgs []any, fn func(vals []any) error) error {
	k := strings.Join(keys, ", ")
	cols := make([]string, len(keys))
	rolls := make([]string, len(keys))
	for i := range keys {
		cols[i] = rawKeys[i] + " AS " + keys[i]
		rolls[i] = rollKeys[i] + " AS " + keys[i]
	}
	rawSQL, args := src.raw(strings.Join(cols, ", "), cond)
	inner := "SELECT " + k + ", count(*) AS n FROM (" + rawSQL + ") GROUP BY " + k
	if src.rollup {
		where, wargs := src.rolled()
		inner = "SELECT " + strings.Join(rolls, ", ") + ", n FROM " + table + " WHERE " + where + " UNION ALL " + inner
		args = append(wargs, args...)
	}
	q := "SELECT " + k + ", sum(n) AS total FROM (" + inner + ") GROUP BY " + k + tail
	rows, err := tx.QueryContext(ctx, q, append(args, tailArgs...)...)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer rows.Close()
	vals := make([]any, len(keys)+1)
	ptrs := make([]any, len(vals))
	for rows.Next() {
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return unavailable(ctx, err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(ctx, err)
	}
	return nil
}

func asInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}

func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// Dashboard implements activitylog.Analyzer. When its filter is a
// window and a tenant, and its buckets are whole hours, it folds the
// events stored since the last fold into the rollups first (Rollup),
// and reads them; see the notes at the top of this file.
func (s *Store) Dashboard(ctx context.Context, f activitylog.Filter, o *activitylog.DashboardOptions) (activitylog.Dashboard, error) {
	f, opts, err := activitylog.NormalizeDashboard(f, o, time.Now())
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	src := planSources(f, opts.Bucket)
	d, err := s.dashboard(ctx, &src, f, opts, true)
	if err != nil {
		return activitylog.Dashboard{}, fmt.Errorf("count dashboard: %w", err)
	}
	return d, nil
}

// dashboard answers from src, folding first when fold.
func (s *Store) dashboard(ctx context.Context, src *sources, f activitylog.Filter, opts activitylog.DashboardOptions,
	fold bool) (activitylog.Dashboard, error) {
	if s.closed.Load() {
		return activitylog.Dashboard{}, errClosed
	}
	if src.rollup && fold {
		// A failed fold costs speed, not correctness: what the rollups
		// lack is read from the events.
		_ = s.catchUp(ctx)
	}
	tx, err := s.begin(ctx, src)
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	defer tx.Rollback()
	d := activitylog.NewDashboard(f, opts)
	bucket := int64(opts.Bucket)

	if err := kindCounts(ctx, tx, src, bucket, &d); err != nil {
		return activitylog.Dashboard{}, err
	}
	err = counts(ctx, tx, src, "rollup_routes", []string{"route", "status"}, []string{routeSQL, "status"},
		"+kind = 'request'", "", nil, func(v []any) error {
			d.AddRequests(asString(v[0]), int(asInt(v[1])), asInt(v[2]))
			return nil
		})
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	// The series of requests and errors, from rollup_statuses (a few
	// rows an hour, where rollup_routes has hundreds): per bucket and
	// status class (status / 100 is 4 for 400 to 499 and 5 for 500 to
	// 599 exactly). A rollup's hour falls in bucket hour / (bucket in
	// hours), as in kindCounts.
	bSQL, hSQL := "time / "+strconv.FormatInt(bucket, 10), "hour / "+strconv.FormatInt(max(bucket/hourNS, 1), 10)
	at := func(v any) time.Time { return time.Unix(0, asInt(v)*bucket) }
	err = countsBy(ctx, tx, src, "rollup_statuses", []string{"b", "class"}, []string{hSQL, "status / 100"},
		[]string{bSQL, "status / 100"}, "+kind = 'request'", "", nil, func(v []any) error {
			d.AddRequestSeries(at(v[0]), int(asInt(v[1]))*100, asInt(v[2]))
			return nil
		})
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	// The latency histogram per bucket, which adds up to the window's.
	err = countsBy(ctx, tx, src, "rollup_latency", []string{"b", "bucket"}, []string{hSQL, "bucket"},
		[]string{bSQL, latencyBucketSQL}, "+kind = 'request' AND +duration > 0", "", nil, func(v []any) error {
			d.AddLatencyAt(at(v[0]), int(asInt(v[1])), asInt(v[2]))
			return nil
		})
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	err = counts(ctx, tx, src, "rollup_countries", []string{"code", "name"}, []string{countryCodeSQL, countryNameSQL},
		hasCountrySQL, "", nil, func(v []any) error {
			d.AddCountry(asString(v[0]), asString(v[1]), asInt(v[2]))
			return nil
		})
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	err = counts(ctx, tx, src, "rollup_actors", []string{"actor_id"}, []string{"actor_id"},
		"+actor_id <> ''", " ORDER BY total DESC, actor_id LIMIT ?", []any{opts.Top}, func(v []any) error {
			d.TopUsers = append(d.TopUsers, activitylog.UserCount{ID: asString(v[0]), Count: asInt(v[1])})
			return nil
		})
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	for i := range d.TopUsers {
		// The name of the user's latest event, through events_actor_time.
		var q query
		q.where(f)
		q.cond("actor_id = ? AND actor_id <> ''", d.TopUsers[i].ID)
		err := tx.QueryRowContext(ctx, "SELECT actor_name FROM events INDEXED BY events_actor_time"+q.whereSQL()+
			" ORDER BY time DESC, id DESC LIMIT 1",
			q.args...).Scan(&d.TopUsers[i].Name)
		if err != nil && err != sql.ErrNoRows {
			return activitylog.Dashboard{}, unavailable(ctx, err)
		}
	}
	activitylog.SortUsers(d.TopUsers)

	rawSQL, args := src.raw("remote_ip", "+remote_ip <> ''")
	q := "SELECT count(*) FROM (" + rawSQL
	if src.rollup {
		where, wargs := src.rolled()
		q += " UNION SELECT ip FROM rollup_ips WHERE " + where
		args = append(args, wargs...)
	} else {
		q = "SELECT count(DISTINCT remote_ip) FROM (" + rawSQL
	}
	if err := tx.QueryRowContext(ctx, q+")", args...).Scan(&d.UniqueIPs); err != nil {
		return activitylog.Dashboard{}, unavailable(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return activitylog.Dashboard{}, unavailable(ctx, err)
	}
	d.Finish(opts)
	return d, nil
}

// kindCounts adds the events per bucket, kind and action to d. A
// rollup's hour falls in bucket hour / (bucket in hours): the rollups
// answer only for buckets of whole hours (planSources).
func kindCounts(ctx context.Context, tx *sql.Tx, src *sources, bucket int64, d *activitylog.Dashboard) error {
	rawSQL, args := src.raw("time / "+strconv.FormatInt(bucket, 10)+" AS b, kind, action", "")
	inner := "SELECT b, kind, action, count(*) AS n FROM (" + rawSQL + ") GROUP BY b, kind, action"
	if src.rollup {
		where, wargs := src.rolled()
		inner = "SELECT hour / " + strconv.FormatInt(bucket/hourNS, 10) + " AS b, kind, action, n FROM rollup_kinds WHERE " +
			where + " UNION ALL " + inner
		args = append(wargs, args...)
	}
	rows, err := tx.QueryContext(ctx, "SELECT b, kind, action, sum(n) FROM ("+inner+") GROUP BY b, kind, action", args...)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			b, n         int64
			kind, action string
		)
		if err := rows.Scan(&b, &kind, &action, &n); err != nil {
			return unavailable(ctx, err)
		}
		d.AddEvents(time.Unix(0, b*bucket), activitylog.Kind(kind), action, n)
	}
	if err := rows.Err(); err != nil {
		return unavailable(ctx, err)
	}
	return nil
}

// ErrorRates implements activitylog.Analyzer, from the rollups when f
// is a window and a tenant, as Dashboard.
func (s *Store) ErrorRates(ctx context.Context, f activitylog.Filter, limit int) (activitylog.ErrorRates, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.ErrorRates{}, err
	}
	if err := activitylog.CheckErrorRoutes(limit); err != nil {
		return activitylog.ErrorRates{}, err
	}
	src := planSources(f, time.Hour)
	r, err := s.errorRates(ctx, &src, f, limit, true)
	if err != nil {
		return activitylog.ErrorRates{}, fmt.Errorf("count error rates: %w", err)
	}
	return r, nil
}

func (s *Store) errorRates(ctx context.Context, src *sources, f activitylog.Filter, limit int, fold bool) (activitylog.ErrorRates, error) {
	if s.closed.Load() {
		return activitylog.ErrorRates{}, errClosed
	}
	if src.rollup && fold {
		_ = s.catchUp(ctx) // as in dashboard
	}
	tx, err := s.begin(ctx, src)
	if err != nil {
		return activitylog.ErrorRates{}, err
	}
	defer tx.Rollback()
	r := activitylog.NewErrorRates(f)
	err = counts(ctx, tx, src, "rollup_routes", []string{"route", "status"}, []string{routeSQL, "status"},
		"+kind = 'request'", "", nil, func(v []any) error {
			r.Add(asString(v[0]), int(asInt(v[1])), asInt(v[2]))
			return nil
		})
	if err != nil {
		return activitylog.ErrorRates{}, err
	}
	if err := tx.Commit(); err != nil {
		return activitylog.ErrorRates{}, unavailable(ctx, err)
	}
	r.Finish(limit)
	return r, nil
}

// Select implements activitylog.Analyzer: Query's statement (selectPage)
// over the events that meet c.
func (s *Store) Select(ctx context.Context, f activitylog.Filter, c activitylog.Condition) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	if err := c.Validate(); err != nil {
		return activitylog.Page{}, err
	}
	if s.closed.Load() {
		return activitylog.Page{}, fmt.Errorf("select events: %w", errClosed)
	}
	if _, ok := orderColumns[f.Field()]; !ok {
		return activitylog.Page{}, activitylog.Invalid("ordering", f.Ordering, "is not supported by this store")
	}
	var cur activitylog.Cursor
	if f.Cursor != "" {
		if cur, err = activitylog.DecodeCursor(f.Cursor); err != nil {
			return activitylog.Page{}, err
		}
	}
	sqlText, args := selectPage(f, cur)
	if c.MinDuration > 0 {
		// The same statement over the events that meet c; SQLite
		// flattens the subquery, so the indexes serve as for Query.
		const from = " FROM events"
		if strings.Count(sqlText, from) != 1 {
			return activitylog.Page{}, fmt.Errorf("select events: unexpected statement %q", sqlText)
		}
		sqlText = strings.Replace(sqlText, from, " FROM (SELECT * FROM events WHERE duration >= ?) AS events", 1)
		args = append([]any{int64(c.MinDuration)}, args...)
	}
	rows, err := s.r.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return activitylog.Page{}, fmt.Errorf("select events: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	events := make([]activitylog.Event, 0, min(f.PageSize+1, 64))
	for rows.Next() {
		var (
			data sql.RawBytes
			ns   int64
		)
		if err := rows.Scan(&data, &ns); err != nil {
			return activitylog.Page{}, fmt.Errorf("select events: %w", unavailable(ctx, err))
		}
		e, err := eventjson.Decode(data, ns)
		if err != nil {
			return activitylog.Page{}, fmt.Errorf("select events: decode: %w", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return activitylog.Page{}, fmt.Errorf("select events: %w", unavailable(ctx, err))
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

// CountSelect implements activitylog.Analyzer.
func (s *Store) CountSelect(ctx context.Context, f activitylog.Filter, c activitylog.Condition, limit int64) (int64, error) {
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
	if c.MinDuration > 0 {
		q.cond("duration >= ?", int64(c.MinDuration))
	}
	sqlText := "SELECT COUNT(*) FROM events" + q.whereSQL()
	if limit > 0 {
		sqlText = "SELECT COUNT(*) FROM (SELECT 1 FROM events" + q.whereSQL() + " LIMIT ?)"
		q.args = append(q.args, limit)
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, sqlText, q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", unavailable(ctx, err))
	}
	return n, nil
}

// Suspects implements activitylog.Analyzer: failed logins grouped by
// address, and by username as stored; the usernames are lowered,
// trimmed and merged in Go (activitylog.CollectOffenders), as SQLite's
// lower() folds ASCII only.
func (s *Store) Suspects(ctx context.Context, f activitylog.Filter, threshold int) ([]activitylog.Offender, error) {
	f, err := activitylog.CheckSuspects(f, threshold, time.Now())
	if err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("count failed logins: %w", errClosed)
	}
	f, ok := activitylog.SuspectsFilter(f)
	if !ok {
		return []activitylog.Offender{}, nil
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("count failed logins: %w", unavailable(ctx, err))
	}
	defer tx.Rollback()
	var q query
	q.where(f)
	const username = `json_extract(CAST(data AS TEXT), '$.extra.username')`
	var found []activitylog.Offender
	for _, g := range []struct {
		typ, key, cond, having string
	}{
		{activitylog.OffenderIP, "remote_ip", "+remote_ip <> ''", " HAVING count(*) >= ?"},
		{activitylog.OffenderUsername, username, `json_type(CAST(data AS TEXT), '$.extra.username') = 'text'`, ""},
	} {
		args := q.args
		if g.having != "" {
			args = append(slices.Clip(args), threshold)
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+g.key+", count(*), min(time), max(time) FROM events"+q.whereSQL()+
			" AND "+g.cond+" GROUP BY 1"+g.having, args...)
		if err != nil {
			return nil, fmt.Errorf("count failed logins: %w", unavailable(ctx, err))
		}
		for rows.Next() {
			var (
				key       string
				n, lo, hi int64
			)
			if err := rows.Scan(&key, &n, &lo, &hi); err != nil {
				rows.Close()
				return nil, fmt.Errorf("count failed logins: %w", unavailable(ctx, err))
			}
			found = append(found, activitylog.Offender{Type: g.typ, Key: key, Failures: int(n),
				First: time.Unix(0, lo).UTC(), Last: time.Unix(0, hi).UTC()})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("count failed logins: %w", unavailable(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("count failed logins: %w", unavailable(ctx, err))
	}
	return activitylog.CollectOffenders(found, threshold), nil
}

// Summary implements activitylog.Analyzer: one pass over the user's
// events through events_actor_time, and one over its failed logins
// through events_object_time.
func (s *Store) Summary(ctx context.Context, f activitylog.Filter, userID string) (activitylog.Summary, error) {
	f, err := activitylog.CheckSummary(f, userID, time.Now())
	if err != nil {
		return activitylog.Summary{}, err
	}
	if s.closed.Load() {
		return activitylog.Summary{}, fmt.Errorf("summarize user %s: %w", userID, errClosed)
	}
	sum := activitylog.Summary{UserID: userID, From: f.From.UTC(), To: f.To.UTC()}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return sum, fmt.Errorf("summarize user %s: %w", userID, unavailable(ctx, err))
	}
	defer tx.Rollback()
	if f.ActorID == "" || f.ActorID == userID {
		g := f
		g.ActorID = userID
		var q query
		q.where(g)
		err := tx.QueryRowContext(ctx, `SELECT count(*),
			coalesce(sum(kind = 'crud' AND action = 'create'), 0),
			coalesce(sum(kind = 'crud' AND action = 'update'), 0),
			coalesce(sum(kind = 'crud' AND action = 'delete'), 0),
			coalesce(sum(kind = 'crud' AND action = 'read'), 0),
			coalesce(sum(kind = 'auth' AND action = 'login'), 0),
			coalesce(sum(kind = 'system' AND action = 'error'), 0),
			coalesce(sum(severity IN ('warning', 'error', 'critical')
				AND NOT EXISTS (SELECT 1 FROM resolutions WHERE event_id = events.id)), 0)
			FROM events INDEXED BY events_actor_time`+q.whereSQL(), q.args...).Scan(&sum.Total, &sum.Creates, &sum.Updates, &sum.Deletes, &sum.Reads,
			&sum.Logins, &sum.SystemErrors, &sum.Unresolved)
		if err != nil {
			return sum, fmt.Errorf("summarize user %s: %w", userID, unavailable(ctx, err))
		}
	}
	if g, ok := activitylog.SuspectsFilter(f); ok &&
		(f.ObjectType == "" || f.ObjectType == "user") && (f.ObjectID == "" || f.ObjectID == userID) {
		g.ObjectType, g.ObjectID = "user", userID
		var q query
		q.where(g)
		err := tx.QueryRowContext(ctx, "SELECT count(*) FROM events INDEXED BY events_object_time"+q.whereSQL(), q.args...).Scan(&sum.FailedLogins)
		if err != nil {
			return sum, fmt.Errorf("summarize user %s: %w", userID, unavailable(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return sum, fmt.Errorf("summarize user %s: %w", userID, unavailable(ctx, err))
	}
	return sum, nil
}
