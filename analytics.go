package activitylog

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Analyzer answers the aggregate questions of the audit API's analytics
// endpoints: a dashboard, error rates by route, brute-force suspects, a
// user's summary, and the lists that need a Condition a Filter cannot
// express (slow requests, critical system events). A store implements
// it to answer from its own indexes and aggregates; AnalyzerFor gives
// every other Querier a ScanAnalyzer, which answers the same by paging
// through Query, and is the reference the conformance suite
// (storetest.RunAnalyzer) holds every store to.
//
// Every method aggregates the events that f selects, as Query would
// (its paging and ordering fields are ignored except by Select), after
// Filter.Normalize; a bad filter or option is a *FieldError wrapping
// ErrInvalid, naming the parameter (date_from, bucket, threshold, …).
// A store that cannot be reached answers an error wrapping
// ErrUnavailable, and a context that ends, the context's error.
// Methods may be called from several goroutines at once. Answers are
// read from one consistent state of the store.
type Analyzer interface {
	// Select returns one page of the events that match both f and c,
	// in f's ordering, with cursors that work as Query's do.
	Select(ctx context.Context, f Filter, c Condition) (Page, error)
	// CountSelect returns how many events match both f and c, f's
	// paging ignored, but counts no further than limit: it returns
	// min(count, limit). A limit below 1 means no limit.
	CountSelect(ctx context.Context, f Filter, c Condition, limit int64) (int64, error)
	// Dashboard counts f's events for charts: per kind, in total and
	// in buckets, failed logins, unique client addresses, top users,
	// routes and countries, error rate and request latency, and
	// requests, errors, failed logins and p95 latency per bucket.
	// f.From is required; a zero f.To means the time of the call. o
	// may be nil.
	Dashboard(ctx context.Context, f Filter, o *DashboardOptions) (Dashboard, error)
	// ErrorRates counts f's request events by route and status: how
	// many answered 4xx and 5xx, and at which rate. At most limit
	// routes are listed (those with the most errors); limit 0 means
	// DefaultErrorRoutes.
	ErrorRates(ctx context.Context, f Filter, limit int) (ErrorRates, error)
	// Suspects counts f's failed logins (auth, login_failed) by client
	// address and by username (Extra["username"], in lower case and
	// trimmed), and returns those with at least threshold of them,
	// sorted as BruteForce.Offenders sorts. threshold must be at least 1.
	Suspects(ctx context.Context, f Filter, threshold int) ([]Offender, error)
	// Summary counts what the user userID did among f's events (those
	// whose actor id is userID), and its failed logins: f's auth
	// login_failed events whose object is the user userID (failed
	// attempts are recorded with an anonymous actor).
	Summary(ctx context.Context, f Filter, userID string) (Summary, error)
}

// Condition narrows a Filter by what the analytics lists need and a
// Filter does not express. The zero Condition matches every event.
type Condition struct {
	MinDuration time.Duration // Response.Duration >= MinDuration; 0 means any
}

// Validate reports a Condition that no event could be tested against,
// as a *FieldError naming threshold_ms.
func (c Condition) Validate() error {
	if c.MinDuration < 0 {
		return invalid("threshold_ms", strconv.FormatInt(c.MinDuration.Milliseconds(), 10), "must not be negative")
	}
	return nil
}

// Match reports whether e meets c.
func (c Condition) Match(e *Event) bool {
	return c.MinDuration == 0 || e.Response.Duration >= c.MinDuration
}

// Dashboard defaults and bounds.
const (
	DefaultTop         = 10    // DashboardOptions.Top
	MaxTop             = 1000  // DashboardOptions.Top
	MaxBuckets         = 10000 // buckets in one dashboard's series
	DefaultErrorRoutes = 100   // routes ErrorRates lists
	MaxErrorRoutes     = 1000
)

// DashboardOptions configures a Dashboard. The zero value, or nil,
// means the defaults written beside each field.
type DashboardOptions struct {
	// Bucket is the width of the series' buckets, which start at
	// multiples of Bucket since the Unix epoch (1h buckets start on
	// the hour, UTC). Default: DefaultBucket of the window.
	Bucket time.Duration
	// Top is how many users, routes and countries the dashboard lists.
	// Default: DefaultTop (10); at most MaxTop.
	Top int
}

// DefaultBucket returns the bucket width a dashboard over window gets
// by default: 1h up to 72h, 6h up to 18 days, else 24h. Each is a
// whole number of hours, which stores that keep hourly aggregates can
// answer from them.
func DefaultBucket(window time.Duration) time.Duration {
	switch {
	case window <= 72*time.Hour:
		return time.Hour
	case window <= 18*24*time.Hour:
		return 6 * time.Hour
	}
	return 24 * time.Hour
}

// NormalizeDashboard checks and completes a Dashboard call's arguments
// as every Analyzer must: f normalized (Filter.Normalize), f.From
// required, a zero f.To set to now, and o's defaults filled in. Its
// errors are *FieldErrors naming date_from, date_to, bucket or top.
func NormalizeDashboard(f Filter, o *DashboardOptions, now time.Time) (Filter, DashboardOptions, error) {
	var opts DashboardOptions
	if o != nil {
		opts = *o
	}
	f, err := f.Normalize(now)
	if err != nil {
		return f, opts, err
	}
	if f.From.IsZero() {
		return f, opts, invalid("date_from", "", "is required for a dashboard")
	}
	if f.To.IsZero() {
		f.To = now
		if !f.From.Before(f.To) {
			return f, opts, invalid("date_from", f.From.Format(time.RFC3339Nano), "must be before now")
		}
	}
	if opts.Bucket == 0 {
		opts.Bucket = DefaultBucket(f.To.Sub(f.From))
	}
	if opts.Bucket < time.Second {
		return f, opts, invalid("bucket", opts.Bucket.String(), "must be at least 1s")
	}
	first, last := bucketOf(f.From, opts.Bucket), bucketOf(f.To.Add(-1), opts.Bucket)
	if (last-first)/int64(opts.Bucket)+1 > MaxBuckets {
		return f, opts, invalid("bucket", opts.Bucket.String(), "makes more than "+strconv.Itoa(MaxBuckets)+" buckets of the window")
	}
	if opts.Top == 0 {
		opts.Top = DefaultTop
	}
	if opts.Top < 1 || opts.Top > MaxTop {
		return f, opts, invalid("top", strconv.Itoa(opts.Top), "must be between 1 and "+strconv.Itoa(MaxTop))
	}
	return f, opts, nil
}

// bucketOf returns the start, in Unix nanoseconds, of the bucket of
// width b that holds t.
func bucketOf(t time.Time, b time.Duration) int64 {
	ns := t.UnixNano()
	start := ns - ns%int64(b)
	if ns < 0 && ns%int64(b) != 0 {
		start -= int64(b)
	}
	return start
}

// Dashboard is the answer of Analyzer.Dashboard. Durations are in
// nanoseconds in JSON, as in the event schema.
type Dashboard struct {
	From   time.Time     `json:"from"`      // the window's start, inclusive
	To     time.Time     `json:"to"`        // the window's end, exclusive
	Bucket time.Duration `json:"bucket_ns"` // the width of the series' buckets

	Total        int64          `json:"total"`         // events in the window
	Kinds        map[Kind]int64 `json:"kinds"`         // events per kind; every kind, zeros included
	FailedLogins int64          `json:"failed_logins"` // auth events of action login_failed
	UniqueIPs    int64          `json:"unique_ips"`    // distinct client addresses (Request.RemoteIP) of all events
	TopUsers     []UserCount    `json:"top_users"`     // actors with the most events, most first
	TopRoutes    []RouteCount   `json:"top_routes"`    // routes with the most request events, most first

	Requests   int64         `json:"requests"`   // request events
	Errors4xx  int64         `json:"errors_4xx"` // request events with a status of 400 to 499
	Errors5xx  int64         `json:"errors_5xx"` // request events with a status of 500 to 599
	ErrorRate  float64       `json:"error_rate"` // (errors_4xx + errors_5xx) / requests; 0 without requests
	LatencyP50 time.Duration `json:"latency_p50_ns"`
	LatencyP95 time.Duration `json:"latency_p95_ns"`

	Series Series `json:"series"`

	// TopCountries lists the countries (CountryOf) of the window's
	// events, of every kind (events recorded while serving a request
	// carry its geo), with the most events: most first, then by code
	// and name; at most DashboardOptions.Top. NoCountry counts the
	// events without a country, which TopCountries leaves out.
	TopCountries []CountryCount `json:"top_countries"`
	NoCountry    int64          `json:"no_country"`

	routes    map[string]*RouteCount
	latency   LatencyHistogram
	latencies []LatencyHistogram              // per bucket of the series, nil until used
	countries map[countryKey]map[string]int64 // events per country key and name
}

// CountryCount is one of a dashboard's top countries: the country code
// (request.geo.country_code, as recorded), the country's name
// (request.geo.country: the name its events carry most, the first in
// byte order among equals) and its events. A country is counted by its
// code; events with a name and no code are counted by the name, with
// an empty code.
type CountryCount struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// countryKey is what a dashboard counts a country by: its code, else
// its name (code empty).
type countryKey struct{ code, name string }

// CountryOf returns the country an event is counted under in a
// dashboard: Request.Geo's country code and name, and false when it has
// neither.
func CountryOf(e *Event) (code, name string, ok bool) {
	g := &e.Request.Geo
	return g.CountryCode, g.Country, g.CountryCode != "" || g.Country != ""
}

// UserCount is one of a dashboard's top users: an actor id, the actor
// name of its latest event in the window, and its events.
type UserCount struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Count int64  `json:"count"`
}

// RouteCount is one of a dashboard's top routes: Request.Route, or the
// path when the event has no route, with its request events and how
// many of them answered 4xx or 5xx.
type RouteCount struct {
	Route    string `json:"route"`
	Requests int64  `json:"requests"`
	Errors   int64  `json:"errors"`
}

// Series is a dashboard's events per kind over time, for charts:
// Counts[k][i] is the number of events of kind k in the bucket that
// starts at Start[i]. Every kind has an entry, zeros included. The
// first and last buckets may reach outside the window; only the
// window's events are counted.
//
// The other members hold one value per bucket too: request events
// (Requests), those of them that answered 4xx (Errors4xx) and 5xx
// (Errors5xx), failed logins (auth events of action login_failed), and
// the 95th percentile of the durations of the bucket's request events
// (LatencyP95, read from the LatencyHistogram as Dashboard.LatencyP95
// is; 0 for a bucket without a request event that has a duration).
type Series struct {
	Start  []time.Time      `json:"start"`
	Counts map[Kind][]int64 `json:"counts"`

	Requests     []int64         `json:"requests"`
	Errors4xx    []int64         `json:"errors_4xx"`
	Errors5xx    []int64         `json:"errors_5xx"`
	FailedLogins []int64         `json:"failed_logins"`
	LatencyP95   []time.Duration `json:"latency_p95_ns"`
}

// NewDashboard returns the empty Dashboard of a normalized f and opts
// (NormalizeDashboard), with every bucket of its series, for a store to
// fill with AddEvents, AddRequests, AddRequestSeries, AddLatencyAt,
// AddCountry, UniqueIPs and TopUsers, and then Finish.
func NewDashboard(f Filter, opts DashboardOptions) Dashboard {
	d := Dashboard{
		From: f.From.UTC(), To: f.To.UTC(), Bucket: opts.Bucket,
		Kinds:        make(map[Kind]int64, len(Kinds)),
		TopUsers:     []UserCount{},
		TopRoutes:    []RouteCount{},
		Series:       Series{Counts: make(map[Kind][]int64, len(Kinds))},
		routes:       map[string]*RouteCount{},
		latency:      LatencyHistogram{},
		countries:    map[countryKey]map[string]int64{},
		TopCountries: []CountryCount{},
	}
	first, last := bucketOf(f.From, opts.Bucket), bucketOf(f.To.Add(-1), opts.Bucket)
	n := int((last-first)/int64(opts.Bucket)) + 1
	d.Series.Start = make([]time.Time, n)
	for i := range d.Series.Start {
		d.Series.Start[i] = time.Unix(0, first+int64(i)*int64(opts.Bucket)).UTC()
	}
	for _, k := range Kinds {
		d.Kinds[k] = 0
		d.Series.Counts[k] = make([]int64, n)
	}
	d.Series.Requests = make([]int64, n)
	d.Series.Errors4xx = make([]int64, n)
	d.Series.Errors5xx = make([]int64, n)
	d.Series.FailedLogins = make([]int64, n)
	d.Series.LatencyP95 = make([]time.Duration, n)
	return d
}

// bucket returns the index in the series of the bucket that holds t,
// or -1 when t lies outside the series.
func (d *Dashboard) bucket(t time.Time) int {
	if len(d.Series.Start) == 0 {
		return -1
	}
	i := (bucketOf(t, d.Bucket) - d.Series.Start[0].UnixNano()) / int64(d.Bucket)
	if i < 0 || i >= int64(len(d.Series.Start)) {
		return -1
	}
	return int(i)
}

// AddEvents counts n events of kind k and action at, or in the bucket
// that starts at, t: in Total, Kinds, the series, and FailedLogins (in
// total and in the series) for auth login_failed. t must lie within the
// window's buckets.
func (d *Dashboard) AddEvents(t time.Time, k Kind, action string, n int64) {
	d.Total += n
	d.Kinds[k] += n
	failed := k == KindAuth && action == ActionLoginFailed
	if failed {
		d.FailedLogins += n
	}
	counts, ok := d.Series.Counts[k]
	if !ok { // not one of Kinds: a store that kept a kind Validate refuses
		counts = make([]int64, len(d.Series.Start))
		d.Series.Counts[k] = counts
	}
	if i := d.bucket(t); i >= 0 {
		counts[i] += n
		if failed {
			d.Series.FailedLogins[i] += n
		}
	}
}

// AddRequestSeries counts n request events that answered status at, or
// in the bucket that starts at, t, in the series: Requests, and
// Errors4xx or Errors5xx. AddRequests counts the same events in the
// window's totals and routes; a store calls both.
func (d *Dashboard) AddRequestSeries(t time.Time, status int, n int64) {
	i := d.bucket(t)
	if i < 0 {
		return
	}
	d.Series.Requests[i] += n
	switch {
	case status >= 400 && status <= 499:
		d.Series.Errors4xx[i] += n
	case status >= 500 && status <= 599:
		d.Series.Errors5xx[i] += n
	}
}

// AddCountry counts n events of the country code and name (CountryOf).
// Events without a country (both empty) are not added: NoCountry is
// what Total holds beyond the countries.
func (d *Dashboard) AddCountry(code, name string, n int64) {
	if code == "" && name == "" || n <= 0 {
		return
	}
	k := countryKey{code: code}
	if code == "" {
		k.name = name
	}
	names := d.countries[k]
	if names == nil {
		names = map[string]int64{}
		d.countries[k] = names
	}
	names[name] += n
}

// AddRequests counts n request events of route (Request.Route, else
// the path) that answered status.
func (d *Dashboard) AddRequests(route string, status int, n int64) {
	rc := d.routes[route]
	if rc == nil {
		rc = &RouteCount{Route: route}
		d.routes[route] = rc
	}
	rc.Requests += n
	d.Requests += n
	switch {
	case status >= 400 && status <= 499:
		d.Errors4xx += n
		rc.Errors += n
	case status >= 500 && status <= 599:
		d.Errors5xx += n
		rc.Errors += n
	}
}

// AddLatency counts n request events whose duration falls in the
// LatencyHistogram bucket b, in the window's percentiles only; a store
// that can tell their time calls AddLatencyAt instead.
func (d *Dashboard) AddLatency(b int, n int64) { d.latency[b] += n }

// AddLatencyAt counts n request events at, or in the bucket that starts
// at, t whose duration falls in the LatencyHistogram bucket b: in the
// window's percentiles and in the series' LatencyP95.
func (d *Dashboard) AddLatencyAt(t time.Time, b int, n int64) {
	d.latency[b] += n
	i := d.bucket(t)
	if i < 0 {
		return
	}
	if d.latencies == nil {
		d.latencies = make([]LatencyHistogram, len(d.Series.Start))
	}
	if d.latencies[i] == nil {
		d.latencies[i] = LatencyHistogram{}
	}
	d.latencies[i][b] += n
}

// Finish computes what follows from the counts: the top routes and
// countries (opts' Top of each), NoCountry, the error rate and the
// latency percentiles, of the window and per bucket. Call it once,
// after the last Add.
func (d *Dashboard) Finish(opts DashboardOptions) {
	d.TopRoutes = make([]RouteCount, 0, len(d.routes))
	for _, rc := range d.routes {
		d.TopRoutes = append(d.TopRoutes, *rc)
	}
	slices.SortFunc(d.TopRoutes, func(a, b RouteCount) int {
		if a.Requests != b.Requests {
			return cmpDesc(a.Requests, b.Requests)
		}
		return strings.Compare(a.Route, b.Route)
	})
	d.TopRoutes = d.TopRoutes[:min(len(d.TopRoutes), opts.Top)]
	d.ErrorRate = Rate(d.Errors4xx+d.Errors5xx, d.Requests)
	d.LatencyP50 = d.latency.Percentile(50)
	d.LatencyP95 = d.latency.Percentile(95)
	for i, h := range d.latencies {
		d.Series.LatencyP95[i] = h.Percentile(95)
	}
	d.TopCountries = make([]CountryCount, 0, len(d.countries))
	var located int64
	for k, names := range d.countries {
		c := CountryCount{Code: k.code, Name: k.name}
		var best int64
		for name, n := range names {
			c.Count += n
			if name != "" && (n > best || n == best && name < c.Name) {
				c.Name, best = name, n
			}
		}
		located += c.Count
		d.TopCountries = append(d.TopCountries, c)
	}
	slices.SortFunc(d.TopCountries, func(a, b CountryCount) int {
		if a.Count != b.Count {
			return cmpDesc(a.Count, b.Count)
		}
		if c := strings.Compare(a.Code, b.Code); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	d.TopCountries = d.TopCountries[:min(len(d.TopCountries), opts.Top)]
	d.NoCountry = max(d.Total-located, 0)
	d.routes, d.latency, d.latencies, d.countries = nil, nil, nil, nil
}

func cmpDesc(a, b int64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// SortUsers sorts a dashboard's users as TopUsers lists them: most
// events first, then by id.
func SortUsers(us []UserCount) {
	slices.SortFunc(us, func(a, b UserCount) int {
		if a.Count != b.Count {
			return cmpDesc(a.Count, b.Count)
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Rate returns n/total, or 0 when total is 0.
func Rate(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

// LatencyHistogram counts request durations in log-linear buckets
// (LatencyBucket): exact to the microsecond below 32µs, then 16 buckets
// per power of two, so a percentile read from it is at most 1/16 (6.25%)
// above the true value. Percentiles are read from it the same way
// whether a store kept the histogram or counted each event, so that
// every store gives the same answer.
type LatencyHistogram map[int]int64

// LatencyBucket returns the bucket of d: its whole microseconds v when
// v < 32, else 16*e + (v >> e), where e = bits.Len64(v) - 5.
func LatencyBucket(d time.Duration) int {
	v := int64(d / time.Microsecond)
	if v < 32 {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 5
	return 16*e + int(v>>e)
}

// LatencyBucketEnd returns the end of bucket b, exclusive: every
// duration in b is shorter. Percentiles report it.
func LatencyBucketEnd(b int) time.Duration {
	if b < 32 {
		return time.Duration(b+1) * time.Microsecond
	}
	e := b/16 - 1
	m := int64(b%16 + 16)
	return time.Duration((m+1)<<e) * time.Microsecond
}

// Add counts d.
func (h LatencyHistogram) Add(d time.Duration) { h[LatencyBucket(d)]++ }

// Percentile returns the end of the bucket that holds the pct-th
// percentile by nearest rank (the ceil(pct/100 × n)-th shortest of n
// durations), or 0 when h is empty. pct is between 1 and 100.
func (h LatencyHistogram) Percentile(pct int) time.Duration {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := (n*int64(pct) + 99) / 100
	keys := make([]int, 0, len(h))
	for b := range h {
		keys = append(keys, b)
	}
	slices.Sort(keys)
	var seen int64
	for _, b := range keys {
		seen += h[b]
		if seen >= rank {
			return LatencyBucketEnd(b)
		}
	}
	return LatencyBucketEnd(keys[len(keys)-1])
}

// ErrorRates is the answer of Analyzer.ErrorRates.
type ErrorRates struct {
	From      time.Time     `json:"from"`
	To        time.Time     `json:"to"`
	Requests  int64         `json:"requests"`
	Errors4xx int64         `json:"errors_4xx"`
	Errors5xx int64         `json:"errors_5xx"`
	Rate4xx   float64       `json:"rate_4xx"`
	Rate5xx   float64       `json:"rate_5xx"`
	ErrorRate float64       `json:"error_rate"`
	Routes    []RouteErrors `json:"routes"`    // routes with at least one error, most errors first, then by route
	Truncated bool          `json:"truncated"` // more routes had errors than are listed

	all map[string]*RouteErrors
}

// RouteErrors is one route's requests and errors.
type RouteErrors struct {
	Route     string        `json:"route"` // Request.Route, or the path when the event has none
	Requests  int64         `json:"requests"`
	Errors4xx int64         `json:"errors_4xx"`
	Errors5xx int64         `json:"errors_5xx"`
	Rate4xx   float64       `json:"rate_4xx"`
	Rate5xx   float64       `json:"rate_5xx"`
	ErrorRate float64       `json:"error_rate"`
	Statuses  []StatusCount `json:"statuses"` // the 4xx and 5xx statuses, in order
}

// StatusCount is how many requests answered one status.
type StatusCount struct {
	Status int   `json:"status"`
	Count  int64 `json:"count"`
}

// NewErrorRates returns the empty ErrorRates of a normalized f, for a
// store to fill with Add and then Finish.
func NewErrorRates(f Filter) ErrorRates {
	return ErrorRates{From: f.From.UTC(), To: f.To.UTC(), Routes: []RouteErrors{}, all: map[string]*RouteErrors{}}
}

// Add counts n request events of route that answered status.
func (r *ErrorRates) Add(route string, status int, n int64) {
	re := r.all[route]
	if re == nil {
		re = &RouteErrors{Route: route}
		r.all[route] = re
	}
	re.Requests += n
	r.Requests += n
	if status < 400 || status > 599 {
		return
	}
	if status < 500 {
		re.Errors4xx += n
		r.Errors4xx += n
	} else {
		re.Errors5xx += n
		r.Errors5xx += n
	}
	i, found := slices.BinarySearchFunc(re.Statuses, status, func(s StatusCount, t int) int { return s.Status - t })
	if found {
		re.Statuses[i].Count += n
	} else {
		re.Statuses = slices.Insert(re.Statuses, i, StatusCount{status, n})
	}
}

// Finish computes the rates and lists at most limit routes (0:
// DefaultErrorRoutes). Call it once, after the last Add.
func (r *ErrorRates) Finish(limit int) {
	if limit <= 0 {
		limit = DefaultErrorRoutes
	}
	r.Rate4xx, r.Rate5xx = Rate(r.Errors4xx, r.Requests), Rate(r.Errors5xx, r.Requests)
	r.ErrorRate = Rate(r.Errors4xx+r.Errors5xx, r.Requests)
	r.Routes = r.Routes[:0]
	for _, re := range r.all {
		if re.Errors4xx+re.Errors5xx == 0 {
			continue
		}
		re.Rate4xx, re.Rate5xx = Rate(re.Errors4xx, re.Requests), Rate(re.Errors5xx, re.Requests)
		re.ErrorRate = Rate(re.Errors4xx+re.Errors5xx, re.Requests)
		r.Routes = append(r.Routes, *re)
	}
	slices.SortFunc(r.Routes, func(a, b RouteErrors) int {
		if ea, eb := a.Errors4xx+a.Errors5xx, b.Errors4xx+b.Errors5xx; ea != eb {
			return cmpDesc(ea, eb)
		}
		return strings.Compare(a.Route, b.Route)
	})
	if len(r.Routes) > limit {
		r.Routes, r.Truncated = r.Routes[:limit], true
	}
	r.all = nil
}

// Summary is the answer of Analyzer.Summary: what one user did in a
// window.
type Summary struct {
	UserID       string    `json:"user_id"`
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	Total        int64     `json:"total_actions"` // the user's events, of every kind
	Creates      int64     `json:"creates"`       // crud create
	Updates      int64     `json:"updates"`       // crud update
	Deletes      int64     `json:"deletes"`       // crud delete
	Reads        int64     `json:"reads"`         // crud read
	Logins       int64     `json:"logins"`        // auth login
	FailedLogins int64     `json:"failed_logins"` // auth login_failed whose object is the user
	SystemErrors int64     `json:"system_errors"` // system events of action error (Error, Critical)
	Unresolved   int64     `json:"unresolved"`    // the user's events of severity warning or above without a resolution
}

// NeedsResolution reports whether an event of severity s counts as
// unresolved in a Summary until it is resolved: warning, error and
// critical.
func NeedsResolution(s Severity) bool {
	return s == SeverityWarning || s == SeverityError || s == SeverityCritical
}

// CollectOffenders merges per-key counts of failed logins into the
// answer of Analyzer.Suspects: usernames are lowered and trimmed as
// BruteForce compares them (empty keys are dropped), counts of the
// same type and key are added up, First and Last widened, and those
// with at least threshold failures returned, sorted as
// BruteForce.Offenders sorts.
func CollectOffenders(counts []Offender, threshold int) []Offender {
	type key struct{ typ, key string }
	m := make(map[key]*Offender, len(counts))
	for _, o := range counts {
		if o.Type == OffenderUsername {
			o.Key = strings.ToLower(strings.TrimSpace(o.Key))
		}
		if o.Key == "" || o.Failures <= 0 {
			continue
		}
		k := key{o.Type, o.Key}
		if a := m[k]; a != nil {
			a.Failures += o.Failures
			if o.First.Before(a.First) {
				a.First = o.First
			}
			if o.Last.After(a.Last) {
				a.Last = o.Last
			}
			continue
		}
		o.First, o.Last = o.First.UTC(), o.Last.UTC()
		m[k] = &o
	}
	out := []Offender{}
	for _, o := range m {
		if o.Failures >= threshold {
			out = append(out, *o)
		}
	}
	sortOffenders(out)
	return out
}

// SuspectsFilter returns f narrowed to failed logins (auth,
// login_failed), and false when f selects another kind or action, so
// that there is nothing to count.
func SuspectsFilter(f Filter) (Filter, bool) {
	if f.Kind != "" && f.Kind != KindAuth || f.Action != "" && f.Action != ActionLoginFailed {
		return f, false
	}
	f.Kind, f.Action = KindAuth, ActionLoginFailed
	return f, true
}

func checkThreshold(threshold int) error {
	if threshold < 1 || threshold > 1_000_000 {
		return invalid("threshold", strconv.Itoa(threshold), "must be between 1 and 1000000")
	}
	return nil
}

// CheckSuspects checks the arguments of Analyzer.Suspects: f
// normalized, and threshold between 1 and 1000000.
func CheckSuspects(f Filter, threshold int, now time.Time) (Filter, error) {
	f, err := f.Normalize(now)
	if err != nil {
		return f, err
	}
	return f, checkThreshold(threshold)
}

// CheckSummary checks the arguments of Analyzer.Summary: f normalized,
// and userID neither empty nor longer than MaxShortField.
func CheckSummary(f Filter, userID string, now time.Time) (Filter, error) {
	f, err := f.Normalize(now)
	if err != nil {
		return f, err
	}
	if userID == "" {
		return f, invalid("user_id", "", "is required")
	}
	if len(userID) > MaxShortField {
		return f, invalid("user_id", truncate(userID, 32), "is longer than "+strconv.Itoa(MaxShortField)+" bytes")
	}
	return f, nil
}

// CheckErrorRoutes checks ErrorRates' limit: 0 (the default) or 1 to
// MaxErrorRoutes.
func CheckErrorRoutes(limit int) error {
	if limit < 0 || limit > MaxErrorRoutes {
		return invalid("limit", strconv.Itoa(limit), "must be between 1 and "+strconv.Itoa(MaxErrorRoutes))
	}
	return nil
}

// RouteOf returns the route an event is counted under: Request.Route,
// else Request.Path.
func RouteOf(e *Event) string {
	if e.Request.Route != "" {
		return e.Request.Route
	}
	return e.Request.Path
}

// AnalyzerFor returns q itself when it is an Analyzer, else a
// ScanAnalyzer over it.
func AnalyzerFor(q Querier) Analyzer {
	if a, ok := q.(Analyzer); ok {
		return a
	}
	return ScanAnalyzer{Q: q}
}

// ScanAnalyzer is the Analyzer of any Querier: it pages through Query,
// MaxPageSize events at a time, and counts as it goes. It needs no
// support from the store, and it reads every event it aggregates, so it
// suits small stores and tests; it is the reference the conformance
// suite holds stores to. Its answers are not read from one consistent
// state: events written while it pages may or may not be counted.
// Summary's Unresolved asks Q for resolutions when Q is a Resolver, and
// otherwise counts every event that needs one.
type ScanAnalyzer struct {
	Q Querier
}

var _ Analyzer = ScanAnalyzer{}

// scan calls fn on each event of the normalized f (Scan: through Q's
// own Scan when it is a Scanner). The event is valid only until fn
// returns.
func (a ScanAnalyzer) scan(ctx context.Context, f Filter, fn func(e *Event) error) error {
	return Scan(ctx, a.Q, f, fn)
}

// scanFrom is scan from f's cursor, if it has one.
func (a ScanAnalyzer) scanFrom(ctx context.Context, f Filter, fn func(e *Event) error) error {
	f.Page, f.PageSize = 0, MaxPageSize
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := a.Q.Query(ctx, f)
		if err != nil {
			return err
		}
		for i := range p.Events {
			if err := fn(&p.Events[i]); err != nil {
				return err
			}
		}
		if p.Next == "" || p.Next == f.Cursor || len(p.Events) == 0 {
			return nil
		}
		f.Cursor = p.Next
	}
}

// CountSelect implements Analyzer.
func (a ScanAnalyzer) CountSelect(ctx context.Context, f Filter, c Condition, limit int64) (int64, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return 0, err
	}
	if err := c.Validate(); err != nil {
		return 0, err
	}
	var n int64
	errEnough := errors.New("enough")
	err = a.scan(ctx, f, func(e *Event) error {
		if c.Match(e) {
			n++
			if limit > 0 && n >= limit {
				return errEnough
			}
		}
		return nil
	})
	if err != nil && err != errEnough {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// Select implements Analyzer: it walks f's events from f's cursor (or
// page), a page of f at a time, and keeps those that meet c.
func (a ScanAnalyzer) Select(ctx context.Context, f Filter, c Condition) (Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return Page{}, err
	}
	if err := c.Validate(); err != nil {
		return Page{}, err
	}
	var cur Cursor
	if f.Cursor != "" {
		if cur, err = DecodeCursor(f.Cursor); err != nil {
			return Page{}, err
		}
	}
	errFull := errors.New("full")
	var got []Event
	collect := func(e *Event) error {
		if c.Match(e) {
			got = append(got, *e)
			if len(got) > f.PageSize {
				return errFull
			}
		}
		return nil
	}
	if cur.Before {
		// Walk back from the cursor, a page of f at a time, and keep
		// the matches nearest to it.
		g := f
		g.PageSize = MaxPageSize
		for {
			p, err := a.Q.Query(ctx, g)
			if err != nil {
				return Page{}, fmt.Errorf("select events: %w", err)
			}
			var matched []Event
			for i := range p.Events {
				if c.Match(&p.Events[i]) {
					matched = append(matched, p.Events[i])
				}
			}
			got = append(matched, got...)
			if len(got) > f.PageSize || p.Prev == "" || len(p.Events) == 0 {
				break
			}
			g.Cursor = p.Prev
		}
		more := len(got) > f.PageSize
		if more {
			got = got[len(got)-f.PageSize:]
		}
		return PageOf(f, got, true, true, more), nil
	}
	skip := 0
	if f.Cursor == "" {
		skip = (f.Page - 1) * f.PageSize
	}
	err = a.scanFrom(ctx, f, func(e *Event) error {
		if skip > 0 && c.Match(e) {
			skip--
			return nil
		}
		return collect(e)
	})
	if err != nil && err != errFull {
		return Page{}, fmt.Errorf("select events: %w", err)
	}
	more := len(got) > f.PageSize
	if more {
		got = got[:f.PageSize]
	}
	return PageOf(f, got, f.Cursor != "", false, more), nil
}

// Dashboard implements Analyzer.
func (a ScanAnalyzer) Dashboard(ctx context.Context, f Filter, o *DashboardOptions) (Dashboard, error) {
	f, opts, err := NormalizeDashboard(f, o, time.Now())
	if err != nil {
		return Dashboard{}, err
	}
	d := NewDashboard(f, opts)
	type user struct {
		n    int64
		last *Event
	}
	users := map[string]*user{}
	ips := map[string]struct{}{}
	err = a.scan(ctx, f, func(e *Event) error {
		d.AddEvents(e.Time, e.Kind, e.Action, 1)
		if e.Kind == KindRequest {
			d.AddRequests(RouteOf(e), e.Response.Status, 1)
			d.AddRequestSeries(e.Time, e.Response.Status, 1)
			if e.Response.Duration > 0 {
				d.AddLatencyAt(e.Time, LatencyBucket(e.Response.Duration), 1)
			}
		}
		if code, name, ok := CountryOf(e); ok {
			d.AddCountry(code, name, 1)
		}
		if ip := e.Request.RemoteIP; ip != "" {
			ips[ip] = struct{}{}
		}
		if id := e.Actor.ID; id != "" {
			u := users[id]
			if u == nil {
				u = &user{}
				users[id] = u
			}
			u.n++
			if u.last == nil || later(e, u.last) {
				c := Event{Time: e.Time, ID: e.ID, Actor: Actor{Name: e.Actor.Name}}
				u.last = &c
			}
		}
		return nil
	})
	if err != nil {
		return Dashboard{}, fmt.Errorf("count dashboard: %w", err)
	}
	d.UniqueIPs = int64(len(ips))
	for id, u := range users {
		d.TopUsers = append(d.TopUsers, UserCount{ID: id, Name: u.last.Actor.Name, Count: u.n})
	}
	SortUsers(d.TopUsers)
	d.TopUsers = d.TopUsers[:min(len(d.TopUsers), opts.Top)]
	d.Finish(opts)
	return d, nil
}

// later reports whether a comes after b in time, then id.
func later(a, b *Event) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return slices.Compare(a.ID[:], b.ID[:]) > 0
}

// ErrorRates implements Analyzer.
func (a ScanAnalyzer) ErrorRates(ctx context.Context, f Filter, limit int) (ErrorRates, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return ErrorRates{}, err
	}
	if err := CheckErrorRoutes(limit); err != nil {
		return ErrorRates{}, err
	}
	r := NewErrorRates(f)
	err = a.scan(ctx, f, func(e *Event) error {
		if e.Kind == KindRequest {
			r.Add(RouteOf(e), e.Response.Status, 1)
		}
		return nil
	})
	if err != nil {
		return ErrorRates{}, fmt.Errorf("count error rates: %w", err)
	}
	r.Finish(limit)
	return r, nil
}

// Suspects implements Analyzer.
func (a ScanAnalyzer) Suspects(ctx context.Context, f Filter, threshold int) ([]Offender, error) {
	f, err := CheckSuspects(f, threshold, time.Now())
	if err != nil {
		return nil, err
	}
	f, ok := SuspectsFilter(f)
	if !ok {
		return []Offender{}, nil
	}
	var counts []Offender
	err = a.scan(ctx, f, func(e *Event) error {
		if ip := e.Request.RemoteIP; ip != "" {
			counts = append(counts, Offender{Type: OffenderIP, Key: ip, Failures: 1, First: e.Time, Last: e.Time})
		}
		if u, ok := e.Extra["username"].(string); ok {
			counts = append(counts, Offender{Type: OffenderUsername, Key: u, Failures: 1, First: e.Time, Last: e.Time})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count failed logins: %w", err)
	}
	return CollectOffenders(counts, threshold), nil
}

// Summary implements Analyzer.
func (a ScanAnalyzer) Summary(ctx context.Context, f Filter, userID string) (Summary, error) {
	f, err := CheckSummary(f, userID, time.Now())
	if err != nil {
		return Summary{}, err
	}
	s := Summary{UserID: userID, From: f.From.UTC(), To: f.To.UTC()}
	resolver, _ := a.Q.(Resolver)
	var candidates []ID
	if f.ActorID == "" || f.ActorID == userID {
		g := f
		g.ActorID = userID
		err = a.scan(ctx, g, func(e *Event) error {
			s.Total++
			switch {
			case e.Kind == KindCRUD && e.Action == "create":
				s.Creates++
			case e.Kind == KindCRUD && e.Action == "update":
				s.Updates++
			case e.Kind == KindCRUD && e.Action == "delete":
				s.Deletes++
			case e.Kind == KindCRUD && e.Action == "read":
				s.Reads++
			case e.Kind == KindAuth && e.Action == ActionLogin:
				s.Logins++
			case e.Kind == KindSystem && e.Action == "error":
				s.SystemErrors++
			}
			if NeedsResolution(e.Severity) {
				candidates = append(candidates, e.ID)
			}
			return nil
		})
		if err != nil {
			return Summary{}, fmt.Errorf("summarize user %s: %w", userID, err)
		}
		// After the scan, which may hold the store's only connection.
		for _, id := range candidates {
			if resolver != nil {
				_, err := resolver.Resolution(ctx, id)
				if err == nil {
					continue
				}
				if !errors.Is(err, ErrNotFound) {
					return Summary{}, fmt.Errorf("summarize user %s: %w", userID, err)
				}
			}
			s.Unresolved++
		}
	}
	g, ok := SuspectsFilter(f)
	if ok {
		g.ObjectType, g.ObjectID = "user", userID
		if f.ObjectType != "" && f.ObjectType != "user" || f.ObjectID != "" && f.ObjectID != userID {
			ok = false
		}
	}
	if ok {
		err = a.scan(ctx, g, func(e *Event) error {
			s.FailedLogins++
			return nil
		})
		if err != nil {
			return Summary{}, fmt.Errorf("summarize user %s: %w", userID, err)
		}
	}
	return s, nil
}
