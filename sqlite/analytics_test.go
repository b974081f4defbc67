package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/storetest"
)

func openAnalytics(t *testing.T, path string) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "audit.db")
	}
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAnalyzerConformance(t *testing.T) {
	storetest.RunAnalyzer(t, func(t *testing.T) activitylog.Store { return openAnalytics(t, "") })
}

func TestAnalyzerConformanceInMemory(t *testing.T) {
	storetest.RunAnalyzer(t, func(t *testing.T) activitylog.Store { return openAnalytics(t, ":memory:") })
}

// lagging is a Store whose rollups lag: each Write folds only part of
// what it wrote, and the aggregations never fold, so that they read the
// rollups, the events past the watermark and the window's edges
// together.
type lagging struct {
	*Store
	t *testing.T
}

func (l lagging) Write(ctx context.Context, events []activitylog.Event) error {
	if err := l.Store.Write(ctx, events); err != nil {
		return err
	}
	return l.foldOnce(ctx, int64(len(events)/2))
}

func (l lagging) Dashboard(ctx context.Context, f activitylog.Filter, o *activitylog.DashboardOptions) (activitylog.Dashboard, error) {
	f, opts, err := activitylog.NormalizeDashboard(f, o, time.Now())
	if err != nil {
		return activitylog.Dashboard{}, err
	}
	src := planSources(f, opts.Bucket)
	return l.dashboard(ctx, &src, f, opts, false)
}

func (l lagging) ErrorRates(ctx context.Context, f activitylog.Filter, limit int) (activitylog.ErrorRates, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.ErrorRates{}, err
	}
	if err := activitylog.CheckErrorRoutes(limit); err != nil {
		return activitylog.ErrorRates{}, err
	}
	src := planSources(f, time.Hour)
	return l.errorRates(ctx, &src, f, limit, false)
}

func TestAnalyzerConformanceLaggingRollups(t *testing.T) {
	storetest.RunAnalyzer(t, func(t *testing.T) activitylog.Store { return lagging{openAnalytics(t, ""), t} })
}

// watermark returns the rollups' watermark and the largest seq.
func watermark(t *testing.T, s *Store) (w, m int64) {
	t.Helper()
	if err := s.r.QueryRow(`SELECT (SELECT seq FROM rollup_state), (SELECT coalesce(max(seq), 0) FROM events)`).Scan(&w, &m); err != nil {
		t.Fatal(err)
	}
	return w, m
}

func dashboardJSON(t *testing.T, a activitylog.Analyzer, f activitylog.Filter) string {
	t.Helper()
	d, err := a.Dashboard(context.Background(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// TestRollupsAfterDeletes deletes events that are folded, the newest
// among them, and checks the answers before the next fold (the dirty
// hours read from the events), after it, and once new events have
// taken the deleted events' seq.
func TestRollupsAfterDeletes(t *testing.T) {
	ctx := context.Background()
	s := openAnalytics(t, "")
	es := storetest.AnalyticsFixture(180)
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	if w, m := watermark(t, s); w != m || w == 0 {
		t.Fatalf("after Rollup: watermark %d, max seq %d", w, m)
	}
	lag := lagging{s, t}
	ref := activitylog.ScanAnalyzer{Q: s}
	f := activitylog.Filter{From: storetest.AnalyticsBase.Truncate(time.Hour), To: storetest.AnalyticsBase.Add(50 * time.Hour).Truncate(time.Hour)}
	check := func(when string) {
		t.Helper()
		if got, want := dashboardJSON(t, lag, f), dashboardJSON(t, ref, f); got != want {
			t.Errorf("%s:\n got %s\nwant %s", when, got, want)
		}
		if got, want := dashboardJSON(t, s, f), dashboardJSON(t, ref, f); got != want {
			t.Errorf("%s, folded:\n got %s\nwant %s", when, got, want)
		}
	}
	// Every third event of most hours, and the ten newest.
	if _, err := s.w.Exec(`DELETE FROM events WHERE seq % 3 = 0 AND time < ?`, storetest.AnalyticsEvent(170).Time.UnixNano()); err != nil { // some 37 hours: two folds
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`DELETE FROM events WHERE seq > (SELECT max(seq) - 10 FROM events)`); err != nil {
		t.Fatal(err)
	}
	if w, m := watermark(t, s); w != m {
		t.Errorf("after deleting the newest: watermark %d, max seq %d; want them equal", w, m)
	}
	check("after deletes")
	// New events take the seq of the deleted ones.
	if err := s.Write(ctx, storetest.AnalyticsFixture(180)[:10]); err != nil { // the same ids: nothing
		t.Fatal(err)
	}
	more := make([]activitylog.Event, 30)
	for i := range more {
		more[i] = storetest.AnalyticsEvent(200 + i)
		more[i].Time = storetest.AnalyticsEvent(i * 5).Time.Add(time.Second) // into folded hours
		more[i].ID = activitylog.NewID(more[i].Time)
	}
	if err := s.Write(ctx, more); err != nil {
		t.Fatal(err)
	}
	check("after new events")
	// An update of a folded event marks its hours dirty. (The time is
	// read from its column; the other fields from the document.)
	if _, err := s.w.Exec(`UPDATE events SET time = time + 7200000000000 WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	check("after an update")
	var dirty int
	s.r.QueryRow(`SELECT count(*) FROM rollup_dirty`).Scan(&dirty)
	if dirty != 0 {
		t.Errorf("%d dirty hours left after a fold", dirty)
	}
}

// TestLatencyBucketSQL holds latencyBucketSQL to activitylog.LatencyBucket.
func TestLatencyBucketSQL(t *testing.T) {
	s := openAnalytics(t, ":memory:")
	ds := []time.Duration{0, 1, 999, 1000, 31999, 32000, 33999, 34000, 63999, 64000, 65000, time.Millisecond,
		time.Second, time.Hour, 24 * time.Hour, 1<<63 - 1}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ds = append(ds, time.Duration(r.Int64N(1<<uint(r.IntN(62)+1))))
	}
	for e := 0; e < 60; e++ {
		for _, d := range []int64{-1, 0, 1} {
			if v := int64(1)<<e*1000 + d; v >= 0 {
				ds = append(ds, time.Duration(v))
			}
		}
	}
	// One query for them all: a query each took 16 s under the race
	// detector, where SQLite's translated C runs instrumented.
	list, err := json.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.r.Query("SELECT duration, "+latencyBucketSQL+
		" FROM (SELECT CAST(value AS INTEGER) AS duration, key FROM json_each(?)) ORDER BY key", string(list))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for ; rows.Next(); n++ {
		var d int64
		var got int
		if err := rows.Scan(&d, &got); err != nil {
			t.Fatal(err)
		}
		if d != int64(ds[n]) {
			t.Fatalf("row %d: duration %d, sent %d", n, d, int64(ds[n]))
		}
		if want := activitylog.LatencyBucket(ds[n]); got != want {
			t.Errorf("bucket of %d ns: SQL %d, Go %d", d, got, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(ds) {
		t.Fatalf("%d rows for %d durations", n, len(ds))
	}
}

// TestAnalyticsPlans checks that the events past the watermark are read
// through the rowid, and the dirty hours through the time index,
// whatever other index a condition could use.
func TestAnalyticsPlans(t *testing.T) {
	s := openAnalytics(t, "")
	f, _, err := activitylog.NormalizeDashboard(activitylog.Filter{From: time.Unix(0, 10*hourNS), To: time.Unix(0, 20*hourNS), Tenant: "acme"}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	src := planSources(f, time.Hour)
	if !src.rollup {
		t.Fatal("a window of whole hours and a tenant is not answered from the rollups")
	}
	for _, cond := range []string{"+kind = 'request'", "+remote_ip <> ''", "+actor_id <> ''"} {
		raw, args := src.raw("kind, remote_ip, actor_id", cond)
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+raw, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		want := map[string]bool{
			"SEARCH events USING INTEGER PRIMARY KEY (rowid>?)":         false,
			"SEARCH events USING INDEX events_time (time>? AND time<?)": false,
		}
		for _, p := range plan {
			if _, ok := want[p]; ok {
				want[p] = true
			}
		}
		for p, seen := range want {
			if !seen {
				t.Errorf("%s: plan lacks %q:\n%v", cond, p, plan)
			}
		}
	}
}

// TestFoldPlans checks that a fold reads the events past the watermark
// through the rowid, whatever other index a rollup's condition could
// use.
func TestFoldPlans(t *testing.T) {
	s := openAnalytics(t, "")
	for _, tb := range rollupTables {
		// EXPLAIN of the INSERT lists the plan of its SELECT.
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+tb.foldSQL("events NOT INDEXED", "seq > ? AND seq <= ?"), 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		if !slices.Contains(plan, "SEARCH events USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") {
			t.Errorf("fold of %s: %v", tb.name, plan)
		}
	}
}

func TestPlanSources(t *testing.T) {
	h := func(n int64) time.Time { return time.Unix(0, n*hourNS) }
	for _, tc := range []struct {
		f      activitylog.Filter
		bucket time.Duration
		rollup bool
		hA, hB int64
	}{
		{activitylog.Filter{From: h(10), To: h(20)}, time.Hour, true, 10, 20},
		{activitylog.Filter{From: h(10).Add(1), To: h(20).Add(-1)}, time.Hour, true, 11, 19},
		{activitylog.Filter{From: h(10), To: h(20), Tenant: "a"}, 6 * time.Hour, true, 10, 20},
		{activitylog.Filter{From: h(10), To: h(20), NoTenant: true, PageSize: 5, Ordering: "-time"}, time.Hour, true, 10, 20},
		{activitylog.Filter{From: h(10), To: h(10).Add(59 * time.Minute)}, time.Hour, false, 0, 0},
		{activitylog.Filter{From: h(10).Add(1), To: h(11).Add(1)}, time.Hour, false, 0, 0},
		{activitylog.Filter{From: h(10), To: h(20)}, 30 * time.Minute, false, 0, 0},
		{activitylog.Filter{From: h(10), To: h(20), ActorID: "u"}, time.Hour, false, 0, 0},
		{activitylog.Filter{From: h(10), To: h(20), Kind: activitylog.KindAuth}, time.Hour, false, 0, 0},
		{activitylog.Filter{From: h(10)}, time.Hour, false, 0, 0},
	} {
		src := planSources(tc.f, tc.bucket)
		if src.rollup != tc.rollup || src.hA != tc.hA || src.hB != tc.hB {
			t.Errorf("planSources(%+v, %v) = rollup %v [%d, %d), want %v [%d, %d)", tc.f, tc.bucket,
				src.rollup, src.hA, src.hB, tc.rollup, tc.hA, tc.hB)
		}
	}
}

// millionEvent returns event i of the 1M-event store: a realistic mix
// (three quarters requests, then crud, auth, external, system, custom,
// export) of 2000 users in 10 tenants (a tenth of the events without
// one), each with two client addresses, 500 more addresses of failed
// logins, 30 routes (a twentieth of the requests without one, counted
// by path), mostly 2xx, and log-normal latencies around 20 ms.
func millionEvent(r *rand.Rand, t time.Time) activitylog.Event {
	u := r.IntN(2000)
	e := activitylog.Event{
		ID:       activitylog.NewID(t),
		Time:     t,
		Severity: activitylog.SeverityInfo,
		Tenant:   fmt.Sprintf("tenant-%d", u%10),
		Service:  "shop",
		Actor:    activitylog.Actor{ID: fmt.Sprintf("user-%d", u), Name: fmt.Sprintf("User %d", u), Type: activitylog.ActorUser},
		Request: activitylog.Request{
			RequestID: fmt.Sprintf("req-%016x", r.Uint64()),
			RemoteIP:  fmt.Sprintf("10.%d.%d.%d", u/250, u%250, 1+r.IntN(2)),
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			Method:    "GET",
		},
	}
	if u%10 == 9 {
		e.Tenant = ""
	}
	route := r.IntN(30)
	e.Request.Route = fmt.Sprintf("%s /api/v1/resource%d/{id}", []string{"GET", "GET", "POST", "PUT", "DELETE"}[route%5], route)
	e.Request.Path = fmt.Sprintf("/api/v1/resource%d/%d", route, r.IntN(5000))
	switch p := r.IntN(100); {
	case p < 75:
		e.Kind, e.Action = activitylog.KindRequest, e.Request.Method
		if r.IntN(20) == 0 {
			e.Request.Route = ""
		}
		e.Response.Status = 200
		switch s := r.IntN(100); {
		case s < 3:
			e.Response.Status = 302
		case s < 11:
			e.Response.Status = []int{400, 401, 403, 404, 404, 404, 422, 429}[r.IntN(8)]
		case s < 15:
			e.Response.Status = []int{500, 502, 503}[r.IntN(3)]
		}
		e.Response.Duration = time.Duration(20e6 * math.Exp(r.NormFloat64()))
	case p < 85:
		e.Kind, e.Action = activitylog.KindCRUD, []string{"create", "read", "update", "delete"}[r.IntN(4)]
		e.Object = activitylog.Object{Type: "order", ID: fmt.Sprint(r.IntN(100000))}
	case p < 90:
		e.Kind, e.Action = activitylog.KindAuth, []string{"login", "login", "logout", "login_failed", "login_failed"}[r.IntN(5)]
		if e.Action == "login_failed" {
			e.Severity = activitylog.SeverityWarning
			e.Extra = map[string]any{"username": fmt.Sprintf("user%d", u)}
			e.Actor = activitylog.Actor{Type: activitylog.ActorAnonymous}
			if r.IntN(2) == 0 {
				e.Request.RemoteIP = fmt.Sprintf("198.51.100.%d", r.IntN(250))
			}
		}
	case p < 95:
		e.Kind, e.Action = activitylog.KindExternal, "POST"
		e.Response.Status, e.Response.Duration = 200, time.Duration(r.IntN(500))*time.Millisecond
	case p < 97:
		e.Kind = activitylog.KindSystem
		e.Action = []string{"error", "warning", "error", "performance"}[r.IntN(4)]
		e.Severity = []activitylog.Severity{activitylog.SeverityError, activitylog.SeverityWarning, activitylog.SeverityCritical}[r.IntN(3)]
		e.Message = "disk almost full"
	case p < 99:
		e.Kind, e.Action = activitylog.KindCustom, "checkout"
	default:
		e.Kind, e.Action = activitylog.KindExport, "csv"
	}
	return e
}

// TestDashboardMillion measures GET /api/v1/dashboard?hours=24's store
// call over 1,000,000 events spread over 30 days, 70% of them in the
// last 24 hours. It takes minutes and a gigabyte of disk, so it runs
// only with ACTIVITYLOG_BENCH_1M=1:
//
//	ACTIVITYLOG_BENCH_1M=1 go test ./sqlite -run TestDashboardMillion -v -timeout 30m
func TestDashboardMillion(t *testing.T) {
	if os.Getenv("ACTIVITYLOG_BENCH_1M") == "" {
		t.Skip("set ACTIVITYLOG_BENCH_1M=1 to measure the dashboard over 1,000,000 events")
	}
	ctx := context.Background()
	dir := os.Getenv("ACTIVITYLOG_BENCH_DIR") // to keep the file between runs
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "million.db")
	_, statErr := os.Stat(path)
	s := openAnalytics(t, path)
	now := time.Now()
	const n = 1_000_000
	if statErr != nil {
		r := rand.New(rand.NewPCG(7, 11))
		start := time.Now()
		batch := make([]activitylog.Event, 0, 5000)
		for i := range n {
			var at time.Time
			if i%10 < 7 {
				at = now.Add(-time.Duration(r.Int64N(int64(24 * time.Hour))))
			} else {
				at = now.Add(-24*time.Hour - time.Duration(r.Int64N(int64(29*24*time.Hour))))
			}
			batch = append(batch, millionEvent(r, at))
			if len(batch) == cap(batch) || i == n-1 {
				if err := s.Write(ctx, batch); err != nil {
					t.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		t.Logf("wrote %d events in %v", n, time.Since(start).Round(time.Millisecond))
	} else {
		// The file's events were written relative to an earlier now;
		// its rollups are dropped, to measure their first fold again.
		var hi int64
		s.r.QueryRow(`SELECT max(time) FROM events`).Scan(&hi)
		now = time.Unix(0, hi)
		for _, q := range []string{"DELETE FROM rollup_dirty", "UPDATE rollup_state SET seq = 0"} {
			if _, err := s.w.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		for _, tb := range rollupTables {
			if _, err := s.w.Exec("DELETE FROM " + tb.name); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The window the API asks for with hours=24: the current hour and
	// the 23 before it.
	cur := now.Truncate(time.Hour)
	f := activitylog.Filter{From: cur.Add(-23 * time.Hour), To: cur.Add(time.Hour)}
	var before func(i int) error // run untimed before each run, when set
	measure := func(name string, runs int, fn func(i int) error) {
		t.Helper()
		ds := make([]time.Duration, runs)
		for i := range ds {
			if before != nil {
				if err := before(i); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			if err := fn(i); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ds[i] = time.Since(start)
		}
		slices.Sort(ds)
		t.Logf("%-58s runs %3d  median %8v  p95 %8v  max %8v", name, runs,
			ds[runs/2].Round(100*time.Microsecond), ds[(runs*95+99)/100-1].Round(100*time.Microsecond),
			ds[runs-1].Round(100*time.Microsecond))
	}
	dash := func(f activitylog.Filter, o *activitylog.DashboardOptions) func(int) error {
		return func(int) error {
			d, err := s.Dashboard(ctx, f, o)
			if err == nil && d.Total == 0 {
				err = fmt.Errorf("empty dashboard")
			}
			return err
		}
	}
	measure("dashboard, raw events (no rollups: 30 min buckets)", 3, dash(f, &activitylog.DashboardOptions{Bucket: 30 * time.Minute}))
	start := time.Now()
	if err := s.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("first fold of the rollups: %v", time.Since(start).Round(time.Millisecond))
	measure("dashboard hours=24, superuser", 50, dash(f, nil))
	g := f
	g.Tenant = "tenant-3"
	measure("dashboard hours=24, one tenant", 50, dash(g, nil))
	g = f
	g.Tenant, g.ActorID = "tenant-3", "user-1003"
	measure("dashboard hours=24, one user's own events (view_logs)", 50, dash(g, nil))
	measure("dashboard hours=720 (30 days), superuser", 20, dash(activitylog.Filter{From: cur.Add(-719 * time.Hour), To: cur.Add(time.Hour)}, nil))
	measure("error rates hours=24, superuser", 20, func(int) error { _, err := s.ErrorRates(ctx, f, 0); return err })
	r := rand.New(rand.NewPCG(3, 5))
	before = func(i int) error {
		batch := make([]activitylog.Event, 1000)
		for j := range batch {
			batch[j] = millionEvent(r, now.Add(time.Duration(i*1000+j)*time.Microsecond))
		}
		return s.Write(ctx, batch)
	}
	measure("dashboard hours=24, 1000 new events before each (folded)", 50, dash(f, nil))
	before = func(i int) error {
		batch := make([]activitylog.Event, 10000)
		for j := range batch {
			batch[j] = millionEvent(r, now.Add(time.Duration(i*10000+j)*time.Microsecond))
		}
		return s.Write(ctx, batch)
	}
	measure("dashboard hours=24, 10000 new events before each (folded)", 10, dash(f, nil))
}

// TestExplainMillion prints the plans of the dashboard's statements on
// the store TestDashboardMillion leaves in ACTIVITYLOG_BENCH_DIR.
func TestExplainMillion(t *testing.T) {
	dir := os.Getenv("ACTIVITYLOG_BENCH_DIR")
	if os.Getenv("ACTIVITYLOG_BENCH_1M") == "" || dir == "" {
		t.Skip("set ACTIVITYLOG_BENCH_1M=1 and ACTIVITYLOG_BENCH_DIR to a directory where TestDashboardMillion left its store")
	}
	s := openAnalytics(t, filepath.Join(dir, "million.db"))
	var hi int64
	s.r.QueryRow(`SELECT max(time) FROM events`).Scan(&hi)
	cur := time.Unix(0, hi).Truncate(time.Hour)
	for _, f := range []activitylog.Filter{
		{From: cur.Add(-23 * time.Hour), To: cur.Add(time.Hour), Tenant: "tenant-3", ActorID: "user-1003"},
		{From: cur.Add(-23 * time.Hour), To: cur.Add(time.Hour)},
	} {
		src := planSources(f, time.Hour)
		if f.ActorID == "" {
			for _, tb := range rollupTables {
				rows, err := s.r.Query("EXPLAIN QUERY PLAN "+tb.foldSQL("events NOT INDEXED", "seq > ? AND seq <= ?"), 1, 2)
				if err != nil {
					t.Fatal(err)
				}
				var plan []string
				for rows.Next() {
					var id, parent, notused int
					var detail string
					rows.Scan(&id, &parent, &notused, &detail)
					plan = append(plan, detail)
				}
				rows.Close()
				t.Logf("fold %s:\n%s", tb.name, strings.Join(plan, "\n"))
			}
		}
		for _, cond := range []string{"", "+kind = 'request'", "+remote_ip <> ''"} {
			raw, args := src.raw("kind", cond)
			rows, err := s.r.Query("EXPLAIN QUERY PLAN "+raw, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				rows.Scan(&id, &parent, &notused, &detail)
				plan = append(plan, detail)
			}
			rows.Close()
			t.Logf("%+v %q:\n%s", f.ActorID, cond, strings.Join(plan, "\n"))
		}
	}
}

// TestRollupCountriesMigration makes a database as the binary before
// migration 0008 left it (migrations 1 to 7, the events folded into
// the rollups of 0004, an hour dirty, events past the watermark), then
// opens it: 0008 fills rollup_statuses and rollup_countries for the
// folded events, and the dashboard's countries and series are the
// reference's, before and after the next fold; the new rollups hold
// what a fold from scratch gives.
func TestRollupCountriesMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := Open(path, &Options{SkipMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.w.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version >= 8 {
			break
		}
		if _, err := old.apply(ctx, m); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	es := storetest.AnalyticsFixture(180)
	if err := old.Write(ctx, es[:150]); err != nil {
		t.Fatal(err)
	}
	// The old fold: every rollup but the countries, the watermark at
	// the last event.
	for _, tb := range rollupTables {
		if tb.name == "rollup_countries" || tb.name == "rollup_statuses" {
			continue
		}
		if _, err := old.w.Exec(tb.foldSQL("events NOT INDEXED", "seq > 0")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.w.Exec(`UPDATE rollup_state SET seq = (SELECT max(seq) FROM events)`); err != nil {
		t.Fatal(err)
	}
	if err := old.Write(ctx, es[150:]); err != nil { // past the watermark
		t.Fatal(err)
	}
	h := storetest.AnalyticsEvent(40).Time.UnixNano() / hourNS
	if _, err := old.w.Exec(`INSERT INTO rollup_dirty (hour) VALUES (?)`, h); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAnalytics(t, path)
	if v, err := s.SchemaVersion(ctx); err != nil || v < 8 {
		t.Fatalf("SchemaVersion = %d, %v; want at least 8", v, err)
	}
	var rows int
	if err := s.r.QueryRow(`SELECT count(*) FROM rollup_countries`).Scan(&rows); err != nil || rows == 0 {
		t.Fatalf("rollup_countries after the migration: %d rows, %v; want the folded events' countries", rows, err)
	}
	ref := activitylog.ScanAnalyzer{Q: s}
	f := activitylog.Filter{From: storetest.AnalyticsBase.Truncate(time.Hour), To: storetest.AnalyticsBase.Add(50 * time.Hour).Truncate(time.Hour)}
	want := dashboardJSON(t, ref, f)
	if !strings.Contains(want, `"code":"DE","name":"Germany"`) {
		t.Fatalf("the reference dashboard counts no country: %s", want)
	}
	if got := dashboardJSON(t, lagging{s, t}, f); got != want {
		t.Errorf("migrated, before a fold:\n got %s\nwant %s", got, want)
	}
	if got := dashboardJSON(t, s, f); got != want {
		t.Errorf("migrated, folded:\n got %s\nwant %s", got, want)
	}
	// What the migration and the folds left is what a fold from
	// scratch gives.
	table := func() string {
		t.Helper()
		var b strings.Builder
		for _, q := range []string{`SELECT hour, tenant, code, name, n FROM rollup_countries ORDER BY 1, 2, 3, 4`,
			`SELECT hour, tenant, status, '', n FROM rollup_statuses ORDER BY 1, 2, 3`} {
			rs, err := s.r.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			for rs.Next() {
				var hour, n int64
				var tenant, code, name string
				if err := rs.Scan(&hour, &tenant, &code, &name, &n); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%d %q %q %q %d\n", hour, tenant, code, name, n)
			}
			rs.Close()
		}
		return b.String()
	}
	migrated := table()
	for _, tb := range rollupTables {
		if _, err := s.w.Exec("DELETE FROM " + tb.name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.Exec("UPDATE rollup_state SET seq = 0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	if fresh := table(); fresh != migrated {
		t.Errorf("rollup_countries after the migration and a fold:\n%s\nafter a fold from scratch:\n%s", migrated, fresh)
	}
}

// TestDashboardSeries checks the series and countries of a small store
// by hand, from the rollups and from the events: requests, 4xx and
// 5xx, failed logins and the p95 latency per hour, and the countries,
// most first, with the events without one.
func TestDashboardSeries(t *testing.T) {
	ctx := context.Background()
	s := openAnalytics(t, "")
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-5 * time.Hour)
	at := func(h int, m int) time.Time { return h0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	req := func(t time.Time, status int, d time.Duration, geo activitylog.Geo) activitylog.Event {
		return activitylog.Event{ID: activitylog.NewID(t), Time: t, Kind: activitylog.KindRequest, Action: "GET", Severity: activitylog.SeverityInfo,
			Request:  activitylog.Request{Method: "GET", Path: "/x", Geo: geo},
			Response: activitylog.Response{Status: status, Duration: d}}
	}
	de := activitylog.Geo{CountryCode: "DE", Country: "Germany"}
	fr := activitylog.Geo{CountryCode: "FR", Country: "France"}
	es := []activitylog.Event{
		req(at(0, 1), 200, 10*time.Millisecond, de), req(at(0, 2), 404, 20*time.Millisecond, de), req(at(0, 3), 500, 0, fr),
		req(at(2, 1), 503, 100*time.Millisecond, de), req(at(2, 2), 200, 0, activitylog.Geo{}),
	}
	for _, m := range []int{5, 6, 7} {
		es = append(es, activitylog.Event{ID: activitylog.NewID(at(1, m)), Time: at(1, m), Kind: activitylog.KindAuth,
			Action: activitylog.ActionLoginFailed, Severity: activitylog.SeverityWarning, Request: activitylog.Request{Geo: fr}})
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	f := activitylog.Filter{From: h0, To: h0.Add(4 * time.Hour)}
	for _, fold := range []bool{false, true} {
		var d activitylog.Dashboard
		var err error
		if fold {
			d, err = s.Dashboard(ctx, f, nil)
		} else {
			d, err = lagging{s, t}.Dashboard(ctx, f, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		sr := d.Series
		for name, got := range map[string][]int64{"requests": sr.Requests, "errors_4xx": sr.Errors4xx, "errors_5xx": sr.Errors5xx, "failed_logins": sr.FailedLogins} {
			want := map[string][]int64{"requests": {3, 0, 2, 0}, "errors_4xx": {1, 0, 0, 0}, "errors_5xx": {1, 0, 1, 0}, "failed_logins": {0, 3, 0, 0}}[name]
			if !slices.Equal(got, want) {
				t.Errorf("fold %v: series %s = %v, want %v", fold, name, got, want)
			}
		}
		// Nearest rank: the 2nd of 2 (20 ms) in hour 0, the one of hour 2;
		// a bucket's end, up to 1/16 above.
		p := sr.LatencyP95
		if len(p) != 4 || p[0] < 20*time.Millisecond || p[0] > 21250*time.Microsecond || p[1] != 0 ||
			p[2] < 100*time.Millisecond || p[2] > 106250*time.Microsecond || p[3] != 0 {
			t.Errorf("fold %v: latency p95 per hour %v", fold, p)
		}
		want := []activitylog.CountryCount{{Code: "FR", Name: "France", Count: 4}, {Code: "DE", Name: "Germany", Count: 3}}
		if !slices.Equal(d.TopCountries, want) || d.NoCountry != 1 {
			t.Errorf("fold %v: countries %+v, no country %d; want %+v and 1", fold, d.TopCountries, d.NoCountry, want)
		}
		if ref, _ := (activitylog.ScanAnalyzer{Q: s}).Dashboard(ctx, f, nil); !slices.Equal(ref.TopCountries, want) {
			t.Errorf("reference countries %+v", ref.TopCountries)
		}
	}
}

// benchCountries are the countries benchDashEvent gives its events.
var benchCountries = [][2]string{{"DE", "Germany"}, {"FR", "France"}, {"US", "United States"}, {"JP", "Japan"},
	{"BR", "Brazil"}, {"IN", "India"}, {"GB", "United Kingdom"}, {"NL", "Netherlands"}, {"PL", "Poland"}, {"CA", "Canada"}}

// benchDashEvent is millionEvent with the geo an IP database gives: a
// country for nine in ten events (none for the rest).
func benchDashEvent(r *rand.Rand, t time.Time) activitylog.Event {
	e := millionEvent(r, t)
	if c := r.IntN(len(benchCountries) + 1); c < len(benchCountries) {
		e.Request.Geo = activitylog.Geo{CountryCode: benchCountries[c][0], Country: benchCountries[c][1]}
	}
	return e
}

// BenchmarkDashboard measures the dashboard (GET /api/v1/dashboard)
// over a store of 100,000 events spread over 30 days, 70% of them in
// the last 24 hours, folded into the rollups: the last 24 hours for
// every tenant and for one, the last 30 days, and the last 24 hours
// after 1000 new events (written untimed; their fold is timed).
func BenchmarkDashboard(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "dash.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(7, 11))
	now := time.Now()
	const n = 100_000
	batch := make([]activitylog.Event, 0, 5000)
	for i := range n {
		var at time.Time
		if i%10 < 7 {
			at = now.Add(-time.Duration(r.Int64N(int64(24 * time.Hour))))
		} else {
			at = now.Add(-24*time.Hour - time.Duration(r.Int64N(int64(29*24*time.Hour))))
		}
		batch = append(batch, benchDashEvent(r, at))
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.Write(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.Rollup(ctx); err != nil {
		b.Fatal(err)
	}
	cur := now.Truncate(time.Hour)
	day := activitylog.Filter{From: cur.Add(-23 * time.Hour), To: cur.Add(time.Hour)}
	tenant := day
	tenant.Tenant = "tenant-3"
	month := activitylog.Filter{From: cur.Add(-719 * time.Hour), To: cur.Add(time.Hour)}
	run := func(name string, f activitylog.Filter, before func(i int)) {
		b.Run(name, func(b *testing.B) {
			// cpu-ns/op is the process's CPU time in Dashboard calls,
			// which a busy machine disturbs less than the wall time.
			var cpu time.Duration
			for i := 0; b.Loop(); i++ {
				if before != nil {
					b.StopTimer()
					before(i)
					b.StartTimer()
				}
				c0 := cpuTime()
				d, err := s.Dashboard(ctx, f, nil)
				cpu += cpuTime() - c0
				if err != nil {
					b.Fatal(err)
				}
				if d.Total == 0 {
					b.Fatal("empty dashboard")
				}
			}
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	run("hours=24", day, nil)
	run("hours=24,tenant", tenant, nil)
	run("hours=720", month, nil)
	k := 0
	run("hours=24,1000new", day, func(int) {
		es := make([]activitylog.Event, 1000)
		for j := range es {
			es[j] = benchDashEvent(r, now.Add(time.Duration(k)*time.Microsecond))
			k++
		}
		if err := s.Write(ctx, es); err != nil {
			b.Fatal(err)
		}
	})
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
