package activitylog_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// memQuerier is the simplest Querier with keyset paging: the events in
// a slice, filtered and sorted on every query.
type memQuerier struct {
	events []activitylog.Event
	res    map[activitylog.ID]bool // resolved events, when it is a Resolver
}

func (q *memQuerier) sorted(f activitylog.Filter) []activitylog.Event {
	var out []activitylog.Event
	for i := range q.events {
		if f.Match(&q.events[i]) {
			out = append(out, q.events[i])
		}
	}
	slices.SortFunc(out, func(a, b activitylog.Event) int { return cmpEvents(f, &a, &b) })
	return out
}

func cmpEvents(f activitylog.Filter, a, b *activitylog.Event) int {
	ai, as := activitylog.OrderingValue(a, f.Field())
	bi, bs := activitylog.OrderingValue(b, f.Field())
	c := 0
	switch {
	case ai != bi:
		c = map[bool]int{true: -1, false: 1}[ai < bi]
	case as != bs:
		c = strings.Compare(as, bs)
	default:
		c = slices.Compare(a.ID[:], b.ID[:])
	}
	if f.Descending() {
		return -c
	}
	return c
}

func (q *memQuerier) Query(_ context.Context, f activitylog.Filter) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	es := q.sorted(f)
	if f.Cursor == "" {
		lo := min((f.Page-1)*f.PageSize, len(es))
		hi := min(lo+f.PageSize, len(es))
		return activitylog.PageOf(f, es[lo:hi], false, false, hi < len(es)), nil
	}
	c, err := activitylog.DecodeCursor(f.Cursor)
	if err != nil {
		return activitylog.Page{}, err
	}
	// The position of the cursor's event: its id is enough here.
	at := slices.IndexFunc(es, func(e activitylog.Event) bool { return e.ID == c.ID })
	if c.Before {
		lo := max(0, at-f.PageSize)
		return activitylog.PageOf(f, es[lo:at], true, true, lo > 0), nil
	}
	hi := min(at+1+f.PageSize, len(es))
	return activitylog.PageOf(f, es[at+1:hi], true, false, hi < len(es)), nil
}

func (q *memQuerier) Get(_ context.Context, id activitylog.ID) (activitylog.Event, error) {
	for _, e := range q.events {
		if e.ID == id {
			return e, nil
		}
	}
	return activitylog.Event{}, activitylog.ErrNotFound
}

func (q *memQuerier) Count(_ context.Context, f activitylog.Filter) (int64, error) {
	f, err := f.Normalize(time.Now())
	return int64(len(q.sorted(f))), err
}

// resolvingQuerier is a memQuerier that is a Resolver.
type resolvingQuerier struct{ *memQuerier }

func (q resolvingQuerier) Resolve(_ context.Context, r activitylog.Resolution) error {
	q.res[r.EventID] = true
	return nil
}

func (q resolvingQuerier) Resolution(_ context.Context, id activitylog.ID) (activitylog.Resolution, error) {
	if q.res[id] {
		return activitylog.Resolution{EventID: id, ResolvedBy: "ops"}, nil
	}
	return activitylog.Resolution{}, activitylog.ErrNotResolved
}

// t0 is on the hour, so that the tests' buckets are easy to count.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration, e activitylog.Event) activitylog.Event {
	e.Time = t0.Add(d)
	e.ID = activitylog.NewID(e.Time)
	if e.Severity == "" {
		e.Severity = activitylog.SeverityInfo
	}
	return e
}

func request(actor, route, path string, status int, d time.Duration, ip string) activitylog.Event {
	return activitylog.Event{Kind: activitylog.KindRequest, Action: "GET", Actor: activitylog.Actor{ID: actor, Name: strings.ToUpper(actor)},
		Request:  activitylog.Request{Route: route, Path: path, RemoteIP: ip},
		Response: activitylog.Response{Status: status, Duration: d}}
}

func failedLoginFor(username, ip, user string) activitylog.Event {
	e := activitylog.AuthEvent(activitylog.ActionLoginFailed, activitylog.Login{Username: username, IP: ip, UserID: user})
	e.Request.RemoteIP = ip
	e.Severity = activitylog.SeverityWarning
	return e
}

// analyticsEvents: 4 requests, 3 failed logins, a login, 2 crud, a
// critical system error; over three hours from t0.
func analyticsEvents() []activitylog.Event {
	return []activitylog.Event{
		at(0, request("ann", "GET /a/{id}", "/a/1", 200, 2*time.Millisecond, "192.0.2.1")),
		at(10*time.Minute, request("ann", "GET /a/{id}", "/a/2", 404, 3*time.Millisecond, "192.0.2.1")),
		at(70*time.Minute, request("bob", "", "/b", 502, 900*time.Millisecond, "192.0.2.2")),
		at(150*time.Minute, request("bob", "", "/b", 200, 0, "192.0.2.2")), // no duration: not in the latency
		at(20*time.Minute, failedLoginFor("Ann", "198.51.100.9", "ann")),
		at(21*time.Minute, failedLoginFor(" ANN ", "198.51.100.9", "ann")),
		at(80*time.Minute, failedLoginFor("bob", "198.51.100.9", "")),
		at(30*time.Minute, activitylog.Event{Kind: activitylog.KindAuth, Action: "login", Actor: activitylog.Actor{ID: "ann", Name: "Ann B."}}),
		at(40*time.Minute, activitylog.Event{Kind: activitylog.KindCRUD, Action: "create", Actor: activitylog.Actor{ID: "ann", Name: "Ann"}}),
		at(41*time.Minute, activitylog.Event{Kind: activitylog.KindCRUD, Action: "update", Actor: activitylog.Actor{ID: "ann", Name: "Ann"}}),
		at(100*time.Minute, activitylog.Event{Kind: activitylog.KindSystem, Action: "error", Severity: activitylog.SeverityCritical, Actor: activitylog.Actor{ID: "ann"}}),
	}
}

func TestScanAnalyzerDashboard(t *testing.T) {
	t.Parallel()
	q := &memQuerier{events: analyticsEvents()}
	a := activitylog.AnalyzerFor(q)
	if _, ok := a.(activitylog.ScanAnalyzer); !ok {
		t.Fatalf("AnalyzerFor(a plain Querier) = %T, want a ScanAnalyzer", a)
	}
	d, err := a.Dashboard(context.Background(), activitylog.Filter{From: t0, To: t0.Add(3 * time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"total": 11, "failed": 3, "ips": 3, "requests": 4, "4xx": 1, "5xx": 1}
	got := map[string]int64{"total": d.Total, "failed": d.FailedLogins, "ips": d.UniqueIPs, "requests": d.Requests, "4xx": d.Errors4xx, "5xx": d.Errors5xx}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %d, want %d", k, got[k], w)
		}
	}
	if d.Kinds[activitylog.KindRequest] != 4 || d.Kinds[activitylog.KindAuth] != 4 || d.Kinds[activitylog.KindCRUD] != 2 ||
		d.Kinds[activitylog.KindSystem] != 1 || d.Kinds[activitylog.KindCORS] != 0 || len(d.Kinds) != len(activitylog.Kinds) {
		t.Errorf("Kinds = %v", d.Kinds)
	}
	if d.ErrorRate != 0.5 {
		t.Errorf("ErrorRate = %v, want 0.5", d.ErrorRate)
	}
	// Durations 2ms, 3ms, 900ms: p50 is 3ms's bucket, p95 900ms's.
	if d.LatencyP50 != activitylog.LatencyBucketEnd(activitylog.LatencyBucket(3*time.Millisecond)) ||
		d.LatencyP95 != activitylog.LatencyBucketEnd(activitylog.LatencyBucket(900*time.Millisecond)) {
		t.Errorf("latency p50 %v, p95 %v", d.LatencyP50, d.LatencyP95)
	}
	wantUsers := []activitylog.UserCount{{ID: "ann", Name: "", Count: 6}, {ID: "bob", Name: "BOB", Count: 2}}
	if !slices.Equal(d.TopUsers, wantUsers) {
		t.Errorf("TopUsers = %+v, want %+v (ann's latest event, the system error, has no name)", d.TopUsers, wantUsers)
	}
	wantRoutes := []activitylog.RouteCount{{Route: "/b", Requests: 2, Errors: 1}, {Route: "GET /a/{id}", Requests: 2, Errors: 1}}
	if !slices.Equal(d.TopRoutes, wantRoutes) {
		t.Errorf("TopRoutes = %+v, want %+v", d.TopRoutes, wantRoutes)
	}
	if d.Bucket != time.Hour || len(d.Series.Start) != 3 || !d.Series.Start[0].Equal(t0) {
		t.Errorf("series: bucket %v, starts %v", d.Bucket, d.Series.Start)
	}
	if got := d.Series.Counts[activitylog.KindRequest]; !slices.Equal(got, []int64{2, 1, 1}) {
		t.Errorf("requests per hour = %v, want [2 1 1]", got)
	}
	if got := d.Series.Counts[activitylog.KindAuth]; !slices.Equal(got, []int64{3, 1, 0}) {
		t.Errorf("auth per hour = %v, want [3 1 0]", got)
	}

	// A window that starts within a bucket: the first bucket starts on
	// the hour, and counts only the window's events.
	d, err = a.Dashboard(context.Background(), activitylog.Filter{From: t0.Add(15 * time.Minute), To: t0.Add(2 * time.Hour)},
		&activitylog.DashboardOptions{Bucket: 30 * time.Minute, Top: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Series.Start[0].Equal(t0) || len(d.Series.Start) != 4 || d.Total != 8 || len(d.TopUsers) != 1 || len(d.TopRoutes) != 1 {
		t.Errorf("dashboard from 10:15 in 30 min buckets: %+v", d)
	}
	if got := d.Series.Counts[activitylog.KindAuth]; !slices.Equal(got, []int64{2, 1, 1, 0}) {
		t.Errorf("auth per 30 min = %v, want [2 1 1 0]", got)
	}
}

func TestScanAnalyzerErrorRates(t *testing.T) {
	t.Parallel()
	a := activitylog.ScanAnalyzer{Q: &memQuerier{events: analyticsEvents()}}
	r, err := a.ErrorRates(context.Background(), activitylog.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 4 || r.Errors4xx != 1 || r.Errors5xx != 1 || r.ErrorRate != 0.5 || r.Rate4xx != 0.25 || len(r.Routes) != 2 || r.Truncated {
		t.Fatalf("ErrorRates = %+v", r)
	}
	if b := r.Routes[0]; b.Route != "/b" || b.Requests != 2 || b.Errors5xx != 1 || b.Rate5xx != 0.5 ||
		!slices.Equal(b.Statuses, []activitylog.StatusCount{{Status: 502, Count: 1}}) {
		t.Errorf("route /b = %+v", b)
	}
	r, _ = a.ErrorRates(context.Background(), activitylog.Filter{}, 1)
	if len(r.Routes) != 1 || !r.Truncated {
		t.Errorf("ErrorRates(limit 1) = %+v, want one route, truncated", r)
	}
}

func TestScanAnalyzerSuspects(t *testing.T) {
	t.Parallel()
	a := activitylog.ScanAnalyzer{Q: &memQuerier{events: analyticsEvents()}}
	got, err := a.Suspects(context.Background(), activitylog.Filter{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []activitylog.Offender{
		{Type: "ip", Key: "198.51.100.9", Failures: 3, First: t0.Add(20 * time.Minute), Last: t0.Add(80 * time.Minute)},
		{Type: "username", Key: "ann", Failures: 2, First: t0.Add(20 * time.Minute), Last: t0.Add(21 * time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("Suspects = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Type != want[i].Type || got[i].Key != want[i].Key || got[i].Failures != want[i].Failures ||
			!got[i].First.Equal(want[i].First) || !got[i].Last.Equal(want[i].Last) {
			t.Errorf("suspect %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, _ := a.Suspects(context.Background(), activitylog.Filter{Kind: activitylog.KindCRUD}, 1); len(got) != 0 || got == nil {
		t.Errorf("Suspects among crud events = %#v, want an empty list", got)
	}
}

func TestScanAnalyzerSummary(t *testing.T) {
	t.Parallel()
	q := &memQuerier{events: analyticsEvents(), res: map[activitylog.ID]bool{}}
	for _, tc := range []struct {
		name string
		q    activitylog.Querier
		f    activitylog.Filter
		want activitylog.Summary
	}{
		{"not a resolver", q, activitylog.Filter{}, activitylog.Summary{Total: 6, Creates: 1, Updates: 1, Logins: 1, FailedLogins: 2, SystemErrors: 1, Unresolved: 1}},
		{"resolver", resolvingQuerier{q}, activitylog.Filter{}, activitylog.Summary{Total: 6, Creates: 1, Updates: 1, Logins: 1, FailedLogins: 2, SystemErrors: 1, Unresolved: 0}},
		{"held to ann's own events", q, activitylog.Filter{ActorID: "ann"}, activitylog.Summary{Total: 6, Creates: 1, Updates: 1, Logins: 1, SystemErrors: 1, Unresolved: 1}},
		{"held to another's events", q, activitylog.Filter{ActorID: "bob"}, activitylog.Summary{}},
		{"a window", q, activitylog.Filter{From: t0.Add(21 * time.Minute), To: t0.Add(41 * time.Minute)}, activitylog.Summary{Total: 2, Creates: 1, Logins: 1, FailedLogins: 1}},
	} {
		if tc.name == "resolver" {
			for _, e := range q.events {
				if e.Kind == activitylog.KindSystem {
					q.res[e.ID] = true
				}
			}
		}
		got, err := activitylog.ScanAnalyzer{Q: tc.q}.Summary(context.Background(), tc.f, "ann")
		if err != nil {
			t.Fatal(err)
		}
		tc.want.UserID, tc.want.From, tc.want.To = "ann", tc.f.From, tc.f.To
		if got != tc.want {
			t.Errorf("%s: Summary = %+v, want %+v", tc.name, got, tc.want)
		}
		clear(q.res)
	}
}

func TestScanAnalyzerSelect(t *testing.T) {
	t.Parallel()
	var es []activitylog.Event
	for i := range 40 {
		es = append(es, at(time.Duration(i)*time.Minute, request("ann", "", "/x", 200, time.Duration(i%7)*time.Millisecond, "")))
	}
	a := activitylog.ScanAnalyzer{Q: &memQuerier{events: es}}
	c := activitylog.Condition{MinDuration: 4 * time.Millisecond} // i%7 in 4, 5, 6: 17 events
	var want []activitylog.ID
	for i := 39; i >= 0; i-- {
		if i%7 >= 4 {
			want = append(want, es[i].ID)
		}
	}
	ctx := context.Background()
	n, err := a.CountSelect(ctx, activitylog.Filter{}, c, 0)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("CountSelect = %d, %v; want %d", n, err, len(want))
	}
	if n, _ := a.CountSelect(ctx, activitylog.Filter{}, c, 5); n != 5 {
		t.Errorf("CountSelect up to 5 = %d", n)
	}
	f := activitylog.Filter{PageSize: 5}
	var got []activitylog.ID
	var pages []activitylog.Page
	for {
		p, err := a.Select(ctx, f, c)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		for _, e := range p.Events {
			got = append(got, e.ID)
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	if !slices.Equal(got, want) || len(pages) != 4 {
		t.Fatalf("Select forwards: %d pages, %v, want %v", len(pages), got, want)
	}
	f.Cursor = pages[3].Prev
	p, err := a.Select(ctx, f, c)
	if err != nil || len(p.Events) != 5 || p.Events[0].ID != want[10] || p.Prev == "" {
		t.Errorf("Select back from the last page: %+v, %v", p, err)
	}
	p, err = a.Select(ctx, activitylog.Filter{PageSize: 5, Page: 2}, c)
	if err != nil || len(p.Events) != 5 || p.Events[0].ID != want[5] {
		t.Errorf("Select page 2: %+v, %v", p, err)
	}
}

func TestLatencyBuckets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d   time.Duration
		b   int
		end time.Duration
	}{
		{0, 0, time.Microsecond},
		{999, 0, time.Microsecond},
		{31 * time.Microsecond, 31, 32 * time.Microsecond},
		{32 * time.Microsecond, 32, 34 * time.Microsecond},
		{33 * time.Microsecond, 32, 34 * time.Microsecond},
		{63 * time.Microsecond, 47, 64 * time.Microsecond},
		{64 * time.Microsecond, 48, 68 * time.Microsecond},
		{20 * time.Millisecond, 179, 20480 * time.Microsecond},
	} {
		if b := activitylog.LatencyBucket(tc.d); b != tc.b || activitylog.LatencyBucketEnd(b) != tc.end {
			t.Errorf("LatencyBucket(%v) = %d, end %v; want %d, %v", tc.d, b, activitylog.LatencyBucketEnd(b), tc.b, tc.end)
		}
	}
	r := rand.New(rand.NewPCG(1, 1))
	prev := -1
	for d := time.Duration(0); d < 1<<58; d = d*17/16 + time.Duration(r.IntN(1000)) {
		b := activitylog.LatencyBucket(d)
		end := activitylog.LatencyBucketEnd(b)
		if b < prev || end <= d || (d >= 32*time.Microsecond && float64(end-d) > float64(d)/16+1000) {
			t.Fatalf("LatencyBucket(%d) = %d (after %d), end %d: not monotonic, or off by more than 1/16", d, b, prev, end)
		}
		prev = b
	}
}

func TestLatencyPercentile(t *testing.T) {
	t.Parallel()
	h := activitylog.LatencyHistogram{}
	if h.Percentile(50) != 0 {
		t.Error("the percentile of nothing is not 0")
	}
	for i := 1; i <= 20; i++ {
		h.Add(time.Duration(i) * time.Microsecond)
	}
	// Nearest rank: the 10th and the 19th of 20.
	if p := h.Percentile(50); p != 11*time.Microsecond {
		t.Errorf("p50 = %v, want the end of 10µs's bucket, 11µs", p)
	}
	if p := h.Percentile(95); p != 20*time.Microsecond {
		t.Errorf("p95 = %v, want 20µs", p)
	}
	if p := h.Percentile(100); p != 21*time.Microsecond {
		t.Errorf("p100 = %v, want 21µs", p)
	}
}

func TestNormalizeDashboard(t *testing.T) {
	t.Parallel()
	now := t0.Add(30 * time.Minute)
	f, o, err := activitylog.NormalizeDashboard(activitylog.Filter{LastHours: 24}, nil, now)
	if err != nil || !f.From.Equal(now.Add(-24*time.Hour)) || !f.To.Equal(now) || o.Bucket != time.Hour || o.Top != activitylog.DefaultTop {
		t.Errorf("NormalizeDashboard(last 24h) = %+v, %+v, %v", f, o, err)
	}
	for window, bucket := range map[time.Duration]time.Duration{
		time.Hour: time.Hour, 72 * time.Hour: time.Hour, 73 * time.Hour: 6 * time.Hour,
		18 * 24 * time.Hour: 6 * time.Hour, 30 * 24 * time.Hour: 24 * time.Hour,
	} {
		if got := activitylog.DefaultBucket(window); got != bucket {
			t.Errorf("DefaultBucket(%v) = %v, want %v", window, got, bucket)
		}
	}
	for _, tc := range []struct {
		f     activitylog.Filter
		o     *activitylog.DashboardOptions
		field string
	}{
		{activitylog.Filter{}, nil, "date_from"},
		{activitylog.Filter{From: now.Add(time.Hour)}, nil, "date_from"},
		{activitylog.Filter{From: t0, To: t0.Add(100 * 24 * time.Hour)}, &activitylog.DashboardOptions{Bucket: time.Minute}, "bucket"},
		{activitylog.Filter{From: t0}, &activitylog.DashboardOptions{Bucket: -time.Hour}, "bucket"},
		{activitylog.Filter{From: t0}, &activitylog.DashboardOptions{Top: activitylog.MaxTop + 1}, "top"},
		{activitylog.Filter{From: t0, Kind: "nope"}, nil, "kind"},
	} {
		_, _, err := activitylog.NormalizeDashboard(tc.f, tc.o, now)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("NormalizeDashboard(%+v, %+v) = %v, want a *FieldError naming %s", tc.f, tc.o, err, tc.field)
		}
	}
}

func TestCollectOffenders(t *testing.T) {
	t.Parallel()
	got := activitylog.CollectOffenders([]activitylog.Offender{
		{Type: "username", Key: "Ann", Failures: 2, First: t0.Add(time.Minute), Last: t0.Add(2 * time.Minute)},
		{Type: "username", Key: " ann ", Failures: 1, First: t0, Last: t0},
		{Type: "username", Key: "  ", Failures: 9, First: t0, Last: t0},
		{Type: "ip", Key: "Ann", Failures: 3, First: t0, Last: t0}, // addresses are not lowered
		{Type: "ip", Key: "192.0.2.1", Failures: 1, First: t0, Last: t0},
	}, 2)
	want := []activitylog.Offender{
		{Type: "ip", Key: "Ann", Failures: 3, First: t0, Last: t0},
		{Type: "username", Key: "ann", Failures: 3, First: t0, Last: t0.Add(2 * time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("CollectOffenders = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("offender %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestScanAnalyzerDashboardSeries checks the series per bucket
// (requests, 4xx, 5xx, failed logins, p95 latency) and the countries of
// analyticsEvents with geos: by code, by name without a code, the name
// most events carry, the tie broken by code, and the events without.
func TestScanAnalyzerDashboardSeries(t *testing.T) {
	t.Parallel()
	es := analyticsEvents()
	geos := []activitylog.Geo{
		{CountryCode: "DE", Country: "Germany"}, {CountryCode: "DE", Country: "Deutschland"}, {CountryCode: "DE", Country: "Germany"},
		{CountryCode: "FR", Country: "France"}, {Country: "Atlantis"}, {CountryCode: "CH"}, {}, {CountryCode: "FR", Country: "France"},
		{Country: "Atlantis"}, {}, {},
	}
	for i := range es {
		es[i].Request.Geo = geos[i]
	}
	a := activitylog.ScanAnalyzer{Q: &memQuerier{events: es}}
	d, err := a.Dashboard(context.Background(), activitylog.Filter{From: t0, To: t0.Add(3 * time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Series
	for name, c := range map[string]struct{ got, want []int64 }{
		"requests":      {s.Requests, []int64{2, 1, 1}},
		"errors_4xx":    {s.Errors4xx, []int64{1, 0, 0}},
		"errors_5xx":    {s.Errors5xx, []int64{0, 1, 0}},
		"failed_logins": {s.FailedLogins, []int64{2, 1, 0}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("series %s = %v, want %v", name, c.got, c.want)
		}
	}
	// Hour 0: 2ms and 3ms, p95 the 2nd; hour 1: 900ms; hour 2: a request
	// without a duration, so none.
	end := func(d time.Duration) time.Duration { return activitylog.LatencyBucketEnd(activitylog.LatencyBucket(d)) }
	if want := []time.Duration{end(3 * time.Millisecond), end(900 * time.Millisecond), 0}; !slices.Equal(s.LatencyP95, want) {
		t.Errorf("latency p95 per hour = %v, want %v", s.LatencyP95, want)
	}
	want := []activitylog.CountryCount{
		{Code: "DE", Name: "Germany", Count: 3}, // two Germany, one Deutschland
		{Code: "", Name: "Atlantis", Count: 2},  // no code: by name, before FR by code
		{Code: "FR", Name: "France", Count: 2},
		{Code: "CH", Name: "", Count: 1},
	}
	if !slices.Equal(d.TopCountries, want) || d.NoCountry != 3 {
		t.Errorf("countries %+v, no country %d; want %+v, 3", d.TopCountries, d.NoCountry, want)
	}
	// Top bounds the countries too; NoCountry still counts only the
	// events without one.
	d, err = a.Dashboard(context.Background(), activitylog.Filter{From: t0, To: t0.Add(3 * time.Hour)}, &activitylog.DashboardOptions{Top: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.TopCountries, want[:1]) || d.NoCountry != 3 {
		t.Errorf("top 1: countries %+v, no country %d", d.TopCountries, d.NoCountry)
	}
	// 30 min buckets from 10:15: the series keep to the window's events.
	d, err = a.Dashboard(context.Background(), activitylog.Filter{From: t0.Add(15 * time.Minute), To: t0.Add(2 * time.Hour)},
		&activitylog.DashboardOptions{Bucket: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Series.Requests, []int64{0, 0, 1, 0}) || !slices.Equal(d.Series.FailedLogins, []int64{2, 0, 1, 0}) ||
		!slices.Equal(d.Series.Errors4xx, []int64{0, 0, 0, 0}) || len(d.Series.LatencyP95) != 4 || d.Series.LatencyP95[2] != end(900*time.Millisecond) {
		t.Errorf("from 10:15 in 30 min buckets: %+v", d.Series)
	}
}

// TestDashboardBuilder holds the Add methods to one another: the
// series add up to the totals, AddLatencyAt feeds the window's
// percentiles as AddLatency does, and a time outside the series counts
// in the totals only.
func TestDashboardBuilder(t *testing.T) {
	f, opts, err := activitylog.NormalizeDashboard(activitylog.Filter{From: t0, To: t0.Add(2 * time.Hour)}, nil, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := activitylog.NewDashboard(f, opts)
	d.AddRequests("/x", 404, 3)
	d.AddRequestSeries(t0.Add(time.Minute), 404, 3)
	d.AddRequests("/x", 599, 2)
	d.AddRequestSeries(t0.Add(time.Hour), 599, 2)
	d.AddRequestSeries(t0.Add(5*time.Hour), 200, 7) // outside the series
	d.AddLatencyAt(t0, activitylog.LatencyBucket(time.Millisecond), 19)
	d.AddLatencyAt(t0, activitylog.LatencyBucket(time.Second), 1)
	d.AddLatencyAt(t0.Add(time.Hour), activitylog.LatencyBucket(time.Second), 1)
	d.AddEvents(t0.Add(time.Hour), activitylog.KindAuth, activitylog.ActionLoginFailed, 4)
	d.AddEvents(t0.Add(time.Hour), activitylog.KindAuth, activitylog.ActionLogin, 1)
	d.AddCountry("", "", 0)
	d.Finish(opts)
	s := d.Series
	if !slices.Equal(s.Requests, []int64{3, 2}) || !slices.Equal(s.Errors4xx, []int64{3, 0}) || !slices.Equal(s.Errors5xx, []int64{0, 2}) ||
		!slices.Equal(s.FailedLogins, []int64{0, 4}) || d.FailedLogins != 4 {
		t.Errorf("series %+v, failed logins %d", s, d.FailedLogins)
	}
	ms, sec := activitylog.LatencyBucketEnd(activitylog.LatencyBucket(time.Millisecond)), activitylog.LatencyBucketEnd(activitylog.LatencyBucket(time.Second))
	// Hour 0: 19 of 1ms and 1 of 1s, so the 19th of 20 is 1ms; the window's
	// 21: the 20th is 1s.
	if !slices.Equal(s.LatencyP95, []time.Duration{ms, sec}) || d.LatencyP95 != sec || d.LatencyP50 != ms {
		t.Errorf("latency p95 per hour %v, window p50 %v p95 %v", s.LatencyP95, d.LatencyP50, d.LatencyP95)
	}
	if len(d.TopCountries) != 0 || d.NoCountry != 5 { // no country: not listed
		t.Errorf("countries %+v, no country %d", d.TopCountries, d.NoCountry)
	}
}
