package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/jackc/pgx/v5"
)

// The analytics answer with SQL aggregations (GROUP BY in the server)
// over the rows the filter selects, through the indexes Query uses, and
// bring back only the groups: per bucket and kind, per route and status,
// per latency bucket, per country, per actor. The answer is the one
// activitylog.ScanAnalyzer gives (storetest.RunAnalyzer); the Dashboard
// helpers of the root package (NewDashboard, Add…, Finish) turn the
// groups into it. The statements of one answer run in one REPEATABLE
// READ, READ ONLY transaction: one snapshot.

var _ activitylog.Analyzer = (*Store)(nil)

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

// bucketSQL returns the start, in Unix nanoseconds, of the bucket of
// width b (a placeholder) that holds time: a floor, for times before
// 1970 too.
func bucketSQL(b string) string { return "(time - ((time % " + b + ") + " + b + ") % " + b + ")" }

// snapshot runs fn in a read-only transaction that sees one state of
// the database.
func (s *Store) snapshot(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if s.closed.Load() {
		return errClosed
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// each runs a query and calls fn with each row's scanned values.
func each(ctx context.Context, tx pgx.Tx, sqlText string, args []any, dest []any, fn func()) error {
	rows, err := tx.Query(ctx, sqlText, args...)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return unavailable(ctx, err)
		}
		fn()
	}
	if err := rows.Err(); err != nil {
		return unavailable(ctx, err)
	}
	return nil
}

// filtered returns a query with f's filters and the conditions conds.
func filtered(f activitylog.Filter, conds ...string) *query {
	q := &query{}
	q.where(f)
	for _, c := range conds {
		q.cond(c)
	}
	return q
}

// Dashboard implements activitylog.Analyzer.
func (s *Store) Dashboard(ctx context.Context, f activitylog.Filter, o *activitylog.DashboardOptions) (activitylog.Dashboard, error) {
	f, opts, err := activitylog.NormalizeDashboard(f, o, time.Now())
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	d := activitylog.NewDashboard(f, opts)
	var (
		bk, n          int64
		kind, a, b     string
		failed         bool
		status, lb     int32
		id, name       string
		users          []activitylog.UserCount
		uniqueIPs      int64
		bucketNS       = int64(opts.Bucket)
		unix           = func(ns int64) time.Time { return time.Unix(0, ns) }
		withBucket     = func(q *query) string { return bucketSQL(q.arg(bucketNS)) }
		loginFailedSQL = "kind = 'auth' AND action = '" + activitylog.ActionLoginFailed + "'"
	)
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		q := filtered(f)
		bs := withBucket(q)
		if err := each(ctx, tx, "SELECT "+bs+", kind, "+loginFailedSQL+", count(*) FROM events"+q.whereSQL()+" GROUP BY 1, 2, 3",
			q.args, []any{&bk, &kind, &failed, &n}, func() {
				action := ""
				if failed {
					action = activitylog.ActionLoginFailed
				}
				d.AddEvents(unix(bk), activitylog.Kind(kind), action, n)
			}); err != nil {
			return err
		}
		q = filtered(f, "kind = 'request'")
		if err := each(ctx, tx, "SELECT route, status, count(*) FROM events"+q.whereSQL()+" GROUP BY 1, 2",
			q.args, []any{&a, &status, &n}, func() { d.AddRequests(a, int(status), n) }); err != nil {
			return err
		}
		q = filtered(f, "kind = 'request'")
		bs = withBucket(q)
		if err := each(ctx, tx, "SELECT "+bs+", status, count(*) FROM events"+q.whereSQL()+" GROUP BY 1, 2",
			q.args, []any{&bk, &status, &n}, func() { d.AddRequestSeries(unix(bk), int(status), n) }); err != nil {
			return err
		}
		q = filtered(f, "kind = 'request'", "duration > 0")
		bs = withBucket(q)
		if err := each(ctx, tx, "SELECT "+bs+", "+latencyBucketSQL+", count(*) FROM events"+q.whereSQL()+" GROUP BY 1, 2",
			q.args, []any{&bk, &lb, &n}, func() { d.AddLatencyAt(unix(bk), int(lb), n) }); err != nil {
			return err
		}
		q = filtered(f, "(country_code <> '' OR country <> '')")
		if err := each(ctx, tx, "SELECT country_code, country, count(*) FROM events"+q.whereSQL()+" GROUP BY 1, 2",
			q.args, []any{&a, &b, &n}, func() { d.AddCountry(a, b, n) }); err != nil {
			return err
		}
		q = filtered(f, "remote_ip <> ''")
		if err := tx.QueryRow(ctx, "SELECT count(DISTINCT remote_ip) FROM events"+q.whereSQL(), q.args...).Scan(&uniqueIPs); err != nil {
			return unavailable(ctx, err)
		}
		// The top actors, then each one's latest name in the window (the
		// subquery's unqualified columns are e's).
		q = filtered(f, "actor_id <> ''")
		top := q.arg(opts.Top)
		return each(ctx, tx, "WITH c AS (SELECT actor_id, count(*) AS n FROM events"+q.whereSQL()+
			" GROUP BY actor_id ORDER BY n DESC, actor_id LIMIT "+top+")"+
			" SELECT c.actor_id, c.n, (SELECT e.actor_name FROM events e"+q.whereSQL()+" AND e.actor_id = c.actor_id"+
			" ORDER BY e.time DESC, e.id DESC LIMIT 1) FROM c ORDER BY c.n DESC, c.actor_id",
			q.args, []any{&id, &n, &name}, func() { users = append(users, activitylog.UserCount{ID: id, Name: name, Count: n}) })
	})
	if err != nil {
		return activitylog.Dashboard{}, fmt.Errorf("count dashboard: %w", err)
	}
	d.UniqueIPs = uniqueIPs
	d.TopUsers = append(d.TopUsers, users...)
	activitylog.SortUsers(d.TopUsers)
	d.Finish(opts)
	return d, nil
}

// ErrorRates implements activitylog.Analyzer.
func (s *Store) ErrorRates(ctx context.Context, f activitylog.Filter, limit int) (activitylog.ErrorRates, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.ErrorRates{}, err
	}
	if err := activitylog.CheckErrorRoutes(limit); err != nil {
		return activitylog.ErrorRates{}, err
	}
	r := activitylog.NewErrorRates(f)
	var (
		route  string
		status int32
		n      int64
	)
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		q := filtered(f, "kind = 'request'")
		return each(ctx, tx, "SELECT route, status, count(*) FROM events"+q.whereSQL()+" GROUP BY 1, 2",
			q.args, []any{&route, &status, &n}, func() { r.Add(route, int(status), n) })
	})
	if err != nil {
		return activitylog.ErrorRates{}, fmt.Errorf("count error rates: %w", err)
	}
	r.Finish(limit)
	return r, nil
}

// Suspects implements activitylog.Analyzer: failed logins counted per
// client address and per username (extra->>'username' when it is a
// string) in the server, lowered, trimmed and merged by
// activitylog.CollectOffenders.
func (s *Store) Suspects(ctx context.Context, f activitylog.Filter, threshold int) ([]activitylog.Offender, error) {
	f, err := activitylog.CheckSuspects(f, threshold, time.Now())
	if err != nil {
		return nil, err
	}
	f, ok := activitylog.SuspectsFilter(f)
	if !ok {
		return []activitylog.Offender{}, nil
	}
	var (
		counts      []activitylog.Offender
		key         string
		n, lo, hi   int64
		typ         string
		unix        = func(ns int64) time.Time { return time.Unix(0, ns).UTC() }
		collectWith = func() {
			counts = append(counts, activitylog.Offender{Type: typ, Key: key, Failures: int(n), First: unix(lo), Last: unix(hi)})
		}
	)
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		q := filtered(f, "remote_ip <> ''")
		typ = activitylog.OffenderIP
		if err := each(ctx, tx, "SELECT remote_ip, count(*), min(time), max(time) FROM events"+q.whereSQL()+" GROUP BY 1",
			q.args, []any{&key, &n, &lo, &hi}, collectWith); err != nil {
			return err
		}
		q = filtered(f, "jsonb_typeof(extra -> 'username') = 'string'")
		typ = activitylog.OffenderUsername
		return each(ctx, tx, "SELECT extra ->> 'username', count(*), min(time), max(time) FROM events"+q.whereSQL()+" GROUP BY 1",
			q.args, []any{&key, &n, &lo, &hi}, collectWith)
	})
	if err != nil {
		return nil, fmt.Errorf("count failed logins: %w", err)
	}
	return activitylog.CollectOffenders(counts, threshold), nil
}

// Summary implements activitylog.Analyzer, with one aggregate over the
// user's events (resolutions looked up in the same statement) and one
// count of the failed logins meant for the user.
func (s *Store) Summary(ctx context.Context, f activitylog.Filter, userID string) (activitylog.Summary, error) {
	f, err := activitylog.CheckSummary(f, userID, time.Now())
	if err != nil {
		return activitylog.Summary{}, err
	}
	sum := activitylog.Summary{UserID: userID, From: f.From.UTC(), To: f.To.UTC()}
	g, failedOK := activitylog.SuspectsFilter(f)
	if failedOK {
		g.ObjectType, g.ObjectID = "user", userID
		if f.ObjectType != "" && f.ObjectType != "user" || f.ObjectID != "" && f.ObjectID != userID {
			failedOK = false
		}
	}
	err = s.snapshot(ctx, func(tx pgx.Tx) error {
		if f.ActorID == "" || f.ActorID == userID {
			u := f
			u.ActorID = userID
			q := filtered(u)
			if err := tx.QueryRow(ctx, `SELECT count(*),
				count(*) FILTER (WHERE kind = 'crud' AND action = 'create'),
				count(*) FILTER (WHERE kind = 'crud' AND action = 'update'),
				count(*) FILTER (WHERE kind = 'crud' AND action = 'delete'),
				count(*) FILTER (WHERE kind = 'crud' AND action = 'read'),
				count(*) FILTER (WHERE kind = 'auth' AND action = '`+activitylog.ActionLogin+`'),
				count(*) FILTER (WHERE kind = 'system' AND action = 'error'),
				count(*) FILTER (WHERE severity IN ('warning', 'error', 'critical')
					AND NOT EXISTS (SELECT 1 FROM resolutions r WHERE r.event_id = events.id))
				FROM events`+q.whereSQL(), q.args...).Scan(&sum.Total, &sum.Creates, &sum.Updates, &sum.Deletes,
				&sum.Reads, &sum.Logins, &sum.SystemErrors, &sum.Unresolved); err != nil {
				return unavailable(ctx, err)
			}
		}
		if failedOK {
			q := filtered(g)
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM events"+q.whereSQL(), q.args...).Scan(&sum.FailedLogins); err != nil {
				return unavailable(ctx, err)
			}
		}
		return nil
	})
	if err != nil {
		return activitylog.Summary{}, fmt.Errorf("summarize user %s: %w", userID, err)
	}
	return sum, nil
}

// Select implements activitylog.Analyzer: Query with c's condition in
// its WHERE clause, so that its pages and cursors are Query's.
func (s *Store) Select(ctx context.Context, f activitylog.Filter, c activitylog.Condition) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	if err := c.Validate(); err != nil {
		return activitylog.Page{}, err
	}
	p, err := s.page(ctx, f, c)
	if err != nil {
		return p, fmt.Errorf("select events: %w", err)
	}
	return p, nil
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
	return s.countWhere(ctx, f, c, limit)
}
