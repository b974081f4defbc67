package server

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// analyticsRoutes registers the analytics endpoints (docs/analytics.md):
// the lists of failed logins, slow requests and critical system events,
// and the aggregations: brute-force suspects, error rates, the
// dashboard and a user's summary. Each needs view_logs and holds its
// query to the principal (scope): a principal of a tenant counts that
// tenant's events only, and one with view_logs alone its own events
// only. They ask the Querier's own activitylog.Analyzer when it has
// one (*sqlite.Store does), else an activitylog.ScanAnalyzer over it.
func (s *server) analyticsRoutes() {
	read := activitylog.ViewLogs
	s.handle("GET /api/v1/login-events/failed", read, s.failedLogins)
	s.handle("GET /api/v1/login-events/brute-force-suspects", read, s.bruteForceSuspects)
	s.handle("GET /api/v1/request-events/slow", read, s.slowRequests)
	s.handle("GET /api/v1/request-events/error-rates", read, s.errorRates)
	s.handle("GET /api/v1/system-events/critical", read, s.criticalEvents)
	s.handle("GET /api/v1/dashboard", read, s.dashboard)
	s.handle("GET /api/v1/summary", read, s.summary)
}

// The analytics parameters: defaults and bounds.
var (
	hoursParam       = intParam{"hours", 24, 1, 8784}             // 366 days
	windowHoursParam = intParam{"window_hours", 1, 1, 8784}       // brute-force suspects
	thresholdParam   = intParam{"threshold", 5, 1, 10000}         // failed logins that make a suspect
	thresholdMSParam = intParam{"threshold_ms", 1000, 1, 3600000} // a slow request, in ms
	daysParam        = intParam{"days", 30, 1, 3660}              // a summary's window
	topParam         = intParam{"top", activitylog.DefaultTop, 1, 100}
	limitParam       = intParam{"limit", activitylog.DefaultErrorRoutes, 1, activitylog.MaxErrorRoutes}
)

// intParam is an integer query parameter with its default and bounds.
type intParam struct {
	name        string
	def, lo, hi int
}

// analyticsParams reads the query parameters of an aggregation: each of
// ints, an integer within its bounds (its default when absent or
// empty), and each of strs, a string. Any other parameter, one given
// twice, a value that is not UTF-8 (as ParseFilter refuses it, rather
// than match U+FFFD) and every value out of bounds is refused, as a
// *activitylog.FieldError naming the parameter and the value, with
// bytes that are not UTF-8 shown as Go escapes (showValue).
func analyticsParams(v url.Values, ints []intParam, strs ...string) (map[string]int, map[string]string, error) {
	known := make([]string, 0, len(ints)+len(strs))
	for _, p := range ints {
		known = append(known, p.name)
	}
	known = append(known, strs...)
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names) // the same query always gets the same error
	for _, name := range names {
		vs := v[name]
		if !slices.Contains(known, name) {
			first := ""
			if len(vs) > 0 {
				first = vs[0]
			}
			return nil, nil, activitylog.Invalid(paramField(name), showValue(first), "is not a known parameter; known are "+strings.Join(known, ", "))
		}
		if len(vs) > 1 {
			return nil, nil, activitylog.Invalid(name, showValue(vs[1]), "is given more than once")
		}
		if len(vs) == 1 {
			if err := checkUTF8(name, vs[0]); err != nil {
				return nil, nil, err
			}
		}
	}
	is := make(map[string]int, len(ints))
	for _, p := range ints {
		n, err := p.parse(v.Get(p.name))
		if err != nil {
			return nil, nil, err
		}
		is[p.name] = n
	}
	ss := make(map[string]string, len(strs))
	for _, name := range strs {
		ss[name] = v.Get(name)
	}
	return is, ss, nil
}

// from returns the parameter's value in v, refusing it when it is
// given more than once.
func (p intParam) from(v url.Values) (int, error) {
	if vs := v[p.name]; len(vs) > 1 {
		return 0, activitylog.Invalid(p.name, showValue(vs[1]), "is given more than once")
	}
	return p.parse(v.Get(p.name))
}

// parse returns the value of s, or the default when s is empty.
func (p intParam) parse(s string) (int, error) {
	if s == "" {
		return p.def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, activitylog.Invalid(p.name, showValue(s), "is not an integer")
	}
	if n < p.lo || n > p.hi {
		return 0, activitylog.Invalid(p.name, showValue(s), "must be between "+strconv.Itoa(p.lo)+" and "+strconv.Itoa(p.hi))
	}
	return n, nil
}

// hourWindow is the window of an aggregation over the last hours: the
// current hour and the hours-1 before it, so that it begins on the hour
// and its hours are whole (the rollups of *sqlite.Store answer for
// whole hours), and ends with the current hour.
func hourWindow(now time.Time, hours int) (from, to time.Time) {
	cur := now.UTC().Truncate(time.Hour)
	return cur.Add(-time.Duration(hours-1) * time.Hour), cur.Add(time.Hour)
}

// fixed refuses a query parameter that names another value than the
// one the resource fixes.
func fixed(param, got, want, path string) error {
	if got == "" || got == want {
		return nil
	}
	return activitylog.Invalid(param, clip(got), "is fixed by "+path+", which lists "+param+" "+want+" only; leave it out")
}

// kindResourceNamed returns the per-kind resource (kinds.go) whose
// parameters an analytics list takes.
func kindResourceNamed(name string) *kindResource {
	for i := range kindResources {
		if kindResources[i].name == name {
			return &kindResources[i]
		}
	}
	panic("server: no kind resource " + name)
}

// failedLogins handles GET /api/v1/login-events/failed: the list of
// auth login_failed events, with the parameters and the answer of
// GET /api/v1/login-events. action may repeat login_failed.
func (s *server) failedLogins(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	err := kindResourceNamed("login-events").check(v, false)
	var f activitylog.Filter
	if err == nil {
		f, err = ParseFilter(v)
	}
	if err == nil {
		err = fixed("action", f.Action, activitylog.ActionLoginFailed, "/api/v1/login-events/failed")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Kind, f.Action = activitylog.KindAuth, activitylog.ActionLoginFailed
	s.writeList(w, r, v, f) // scopes f
}

// criticalEvents handles GET /api/v1/system-events/critical: the list
// of system events of severity critical, with the parameters and the
// answer of GET /api/v1/system-events. severity may repeat critical.
func (s *server) criticalEvents(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	err := kindResourceNamed("system-events").check(v, false)
	var f activitylog.Filter
	if err == nil {
		f, err = ParseFilter(v)
	}
	if err == nil {
		err = fixed("severity", string(f.Severity), string(activitylog.SeverityCritical), "/api/v1/system-events/critical")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Kind, f.Severity = activitylog.KindSystem, activitylog.SeverityCritical
	s.writeList(w, r, v, f) // scopes f
}

// slowRequests handles GET /api/v1/request-events/slow: the list of
// request events that took threshold_ms or longer, with the other
// parameters and the answer of GET /api/v1/request-events.
func (s *server) slowRequests(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	rest := url.Values{}
	for name, vs := range v {
		if name != thresholdMSParam.name {
			rest[name] = vs
		}
	}
	var ms int
	err := kindResourceNamed("request-events").check(rest, false)
	if err == nil {
		ms, err = thresholdMSParam.from(v)
	}
	var f activitylog.Filter
	if err == nil {
		f, err = ParseFilter(rest)
	}
	if err == nil {
		f.Kind = activitylog.KindRequest
		f, err = scope(r, f)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a := activitylog.AnalyzerFor(s.q)
	c := activitylog.Condition{MinDuration: time.Duration(ms) * time.Millisecond}
	page, err := a.Select(r.Context(), f, c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := a.CountSelect(r.Context(), f, c, countLimit+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ans := listAnswer{Count: n, Next: link(v, page.Next), Previous: link(v, page.Prev)}
	if n > countLimit {
		ans.Count, ans.CountExact = countLimit, new(bool)
	}
	if ans.Results, err = s.annotate(r.Context(), page.Events); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeListAnswer(w, &ans)
}

// scoped returns the filter of an aggregation over [from, to) of
// tenant (all the principal may see when ""), held to the principal.
func scoped(r *http.Request, from, to time.Time, tenant string) (activitylog.Filter, error) {
	return scope(r, activitylog.Filter{From: from, To: to, Tenant: tenant})
}

// bruteForceSuspects handles
// GET /api/v1/login-events/brute-force-suspects: the client addresses
// and usernames with at least threshold failed logins in the last
// window_hours hours.
func (s *server) bruteForceSuspects(w http.ResponseWriter, r *http.Request) {
	is, ss, err := analyticsParams(r.URL.Query(), []intParam{thresholdParam, windowHoursParam}, "tenant")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := time.Now().UTC()
	from := now.Add(-time.Duration(is["window_hours"]) * time.Hour)
	f, err := scoped(r, from, now, ss["tenant"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	suspects, err := activitylog.AnalyzerFor(s.q).Suspects(r.Context(), f, is["threshold"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, struct {
		Threshold   int                    `json:"threshold"`
		WindowHours int                    `json:"window_hours"`
		From        time.Time              `json:"from"`
		To          time.Time              `json:"to"`
		Suspects    []activitylog.Offender `json:"suspects"`
	}{is["threshold"], is["window_hours"], from, now, suspects})
}

// errorRates handles GET /api/v1/request-events/error-rates: 4xx and
// 5xx counts and rates of the request events of the last hours, by
// route and status.
func (s *server) errorRates(w http.ResponseWriter, r *http.Request) {
	is, ss, err := analyticsParams(r.URL.Query(), []intParam{hoursParam, limitParam}, "tenant")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from, to := hourWindow(time.Now(), is["hours"])
	f, err := scoped(r, from, to, ss["tenant"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rates, err := activitylog.AnalyzerFor(s.q).ErrorRates(r.Context(), f, is["limit"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rates)
}

// dashboard handles GET /api/v1/dashboard: the dashboard of the last
// hours, in buckets of activitylog.DefaultBucket, with its series per
// bucket and its top countries (top bounds the users, the routes and
// the countries).
func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	is, ss, err := analyticsParams(r.URL.Query(), []intParam{hoursParam, topParam}, "tenant")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from, to := hourWindow(time.Now(), is["hours"])
	f, err := scoped(r, from, to, ss["tenant"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := activitylog.AnalyzerFor(s.q).Dashboard(r.Context(), f, &activitylog.DashboardOptions{Top: is["top"]})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, d)
}

// summary handles GET /api/v1/summary: what one user (user_id, by
// default the principal) did in the last days. A principal with
// view_logs alone may ask for itself only.
func (s *server) summary(w http.ResponseWriter, r *http.Request) {
	is, ss, err := analyticsParams(r.URL.Query(), []intParam{daysParam}, "user_id", "tenant")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	user := ss["user_id"]
	if user == "" {
		if p := activitylog.PrincipalFrom(r.Context()); p != nil {
			user = p.ID
		}
	}
	if user == "" {
		s.fail(w, r, activitylog.Invalid("user_id", "", "is required: the principal has no id"))
		return
	}
	now := time.Now().UTC()
	from := now.AddDate(0, 0, -is["days"])
	// The user must be one the principal may read (a view_logs
	// principal: itself); the counts are then held to what it may
	// read, which for view_logs alone leaves out the failed logins,
	// recorded with an anonymous actor.
	probe := activitylog.Filter{From: from, To: now, Tenant: ss["tenant"], ActorID: user}
	if _, err := scope(r, probe); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := scoped(r, from, now, ss["tenant"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sum, err := activitylog.AnalyzerFor(s.q).Summary(r.Context(), f, user)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, sum)
}
