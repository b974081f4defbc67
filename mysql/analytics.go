package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// The analytics answer with GROUP BY over the events table, through
// the indexes Query uses, each method in one read-only transaction
// (REPEATABLE READ: one consistent snapshot for its statements). There
// are no rollups: a dashboard over a window reads the window's events,
// so its cost grows with the window (see the package doc).
// storetest.RunAnalyzer holds every answer to activitylog.ScanAnalyzer's.

var _ activitylog.Analyzer = (*Store)(nil)

// latencyBucketSQL is activitylog.LatencyBucket of the duration column:
// v = whole microseconds; v itself below 32, else 16*e + (v >> e) where
// 2^(e+4) <= v < 2^(e+5).
var latencyBucketSQL = func() string {
	const v = "(duration DIV 1000)"
	var b strings.Builder
	b.WriteString("(CASE WHEN " + v + " < 32 THEN " + v)
	for e := 1; e < 50; e++ { // a duration in µs is below 2^54
		fmt.Fprintf(&b, " WHEN %s < %d THEN %d + (%s >> %d)", v, int64(1)<<(e+5), 16*e, v, e)
	}
	fmt.Fprintf(&b, " ELSE %d + (%s >> %d) END)", 16*50, v, 50)
	return b.String()
}()

// usernameSQL is Extra["username"] when it is a string, as bytes (so
// that GROUP BY compares bytes, and CollectOffenders folds case).
const usernameSQL = `CAST(JSON_UNQUOTE(JSON_EXTRACT(extra, '$.username')) AS BINARY)`

// snapshot runs fn in a read-only transaction, one consistent state of
// the store for all of fn's statements.
func (s *Store) snapshot(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return errClosed
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return unavailable(ctx, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return unavailable(ctx, err)
	}
	return nil
}

// each runs a query and calls scan for each row.
func each(ctx context.Context, tx *sql.Tx, sqlText string, args []any, scan func(rows *sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return unavailable(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return unavailable(ctx, err)
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(ctx, err)
	}
	return nil
}

// filtered returns " FROM events WHERE …" for f and the extra
// conditions, and its arguments.
func filtered(f activitylog.Filter, extra ...string) (string, []any) {
	var q query
	q.where(f)
	for _, c := range extra {
		q.cond(c)
	}
	return " FROM events" + q.whereSQL(), q.args
}

// Select implements activitylog.Analyzer: Query, narrowed by c.
func (s *Store) Select(ctx context.Context, f activitylog.Filter, c activitylog.Condition) (activitylog.Page, error) {
	return s.selectPage(ctx, f, c, "select events")
}

// CountSelect implements activitylog.Analyzer.
func (s *Store) CountSelect(ctx context.Context, f activitylog.Filter, c activitylog.Condition, limit int64) (int64, error) {
	return s.countSelect(ctx, f, c, limit)
}

// Dashboard implements activitylog.Analyzer.
func (s *Store) Dashboard(ctx context.Context, f activitylog.Filter, o *activitylog.DashboardOptions) (activitylog.Dashboard, error) {
	f, opts, err := activitylog.NormalizeDashboard(f, o, time.Now())
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	d := activitylog.NewDashboard(f, opts)
	// Every event of the window is at or after 1970 (From is), so the
	// bucket of t is t - t mod width.
	bucket := "(time - time % " + strconv.FormatInt(int64(opts.Bucket), 10) + ")"
	at := func(ns int64) time.Time { return time.Unix(0, ns) }
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		from, args := filtered(f)
		if err := each(ctx, tx, "SELECT "+bucket+", kind, kind = 'auth' AND action = 'login_failed', COUNT(*)"+from+
			" GROUP BY 1, 2, 3", args, func(rows *sql.Rows) error {
			var (
				b, n   int64
				kind   []byte
				failed bool
			)
			if err := rows.Scan(&b, &kind, &failed, &n); err != nil {
				return err
			}
			action := ""
			if failed {
				action = activitylog.ActionLoginFailed
			}
			d.AddEvents(at(b), activitylog.Kind(kind), action, n)
			return nil
		}); err != nil {
			return err
		}
		from, args = filtered(f, "kind = 'request'")
		if err := each(ctx, tx, "SELECT route, status, COUNT(*)"+from+" GROUP BY route, status", args, func(rows *sql.Rows) error {
			var (
				route     []byte
				status, n int64
			)
			if err := rows.Scan(&route, &status, &n); err != nil {
				return err
			}
			d.AddRequests(string(route), int(status), n)
			return nil
		}); err != nil {
			return err
		}
		// The series needs a status's class only: 4xx, 5xx or other.
		if err := each(ctx, tx, "SELECT "+bucket+", CASE WHEN status BETWEEN 400 AND 499 THEN 400 WHEN status BETWEEN 500 AND 599 THEN 500 ELSE 0 END, COUNT(*)"+
			from+" GROUP BY 1, 2", args, func(rows *sql.Rows) error {
			var b, status, n int64
			if err := rows.Scan(&b, &status, &n); err != nil {
				return err
			}
			d.AddRequestSeries(at(b), int(status), n)
			return nil
		}); err != nil {
			return err
		}
		from, args = filtered(f, "kind = 'request'", "duration > 0")
		if err := each(ctx, tx, "SELECT "+bucket+", "+latencyBucketSQL+", COUNT(*)"+from+" GROUP BY 1, 2", args, func(rows *sql.Rows) error {
			var b, lb, n int64
			if err := rows.Scan(&b, &lb, &n); err != nil {
				return err
			}
			d.AddLatencyAt(at(b), int(lb), n)
			return nil
		}); err != nil {
			return err
		}
		from, args = filtered(f, "(geo_code <> '' OR geo_country <> '')")
		if err := each(ctx, tx, "SELECT geo_code, geo_country, COUNT(*)"+from+" GROUP BY geo_code, geo_country", args, func(rows *sql.Rows) error {
			var (
				code, name []byte
				n          int64
			)
			if err := rows.Scan(&code, &name, &n); err != nil {
				return err
			}
			d.AddCountry(string(code), string(name), n)
			return nil
		}); err != nil {
			return err
		}
		from, args = filtered(f, "remote_ip <> ''")
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(DISTINCT remote_ip)"+from, args...).Scan(&d.UniqueIPs); err != nil {
			return unavailable(ctx, err)
		}
		users, err := topUsers(ctx, tx, f, opts.Top)
		if err != nil {
			return err
		}
		d.TopUsers = users
		return nil
	})
	if err != nil {
		return activitylog.Dashboard{}, fmt.Errorf("count dashboard: %w", err)
	}
	d.Finish(opts)
	return d, nil
}

// topUsers returns the top actors of f's events, with the actor name
// of each one's latest event (by time, then id).
func topUsers(ctx context.Context, tx *sql.Tx, f activitylog.Filter, top int) ([]activitylog.UserCount, error) {
	users := []activitylog.UserCount{}
	from, args := filtered(f, "actor_id <> ''")
	if err := each(ctx, tx, "SELECT actor_id, COUNT(*)"+from+" GROUP BY actor_id", args, func(rows *sql.Rows) error {
		var (
			id []byte
			n  int64
		)
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		users = append(users, activitylog.UserCount{ID: string(id), Count: n})
		return nil
	}); err != nil {
		return nil, err
	}
	activitylog.SortUsers(users)
	users = users[:min(len(users), top)]
	if len(users) == 0 {
		return users, nil
	}
	index := make(map[string]int, len(users))
	ids := make([]any, len(users))
	for i, u := range users {
		index[u.ID] = i
		ids[i] = bin(u.ID)
	}
	from, args = filtered(f, "actor_id IN (?"+strings.Repeat(",?", len(ids)-1)+")")
	args = append(args, ids...)
	err := each(ctx, tx, "SELECT actor_id, actor_name FROM (SELECT actor_id, actor_name, "+
		"ROW_NUMBER() OVER (PARTITION BY actor_id ORDER BY time DESC, id DESC) AS rn"+from+") AS latest WHERE rn = 1",
		args, func(rows *sql.Rows) error {
			var id, name []byte
			if err := rows.Scan(&id, &name); err != nil {
				return err
			}
			if i, ok := index[string(id)]; ok {
				users[i].Name = string(name)
			}
			return nil
		})
	return users, err
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
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		from, args := filtered(f, "kind = 'request'")
		return each(ctx, tx, "SELECT route, status, COUNT(*)"+from+" GROUP BY route, status", args, func(rows *sql.Rows) error {
			var (
				route     []byte
				status, n int64
			)
			if err := rows.Scan(&route, &status, &n); err != nil {
				return err
			}
			r.Add(string(route), int(status), n)
			return nil
		})
	})
	if err != nil {
		return activitylog.ErrorRates{}, fmt.Errorf("count error rates: %w", err)
	}
	r.Finish(limit)
	return r, nil
}

// Suspects implements activitylog.Analyzer.
func (s *Store) Suspects(ctx context.Context, f activitylog.Filter, threshold int) ([]activitylog.Offender, error) {
	f, err := activitylog.CheckSuspects(f, threshold, time.Now())
	if err != nil {
		return nil, err
	}
	f, ok := activitylog.SuspectsFilter(f)
	if !ok {
		return []activitylog.Offender{}, nil
	}
	var counts []activitylog.Offender
	collect := func(typ string) func(rows *sql.Rows) error {
		return func(rows *sql.Rows) error {
			var (
				key            []byte
				n, first, last int64
			)
			if err := rows.Scan(&key, &n, &first, &last); err != nil {
				return err
			}
			counts = append(counts, activitylog.Offender{Type: typ, Key: string(key), Failures: int(n),
				First: time.Unix(0, first), Last: time.Unix(0, last)})
			return nil
		}
	}
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		from, args := filtered(f, "remote_ip <> ''")
		if err := each(ctx, tx, "SELECT remote_ip, COUNT(*), MIN(time), MAX(time)"+from+" GROUP BY remote_ip",
			args, collect(activitylog.OffenderIP)); err != nil {
			return err
		}
		from, args = filtered(f, "JSON_TYPE(JSON_EXTRACT(extra, '$.username')) = 'STRING'")
		return each(ctx, tx, "SELECT "+usernameSQL+", COUNT(*), MIN(time), MAX(time)"+from+" GROUP BY 1",
			args, collect(activitylog.OffenderUsername))
	})
	if err != nil {
		return nil, fmt.Errorf("count failed logins: %w", err)
	}
	return activitylog.CollectOffenders(counts, threshold), nil
}

// Summary implements activitylog.Analyzer.
func (s *Store) Summary(ctx context.Context, f activitylog.Filter, userID string) (activitylog.Summary, error) {
	f, err := activitylog.CheckSummary(f, userID, time.Now())
	if err != nil {
		return activitylog.Summary{}, err
	}
	sum := activitylog.Summary{UserID: userID, From: f.From.UTC(), To: f.To.UTC()}
	failed, countFailed := activitylog.SuspectsFilter(f)
	if countFailed {
		failed.ObjectType, failed.ObjectID = "user", userID
		if f.ObjectType != "" && f.ObjectType != "user" || f.ObjectID != "" && f.ObjectID != userID {
			countFailed = false
		}
	}
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		if f.ActorID == "" || f.ActorID == userID {
			g := f
			g.ActorID = userID
			from, args := filtered(g)
			if err := each(ctx, tx, "SELECT kind, action, COUNT(*)"+from+" GROUP BY kind, action", args, func(rows *sql.Rows) error {
				var (
					kind, action []byte
					n            int64
				)
				if err := rows.Scan(&kind, &action, &n); err != nil {
					return err
				}
				sum.Total += n
				switch k, a := activitylog.Kind(kind), string(action); {
				case k == activitylog.KindCRUD && a == "create":
					sum.Creates += n
				case k == activitylog.KindCRUD && a == "update":
					sum.Updates += n
				case k == activitylog.KindCRUD && a == "delete":
					sum.Deletes += n
				case k == activitylog.KindCRUD && a == "read":
					sum.Reads += n
				case k == activitylog.KindAuth && a == activitylog.ActionLogin:
					sum.Logins += n
				case k == activitylog.KindSystem && a == "error":
					sum.SystemErrors += n
				}
				return nil
			}); err != nil {
				return err
			}
			var needs []string
			for _, sev := range activitylog.Severities {
				if activitylog.NeedsResolution(sev) {
					needs = append(needs, "'"+string(sev)+"'")
				}
			}
			from, args = filtered(g, "severity IN ("+strings.Join(needs, ", ")+")",
				"NOT EXISTS (SELECT 1 FROM resolutions r WHERE r.event_id = events.id)")
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*)"+from, args...).Scan(&sum.Unresolved); err != nil {
				return unavailable(ctx, err)
			}
		}
		if countFailed {
			from, args := filtered(failed)
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*)"+from, args...).Scan(&sum.FailedLogins); err != nil {
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
