package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// The analytics are GROUP BYs in ClickHouse over the events f selects
// (the filters of Query, through the same primary index), a few hundred
// rows at most coming back, which the activitylog helpers (Dashboard's
// Add methods, ErrorRates.Add, CollectOffenders) fold into the answer,
// so that it is the one activitylog.ScanAnalyzer gives
// (storetest.RunAnalyzer). Percentiles are read from the latency
// histogram's buckets, counted in SQL, not from ClickHouse's quantile
// functions, whose answers are approximate. Each query reads the state
// of the table when it starts; the queries of one Dashboard may see
// different states while events are being written.

// routeSQL is activitylog.RouteOf, which Write stores in attrs.
var routeSQL = attr(aRoute)

// latencyBucketSQL is activitylog.LatencyBucket of the duration column:
// v = whole microseconds; v itself below 32, else 16*e + (v >> e) where
// 2^(e+4) <= v < 2^(e+5).
var latencyBucketSQL = func() string {
	const v = "intDiv(duration, 1000)"
	var b strings.Builder
	b.WriteString("multiIf(" + v + " < 32, " + v)
	for e := 1; e < 50; e++ { // a duration in µs is below 2^54
		fmt.Fprintf(&b, ", %s < %d, %d + bitShiftRight(%s, %d)", v, int64(1)<<(e+5), 16*e, v, e)
	}
	fmt.Fprintf(&b, ", %d + bitShiftRight(%s, %d))", 16*50, v, 50)
	return b.String()
}()

// groups runs "SELECT sel … GROUP BY groupBy tail" over f's events
// that meet cond, and calls fn with each row's values, scanned into
// dest.
func (s *Store) groups(ctx context.Context, f activitylog.Filter, sel, groupBy, cond, tail string, tailArgs []any,
	fn func() error, dest ...any) error {
	var q query
	q.where(f)
	if cond != "" {
		q.cond(cond)
	}
	text := "SELECT " + sel + " FROM " + s.t.events + q.whereSQL() + " GROUP BY " + groupBy + tail
	rows, err := s.conn.Query(ctx, text, append(q.args, tailArgs...)...)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return unavailable(ctx, err)
		}
		if err := fn(); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(ctx, err)
	}
	return nil
}

// Dashboard implements activitylog.Analyzer.
func (s *Store) Dashboard(ctx context.Context, f activitylog.Filter, o *activitylog.DashboardOptions) (activitylog.Dashboard, error) {
	f, opts, err := activitylog.NormalizeDashboard(f, o, time.Now())
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	if s.closed.Load() {
		return activitylog.Dashboard{}, fmt.Errorf("count dashboard: %w", errClosed)
	}
	d, err := s.dashboard(ctx, f, opts)
	if err != nil {
		return activitylog.Dashboard{}, fmt.Errorf("count dashboard: %w", err)
	}
	return d, nil
}

func (s *Store) dashboard(ctx context.Context, f activitylog.Filter, opts activitylog.DashboardOptions) (activitylog.Dashboard, error) {
	d := activitylog.NewDashboard(f, opts)
	bucket := int64(opts.Bucket)
	bSQL := "intDiv(time, " + strconv.FormatInt(bucket, 10) + ")" // times are not negative
	at := func(b int64) time.Time { return time.Unix(0, b*bucket) }
	var (
		b, n         int64
		kind, action string
		str1, str2   string
		status       int32
		class, lb    int64
	)
	err := s.groups(ctx, f, bSQL+" AS b, kind, action, toInt64(count())", "b, kind, action", "", "", nil, func() error {
		d.AddEvents(at(b), activitylog.Kind(kind), action, n)
		return nil
	}, &b, &kind, &action, &n)
	if err != nil {
		return d, err
	}
	err = s.groups(ctx, f, routeSQL+" AS r, status, toInt64(count())", "r, status", "kind = 'request'", "", nil, func() error {
		d.AddRequests(str1, int(status), n)
		return nil
	}, &str1, &status, &n)
	if err != nil {
		return d, err
	}
	// The series of requests and errors, per bucket and status class
	// (status / 100 is 4 for 400 to 499 and 5 for 500 to 599 exactly).
	err = s.groups(ctx, f, bSQL+" AS b, toInt64(intDiv(status, 100)) AS c, toInt64(count())", "b, c", "kind = 'request'", "", nil,
		func() error {
			d.AddRequestSeries(at(b), int(class)*100, n)
			return nil
		}, &b, &class, &n)
	if err != nil {
		return d, err
	}
	// The latency histogram per bucket, which adds up to the window's.
	err = s.groups(ctx, f, bSQL+" AS b, toInt64("+latencyBucketSQL+") AS lb, toInt64(count())", "b, lb",
		"kind = 'request' AND duration > 0", "", nil, func() error {
			d.AddLatencyAt(at(b), int(lb), n)
			return nil
		}, &b, &lb, &n)
	if err != nil {
		return d, err
	}
	err = s.groups(ctx, f, attr(aCountryCode)+" AS code, "+attr(aCountry)+" AS name, toInt64(count())", "code, name", "(code != '' OR name != '')", "", nil,
		func() error {
			d.AddCountry(str1, str2, n)
			return nil
		}, &str1, &str2, &n)
	if err != nil {
		return d, err
	}
	// The top users, each with the name of its latest event (by time,
	// then id, as activitylog.ScanAnalyzer takes it).
	err = s.groups(ctx, f, "actor_id, toInt64(count()) AS n, argMax("+attr(aActorName)+", (time, id))", "actor_id", "actor_id != ''",
		" ORDER BY n DESC, actor_id LIMIT ?", []any{opts.Top}, func() error {
			d.TopUsers = append(d.TopUsers, activitylog.UserCount{ID: str1, Name: str2, Count: n})
			return nil
		}, &str1, &n, &str2)
	if err != nil {
		return d, err
	}
	activitylog.SortUsers(d.TopUsers)
	var q query
	q.where(f)
	var ips uint64
	// uniqExactIf rather than a WHERE on the address: 18.16 reads an
	// element of an array slowly, and a WHERE took it twice (a dashboard
	// of a million events: 1 s against 0.3 s).
	ip := attr(aRemoteIP)
	if err := s.conn.QueryRow(ctx, "SELECT uniqExactIf("+ip+", "+ip+" != '') FROM "+s.t.events+q.whereSQL(), q.args...).Scan(&ips); err != nil {
		return d, unavailable(ctx, err)
	}
	d.UniqueIPs = int64(ips)
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
	if s.closed.Load() {
		return activitylog.ErrorRates{}, fmt.Errorf("count error rates: %w", errClosed)
	}
	r := activitylog.NewErrorRates(f)
	var (
		route  string
		status int32
		n      int64
	)
	err = s.groups(ctx, f, routeSQL+" AS r, status, toInt64(count())", "r, status", "kind = 'request'", "", nil, func() error {
		r.Add(route, int(status), n)
		return nil
	}, &route, &status, &n)
	if err != nil {
		return activitylog.ErrorRates{}, fmt.Errorf("count error rates: %w", err)
	}
	r.Finish(limit)
	return r, nil
}

// Select implements activitylog.Analyzer: Query's statement over the
// events that also meet c.
func (s *Store) Select(ctx context.Context, f activitylog.Filter, c activitylog.Condition) (activitylog.Page, error) {
	return s.selectPage(ctx, f, c, "select events")
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
	q.condition(c)
	text := "SELECT count() FROM " + s.t.events + q.whereSQL()
	if limit > 0 {
		text = "SELECT count() FROM (SELECT 1 FROM " + s.t.events + q.whereSQL() + " LIMIT ?)"
		q.args = append(q.args, limit)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, text, q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", unavailable(ctx, err))
	}
	return int64(n), nil
}

// Suspects implements activitylog.Analyzer: failed logins grouped by
// client address, and by username as stored (attrs' username,
// Extra["username"] when it is a string); the usernames are lowered,
// trimmed and merged in Go (activitylog.CollectOffenders), which folds
// letters as strings.ToLower does.
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
	var (
		found  []activitylog.Offender
		key    string
		n      int64
		lo, hi int64
	)
	for _, g := range []struct {
		typ, col, tail string
		args           []any
	}{
		{activitylog.OffenderIP, attr(aRemoteIP), " HAVING n >= ?", []any{threshold}},
		{activitylog.OffenderUsername, attr(aUsername), "", nil},
	} {
		err := s.groups(ctx, f, g.col+" AS k, toInt64(count()) AS n, min(time), max(time)", "k", "k != ''", g.tail, g.args,
			func() error {
				found = append(found, activitylog.Offender{Type: g.typ, Key: key, Failures: int(n),
					First: time.Unix(0, lo).UTC(), Last: time.Unix(0, hi).UTC()})
				return nil
			}, &key, &n, &lo, &hi)
		if err != nil {
			return nil, fmt.Errorf("count failed logins: %w", err)
		}
	}
	return activitylog.CollectOffenders(found, threshold), nil
}

// Summary implements activitylog.Analyzer: one pass over the user's
// events, its unresolved ones found against the resolutions table, and
// one over the failed logins meant for the user.
func (s *Store) Summary(ctx context.Context, f activitylog.Filter, userID string) (activitylog.Summary, error) {
	f, err := activitylog.CheckSummary(f, userID, time.Now())
	if err != nil {
		return activitylog.Summary{}, err
	}
	if s.closed.Load() {
		return activitylog.Summary{}, fmt.Errorf("summarize user %s: %w", userID, errClosed)
	}
	sum := activitylog.Summary{UserID: userID, From: f.From.UTC(), To: f.To.UTC()}
	if f.ActorID == "" || f.ActorID == userID {
		g := f
		g.ActorID = userID
		var q query
		q.where(g)
		var c [8]uint64
		err := s.conn.QueryRow(ctx, `SELECT count(),
			countIf(kind = 'crud' AND action = 'create'),
			countIf(kind = 'crud' AND action = 'update'),
			countIf(kind = 'crud' AND action = 'delete'),
			countIf(kind = 'crud' AND action = 'read'),
			countIf(kind = 'auth' AND action = 'login'),
			countIf(kind = 'system' AND action = 'error'),
			countIf(`+attr(aSeverity)+` IN ('warning', 'error', 'critical') AND id NOT IN (SELECT event_id FROM `+s.t.resolutions+`))
			FROM `+s.t.events+q.whereSQL(), q.args...).Scan(&c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7])
		if err != nil {
			return sum, fmt.Errorf("summarize user %s: %w", userID, unavailable(ctx, err))
		}
		sum.Total, sum.Creates, sum.Updates, sum.Deletes = int64(c[0]), int64(c[1]), int64(c[2]), int64(c[3])
		sum.Reads, sum.Logins, sum.SystemErrors, sum.Unresolved = int64(c[4]), int64(c[5]), int64(c[6]), int64(c[7])
	}
	if g, ok := activitylog.SuspectsFilter(f); ok &&
		(f.ObjectType == "" || f.ObjectType == "user") && (f.ObjectID == "" || f.ObjectID == userID) {
		g.ObjectType, g.ObjectID = "user", userID
		var q query
		q.where(g)
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.t.events+q.whereSQL(), q.args...).Scan(&n); err != nil {
			return sum, fmt.Errorf("summarize user %s: %w", userID, unavailable(ctx, err))
		}
		sum.FailedLogins = int64(n)
	}
	return sum, nil
}
