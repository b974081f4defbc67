package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// RunAnalyzer runs the analytics suite against a store that implements
// activitylog.Analyzer, and skips it for one that does not (the API
// then uses activitylog.ScanAnalyzer, which the suite takes as its
// reference). open must return a fresh, empty store each time it is
// called, as for Run.
//
// Each test writes AnalyticsFixture and compares the store's answers
// with those of activitylog.ScanAnalyzer over the same store (which
// reads the events through Query, or Scan, that Run checks) for many
// windows, filters and options: windows on whole hours and across
// them, shorter than an hour, per tenant, without a tenant, one actor's
// events, other filters; Select's pages against the fixture itself,
// forwards and back; and the same *FieldError for refused arguments.
func RunAnalyzer(t *testing.T, open func(t *testing.T) activitylog.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s activitylog.Store, a activitylog.Analyzer)
	}{
		{"Dashboard", testDashboard},
		{"ErrorRates", testErrorRates},
		{"Suspects", testSuspects},
		{"Summary", testSummary},
		{"Select", testSelect},
		{"BadArguments", testAnalyzerBadArguments},
		{"Empty", testAnalyzerEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			a, ok := s.(activitylog.Analyzer)
			if !ok {
				t.Skipf("%T does not implement activitylog.Analyzer", s)
			}
			tc.test(t, s, a)
		})
	}
}

// AnalyticsBase is the time of AnalyticsEvent(0): 40 hours before the
// hour in which the package was loaded, plus 17 minutes, so that the
// fixture's events lie in the past, across some 40 hours, and
// windows of whole hours begin and end among them.
var AnalyticsBase = time.Now().UTC().Truncate(time.Hour).Add(-40*time.Hour + 17*time.Minute)

// AnalyticsInterval is the time between AnalyticsEvent(i) and i+1.
const AnalyticsInterval = 13 * time.Minute

var (
	analyticsKinds = []activitylog.Kind{
		activitylog.KindRequest, activitylog.KindAuth, activitylog.KindRequest, activitylog.KindCRUD,
		activitylog.KindSystem, activitylog.KindRequest, activitylog.KindExternal, activitylog.KindAuth,
		activitylog.KindRequest, activitylog.KindCustom, activitylog.KindCRUD,
	}
	authActions   = []string{"login", "login_failed", "login_failed", "logout", "blocked", "login_failed", "login_failed"}
	systemActions = []string{"error", "warning", "error", "security", "performance"}
	usernames     = []string{"Ann", " ann", "BOB", "bob ", "Carl", "ÅSA", "åsa"}
	clientIPs     = []string{"203.0.113.1", "203.0.113.2", "2001:db8::1", "198.51.100.7", "192.0.2.1"}
	routeStatuses = []int{200, 201, 404, 500, 200, 503, 302, 400, 0, 200, 429}
	// Countries with a code and a name, with another name for the same
	// code, a code alone, a name alone, and none.
	analyticsGeos = []activitylog.Geo{
		{CountryCode: "DE", Country: "Germany", City: "Berlin"}, {}, {CountryCode: "FR", Country: "France"},
		{CountryCode: "DE", Country: "Deutschland"}, {Country: "Atlantis"}, {CountryCode: "US"},
		{CountryCode: "DE", Country: "Germany"}, {CountryCode: "CI", Country: "Côte d'Ivoire"}, {},
	}
)

// AnalyticsEvent returns event number i of the analytics fixture:
// valid, at AnalyticsBase + i*AnalyticsInterval plus some nanoseconds,
// with kinds, actions, tenants, actors, client addresses, routes (and
// paths without a route), statuses, durations from none to seconds,
// countries (request.geo; some events without one) and severities that
// cycle with different periods. Failed logins
// carry usernames that differ in case and spaces only, and the user
// they were meant for as their object, as activitylog.AuthEvent records
// them.
func AnalyticsEvent(i int) activitylog.Event {
	t := AnalyticsBase.Add(time.Duration(i)*AnalyticsInterval + time.Duration(i*7919%1000))
	k := analyticsKinds[i%len(analyticsKinds)]
	e := activitylog.Event{
		ID:       activitylog.NewID(t),
		Time:     t,
		Kind:     k,
		Severity: activitylog.SeverityInfo,
		Tenant:   []string{"acme", "globex", "", "acme", "initech"}[i%5],
		Actor: activitylog.Actor{
			ID:   fmt.Sprintf("u%d", i%7),
			Name: fmt.Sprintf("User %d v%d", i%7, i/60), // names change over time
			Type: activitylog.ActorUser,
		},
		Request: activitylog.Request{
			Method:   "GET",
			Path:     fmt.Sprintf("/orders/%d", i%6),
			Route:    []string{"GET /orders/{id}", "", "POST /orders", "GET /orders/{id}"}[i%4],
			RemoteIP: clientIPs[i%len(clientIPs)],
		},
	}
	if i%9 == 8 {
		e.Actor = activitylog.Actor{}
	}
	e.Request.Geo = analyticsGeos[(i/2)%len(analyticsGeos)]
	if i%11 == 10 {
		e.Request.RemoteIP = ""
	}
	switch k {
	case activitylog.KindRequest, activitylog.KindExternal:
		e.Action = e.Request.Method
		e.Response.Status = routeStatuses[(i/2)%len(routeStatuses)]
		// From none to seconds, many of them in the same buckets.
		e.Response.Duration = []time.Duration{0, 17 * time.Microsecond, 850 * time.Microsecond, 12 * time.Millisecond,
			12*time.Millisecond + 300*time.Microsecond, 95 * time.Millisecond, 1200 * time.Millisecond, 3 * time.Second,
			40 * time.Millisecond}[(i/3)%9] + time.Duration(i)*time.Microsecond
	case activitylog.KindAuth:
		e.Action = authActions[(i/7)%len(authActions)]
		if e.Action == activitylog.ActionLoginFailed || e.Action == activitylog.ActionBlocked {
			e.Severity = activitylog.SeverityWarning
			e.Actor = activitylog.Actor{Type: activitylog.ActorAnonymous}
			e.Extra = map[string]any{"username": usernames[(i/3)%len(usernames)]}
			if i%4 == 1 {
				e.Extra["username"] = float64(i) // not a string: not a username
			}
		}
		e.Object = activitylog.Object{Type: "user", ID: []string{"u1", "u2", "u3"}[i%3]}
	case activitylog.KindCRUD:
		e.Action = []string{"create", "update", "delete", "read", "update"}[(i/3)%5]
		e.Object = activitylog.Object{Type: "order", ID: fmt.Sprint(i % 6)}
	case activitylog.KindSystem:
		e.Action = systemActions[(i/11)%len(systemActions)]
		e.Severity = []activitylog.Severity{activitylog.SeverityError, activitylog.SeverityWarning,
			activitylog.SeverityCritical, activitylog.SeverityNotice}[(i/2)%4]
	default:
		e.Action = "ping"
	}
	return e
}

// AnalyticsFixture returns AnalyticsEvent(0) to AnalyticsEvent(n-1), in
// a shuffled order.
func AnalyticsFixture(n int) []activitylog.Event {
	out := make([]activitylog.Event, 0, n)
	for i := n - 1; i >= 0; i -= 2 {
		out = append(out, AnalyticsEvent(i))
	}
	for i := n - 2 + n%2; i >= 0; i -= 2 {
		out = append(out, AnalyticsEvent(i))
	}
	return out
}

// analyticsN is the size of the fixture the tests write: 180 events,
// 39 hours.
const analyticsN = 180

// hour returns the start of the h-th whole hour after AnalyticsBase.
func hour(h int) time.Time {
	return AnalyticsBase.Truncate(time.Hour).Add(time.Duration(h) * time.Hour)
}

// windows are the filters the aggregations are checked over.
func windows() []activitylog.Filter {
	last := AnalyticsEvent(analyticsN - 1).Time
	return []activitylog.Filter{
		{From: hour(1), To: hour(25)},                                            // whole hours
		{From: hour(1).Add(7 * time.Minute), To: hour(25).Add(-5 * time.Minute)}, // across hours
		{From: AnalyticsBase, To: last.Add(1)},                                   // everything
		{From: hour(3).Add(10 * time.Minute), To: hour(3).Add(50 * time.Minute)}, // within an hour
		{From: hour(2), To: hour(3)},                                             // one hour
		{From: hour(30)},                                                         // open end
		{From: hour(1), To: hour(25), Tenant: "acme"},
		{From: hour(1).Add(time.Minute), To: hour(40), Tenant: "globex"},
		{From: hour(1), To: hour(25), NoTenant: true},
		{From: hour(1), To: hour(25), Tenant: "nobody"},
		{From: hour(1), To: hour(25), ActorID: "u3"},
		{From: hour(1), To: hour(25), ActorID: "u3", Tenant: "acme"},
		{From: hour(1), To: hour(25), Kind: activitylog.KindRequest},
		{From: hour(1), To: hour(25), RemoteIP: "2001:db8::1"},
		{From: hour(1), To: hour(30), Search: "orders/3", StatusMin: 400},
	}
}

// sameJSON reports whether a and b encode to the same JSON, which is
// what the API answers, and fails t with both when they do not.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func testDashboard(t *testing.T, s activitylog.Store, a activitylog.Analyzer) {
	write(t, s, AnalyticsFixture(analyticsN))
	ref := activitylog.ScanAnalyzer{Q: s}
	opts := []*activitylog.DashboardOptions{
		nil,
		{Top: 3},
		{Bucket: 2 * time.Hour},
		{Bucket: 24 * time.Hour, Top: 1},
		{Bucket: 30 * time.Minute},
		{Bucket: 7 * time.Minute, Top: 100},
	}
	nonEmpty, withCountries, withLatency := 0, 0, 0
	for _, f := range windows() {
		if f.From.IsZero() {
			f.From = hour(0)
		}
		if f.To.IsZero() {
			f.To = hour(41) // Dashboard's To defaults to now; keep it fixed
		}
		for _, o := range opts {
			got, err := a.Dashboard(ctx, f, o)
			if err != nil {
				t.Fatalf("Dashboard(%+v, %+v): %v", f, o, err)
			}
			want, err := ref.Dashboard(ctx, f, o)
			if err != nil {
				t.Fatalf("reference Dashboard(%+v, %+v): %v", f, o, err)
			}
			sameJSON(t, fmt.Sprintf("Dashboard(%+v, %+v)", f, o), got, want)
			if want.Total > 0 {
				nonEmpty++
			}
			if len(want.TopCountries) > 0 {
				withCountries++
			}
			if slices.ContainsFunc(want.Series.LatencyP95, func(d time.Duration) bool { return d > 0 }) {
				withLatency++
			}
		}
	}
	if nonEmpty < 40 || withCountries < 40 || withLatency < 30 {
		t.Errorf("only %d of the dashboards counted anything, %d countries, %d latencies per bucket: the suite's windows miss the fixture",
			nonEmpty, withCountries, withLatency)
	}
}

func testErrorRates(t *testing.T, s activitylog.Store, a activitylog.Analyzer) {
	write(t, s, AnalyticsFixture(analyticsN))
	ref := activitylog.ScanAnalyzer{Q: s}
	for _, f := range windows() {
		for _, limit := range []int{0, 2} {
			got, err := a.ErrorRates(ctx, f, limit)
			if err != nil {
				t.Fatalf("ErrorRates(%+v, %d): %v", f, limit, err)
			}
			want, err := ref.ErrorRates(ctx, f, limit)
			if err != nil {
				t.Fatalf("reference ErrorRates(%+v, %d): %v", f, limit, err)
			}
			sameJSON(t, fmt.Sprintf("ErrorRates(%+v, %d)", f, limit), got, want)
		}
	}
	r, err := a.ErrorRates(ctx, activitylog.Filter{}, 0)
	if err != nil || r.Requests == 0 || len(r.Routes) < 2 || r.Errors4xx == 0 || r.Errors5xx == 0 {
		t.Errorf("ErrorRates over the fixture = %+v, %v; want requests, routes, 4xx and 5xx", r, err)
	}
}

func testSuspects(t *testing.T, s activitylog.Store, a activitylog.Analyzer) {
	write(t, s, AnalyticsFixture(analyticsN))
	ref := activitylog.ScanAnalyzer{Q: s}
	fs := append(windows(), activitylog.Filter{}, activitylog.Filter{Action: "login"},
		activitylog.Filter{Kind: activitylog.KindAuth, Action: activitylog.ActionLoginFailed, Tenant: "acme"})
	for _, f := range fs {
		for _, threshold := range []int{1, 2, 3, 5} {
			got, err := a.Suspects(ctx, f, threshold)
			if err != nil {
				t.Fatalf("Suspects(%+v, %d): %v", f, threshold, err)
			}
			want, err := ref.Suspects(ctx, f, threshold)
			if err != nil {
				t.Fatalf("reference Suspects(%+v, %d): %v", f, threshold, err)
			}
			sameJSON(t, fmt.Sprintf("Suspects(%+v, %d)", f, threshold), got, want)
		}
	}
	all, err := a.Suspects(ctx, activitylog.Filter{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	var ann, asa bool
	for _, o := range all {
		ann = ann || o.Type == activitylog.OffenderUsername && o.Key == "ann"
		asa = asa || o.Type == activitylog.OffenderUsername && o.Key == "åsa"
	}
	if !ann || !asa {
		t.Errorf("Suspects over the fixture = %+v; want the usernames ann and åsa, lowered and trimmed", all)
	}
}

func testSummary(t *testing.T, s activitylog.Store, a activitylog.Analyzer) {
	es := AnalyticsFixture(analyticsN)
	write(t, s, es)
	if r, ok := s.(activitylog.Resolver); ok {
		// Resolve some of the events that need it.
		n := 0
		for i := range es {
			if activitylog.NeedsResolution(es[i].Severity) && es[i].Actor.ID != "" && i%2 == 0 {
				resolve(t, r, activitylog.Resolution{EventID: es[i].ID, ResolvedBy: "ops"})
				n++
			}
		}
		if n == 0 {
			t.Fatal("the fixture has no event to resolve")
		}
	}
	ref := activitylog.ScanAnalyzer{Q: s}
	fs := append(windows(), activitylog.Filter{}, activitylog.Filter{ActorID: "u2"},
		activitylog.Filter{Kind: activitylog.KindAuth}, activitylog.Filter{ObjectType: "order"})
	for _, f := range fs {
		for _, user := range []string{"u1", "u2", "u3", "u4", "nobody"} {
			got, err := a.Summary(ctx, f, user)
			if err != nil {
				t.Fatalf("Summary(%+v, %q): %v", f, user, err)
			}
			want, err := ref.Summary(ctx, f, user)
			if err != nil {
				t.Fatalf("reference Summary(%+v, %q): %v", f, user, err)
			}
			sameJSON(t, fmt.Sprintf("Summary(%+v, %q)", f, user), got, want)
		}
	}
	sum, err := a.Summary(ctx, activitylog.Filter{}, "u2")
	if err != nil || sum.Total == 0 || sum.FailedLogins == 0 || sum.Creates+sum.Updates == 0 {
		t.Errorf("Summary of u2 = %+v, %v; want actions and failed logins", sum, err)
	}
}

func testSelect(t *testing.T, s activitylog.Store, a activitylog.Analyzer) {
	es := AnalyticsFixture(analyticsN)
	write(t, s, es)
	for _, tc := range []struct {
		f activitylog.Filter
		c activitylog.Condition
	}{
		{activitylog.Filter{Kind: activitylog.KindRequest}, activitylog.Condition{MinDuration: 12 * time.Millisecond}},
		{activitylog.Filter{Kind: activitylog.KindRequest, Ordering: "-duration"}, activitylog.Condition{MinDuration: time.Second}},
		{activitylog.Filter{Ordering: "duration"}, activitylog.Condition{MinDuration: 40 * time.Millisecond}},
		{activitylog.Filter{Ordering: "time", Tenant: "acme"}, activitylog.Condition{MinDuration: time.Microsecond}},
		{activitylog.Filter{Kind: activitylog.KindSystem, Severity: activitylog.SeverityCritical}, activitylog.Condition{}},
		{activitylog.Filter{Kind: activitylog.KindRequest, ActorID: "u3"}, activitylog.Condition{MinDuration: time.Hour}},
	} {
		c := tc.c
		w := want(t, es, tc.f)
		w = slices.DeleteFunc(w, func(e activitylog.Event) bool { return !c.Match(&e) })

		// Forwards through Next, 4 at a time, then back through Prev.
		f := tc.f
		f.PageSize = 4
		var pages [][]activitylog.Event
		var last activitylog.Page
		for len(pages) < 1000 {
			p, err := a.Select(ctx, f, c)
			if err != nil {
				t.Fatalf("Select(%+v, %+v): %v", f, c, err)
			}
			pages, last = append(pages, p.Events), p
			if p.Next == "" {
				break
			}
			f.Cursor = p.Next
		}
		if got := slices.Concat(pages...); !slices.Equal(ids(got), ids(w)) {
			t.Errorf("Select(%+v, %+v) forwards:\n got %v\nwant %v", tc.f, c, ids(got), ids(w))
		}
		for i := len(pages) - 2; i >= 0 && last.Prev != ""; i-- {
			f.Cursor = last.Prev
			p, err := a.Select(ctx, f, c)
			if err != nil {
				t.Fatalf("Select(%+v, %+v) back: %v", f, c, err)
			}
			if !slices.Equal(ids(p.Events), ids(pages[i])) {
				t.Errorf("Select(%+v, %+v) back to page %d:\n got %v\nwant %v", tc.f, c, i+1, ids(p.Events), ids(pages[i]))
			}
			last = p
		}
		// Offset paging.
		f = tc.f
		f.PageSize, f.Page = 3, 2
		p, err := a.Select(ctx, f, c)
		if err != nil {
			t.Fatalf("Select(%+v, %+v): %v", f, c, err)
		}
		if lo := min(3, len(w)); !slices.Equal(ids(p.Events), ids(w[lo:min(6, len(w))])) {
			t.Errorf("Select(%+v, %+v) page 2: got %v, want %v", f, c, ids(p.Events), ids(w[lo:min(6, len(w))]))
		}
		for _, limit := range []int64{0, 1, 5, 1000} {
			n, err := a.CountSelect(ctx, tc.f, c, limit)
			wantN := int64(len(w))
			if limit > 0 {
				wantN = min(wantN, limit)
			}
			if err != nil || n != wantN {
				t.Errorf("CountSelect(%+v, %+v, %d) = %d, %v; want %d", tc.f, c, limit, n, err, wantN)
			}
		}
	}
}

func testAnalyzerBadArguments(t *testing.T, s activitylog.Store, a activitylog.Analyzer) {
	write(t, s, AnalyticsFixture(20))
	ref := activitylog.ScanAnalyzer{Q: s}
	win := activitylog.Filter{From: hour(1), To: hour(3)}
	for _, tc := range []struct {
		name  string
		field string
		call  func(a activitylog.Analyzer) error
	}{
		{"dashboard without a start", "date_from", func(a activitylog.Analyzer) error {
			_, err := a.Dashboard(ctx, activitylog.Filter{To: hour(3)}, nil)
			return err
		}},
		{"dashboard with too many buckets", "bucket", func(a activitylog.Analyzer) error {
			_, err := a.Dashboard(ctx, activitylog.Filter{From: hour(0), To: hour(0).Add(100 * 24 * time.Hour)}, &activitylog.DashboardOptions{Bucket: time.Minute})
			return err
		}},
		{"dashboard with a bucket below a second", "bucket", func(a activitylog.Analyzer) error {
			_, err := a.Dashboard(ctx, win, &activitylog.DashboardOptions{Bucket: time.Millisecond})
			return err
		}},
		{"dashboard with a negative top", "top", func(a activitylog.Analyzer) error {
			_, err := a.Dashboard(ctx, win, &activitylog.DashboardOptions{Top: -1})
			return err
		}},
		{"dashboard with a bad filter", "page_size", func(a activitylog.Analyzer) error {
			_, err := a.Dashboard(ctx, activitylog.Filter{From: hour(1), PageSize: -1}, nil)
			return err
		}},
		{"error rates with a bad limit", "limit", func(a activitylog.Analyzer) error {
			_, err := a.ErrorRates(ctx, win, activitylog.MaxErrorRoutes+1)
			return err
		}},
		{"suspects with threshold 0", "threshold", func(a activitylog.Analyzer) error {
			_, err := a.Suspects(ctx, win, 0)
			return err
		}},
		{"suspects with a bad filter", "remote_ip", func(a activitylog.Analyzer) error {
			_, err := a.Suspects(ctx, activitylog.Filter{RemoteIP: "nope"}, 3)
			return err
		}},
		{"summary without a user", "user_id", func(a activitylog.Analyzer) error {
			_, err := a.Summary(ctx, win, "")
			return err
		}},
		{"select with a negative duration", "threshold_ms", func(a activitylog.Analyzer) error {
			_, err := a.Select(ctx, win, activitylog.Condition{MinDuration: -time.Second})
			return err
		}},
		{"select with a bad ordering", "ordering", func(a activitylog.Analyzer) error {
			_, err := a.Select(ctx, activitylog.Filter{Ordering: "nope"}, activitylog.Condition{})
			return err
		}},
		{"count with a bad filter", "kind", func(a activitylog.Analyzer) error {
			_, err := a.CountSelect(ctx, activitylog.Filter{Kind: "nope"}, activitylog.Condition{}, 0)
			return err
		}},
	} {
		for _, x := range []struct {
			who string
			a   activitylog.Analyzer
		}{{"store", a}, {"reference", ref}} {
			err := tc.call(x.a)
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, activitylog.ErrInvalid) || fe.Field != tc.field {
				t.Errorf("%s: %s: err = %v, want a *FieldError naming %s", tc.name, x.who, err, tc.field)
			}
		}
	}
}

func testAnalyzerEmpty(t *testing.T, s activitylog.Store, a activitylog.Analyzer) {
	ref := activitylog.ScanAnalyzer{Q: s}
	f := activitylog.Filter{From: hour(1), To: hour(25)}
	got, err := a.Dashboard(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ref.Dashboard(ctx, f, nil)
	sameJSON(t, "Dashboard of an empty store", got, want)
	if got.Total != 0 || len(got.Series.Start) != 24 || got.TopUsers == nil || got.TopRoutes == nil {
		t.Errorf("Dashboard of an empty store = %+v; want zeros, 24 buckets, empty lists", got)
	}
	r, err := a.ErrorRates(ctx, f, 0)
	if err != nil || r.Requests != 0 || r.Routes == nil {
		t.Errorf("ErrorRates of an empty store = %+v, %v", r, err)
	}
	o, err := a.Suspects(ctx, f, 1)
	if err != nil || o == nil || len(o) != 0 {
		t.Errorf("Suspects of an empty store = %#v, %v; want an empty, non-nil slice", o, err)
	}
}
