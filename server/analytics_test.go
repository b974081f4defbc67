package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
)

// analyticsSeed returns the events of the analytics tests, at times
// relative to cur, the start of the current hour: in the tenants acme
// (ann, amy) and globex (gus).
//
//	requests (24 h): R1 ann GET /orders/{id} 200 10ms  R2 ann GET /orders/{id} 404 20ms
//	                 R3 amy POST /orders 500 1.5s      R4 gus (globex) GET /orders/{id} 503 2.5s
//	                 R5 amy /health (no route) 200 5ms; and R6 ann 500 30ms ten days ago
//	auth: A1 ann login; F1–F6 failed logins for "Ann"/"ann " from 203.0.113.9 at cur;
//	      F7–F8 (globex) for bob from 198.51.100.4 at cur; F9–F13 for carl from 192.0.2.66, 10 h ago
//	system: S1 amy error/critical, S2 (globex, no actor) error/error, S3 ann warning/warning
//	crud: C1–C5 ann create, update, update, delete, read; C6 gus (globex) create
//	countries (request.geo): R1, R2, R6 DE Germany; R3 FR France; R4 US United States;
//	      F1–F6 NL Netherlands; the others none
func analyticsSeed(cur time.Time) []activitylog.Event {
	var es []activitylog.Event
	add := func(d time.Duration, e activitylog.Event) {
		e.Time = cur.Add(d)
		e.ID = activitylog.NewID(e.Time)
		if e.Severity == "" {
			e.Severity = activitylog.SeverityInfo
		}
		es = append(es, e)
	}
	user := func(id string) activitylog.Actor {
		return activitylog.Actor{ID: id, Name: strings.ToUpper(id[:1]) + id[1:], Type: activitylog.ActorUser}
	}
	req := func(tenant, actor, route, path string, status int, dur time.Duration, ip string) activitylog.Event {
		return activitylog.Event{Kind: activitylog.KindRequest, Action: "GET", Tenant: tenant, Actor: user(actor),
			Request:  activitylog.Request{Method: "GET", Route: route, Path: path, RemoteIP: ip},
			Response: activitylog.Response{Status: status, Duration: dur}}
	}
	geo := func(e activitylog.Event, code, name string) activitylog.Event {
		e.Request.Geo = activitylog.Geo{CountryCode: code, Country: name}
		return e
	}
	add(-2*time.Hour, geo(req("acme", "ann", "GET /orders/{id}", "/orders/1", 200, 10*time.Millisecond, "203.0.113.1"), "DE", "Germany"))
	add(-2*time.Hour+time.Minute, geo(req("acme", "ann", "GET /orders/{id}", "/orders/2", 404, 20*time.Millisecond, "203.0.113.1"), "DE", "Germany"))
	add(-3*time.Hour, geo(req("acme", "amy", "POST /orders", "/orders", 500, 1500*time.Millisecond, "203.0.113.2"), "FR", "France"))
	add(-1*time.Hour, geo(req("globex", "gus", "GET /orders/{id}", "/orders/3", 503, 2500*time.Millisecond, "198.51.100.1"), "US", "United States"))
	add(0, req("acme", "amy", "", "/health", 200, 5*time.Millisecond, "203.0.113.2"))
	add(-240*time.Hour, geo(req("acme", "ann", "GET /orders/{id}", "/orders/1", 500, 30*time.Millisecond, "203.0.113.1"), "DE", "Germany"))

	add(-5*time.Hour, activitylog.Event{Kind: activitylog.KindAuth, Action: "login", Tenant: "acme", Actor: user("ann"),
		Object: activitylog.Object{Type: "user", ID: "ann"}, Request: activitylog.Request{RemoteIP: "203.0.113.1"}})
	failed := func(tenant, username, ip, userID string) activitylog.Event {
		e := activitylog.Event{Kind: activitylog.KindAuth, Action: "login_failed", Severity: activitylog.SeverityWarning,
			Tenant: tenant, Actor: activitylog.Actor{Type: activitylog.ActorAnonymous},
			Request: activitylog.Request{RemoteIP: ip}, Extra: map[string]any{"username": username}}
		if userID != "" {
			e.Object = activitylog.Object{Type: "user", ID: userID}
		}
		return e
	}
	for i := range 6 {
		add(time.Duration(i), geo(failed("acme", []string{"Ann", "ann "}[i%2], "203.0.113.9", "ann"), "NL", "Netherlands"))
	}
	for i := range 2 {
		add(time.Duration(i), failed("globex", "bob", "198.51.100.4", "gus"))
	}
	for i := range 5 {
		add(-10*time.Hour+time.Duration(i), failed("acme", "carl", "192.0.2.66", ""))
	}

	add(-4*time.Hour, activitylog.Event{Kind: activitylog.KindSystem, Action: "error", Severity: activitylog.SeverityCritical, Tenant: "acme", Actor: user("amy"), Message: "disk full"})
	add(-6*time.Hour, activitylog.Event{Kind: activitylog.KindSystem, Action: "error", Severity: activitylog.SeverityError, Tenant: "globex", Message: "queue stuck"})
	add(-7*time.Hour, activitylog.Event{Kind: activitylog.KindSystem, Action: "warning", Severity: activitylog.SeverityWarning, Tenant: "acme", Actor: user("ann"), Message: "quota at 90%"})

	for i, a := range []string{"create", "update", "update", "delete", "read"} {
		add(-8*time.Hour-time.Duration(i)*time.Minute, activitylog.Event{Kind: activitylog.KindCRUD, Action: a, Tenant: "acme", Actor: user("ann"),
			Object: activitylog.Object{Type: "order", ID: strconv.Itoa(i)}})
	}
	add(-8*time.Hour, activitylog.Event{Kind: activitylog.KindCRUD, Action: "create", Tenant: "globex", Actor: user("gus"),
		Object: activitylog.Object{Type: "order", ID: "9"}})
	return es
}

// analyticsEnv is an env with analyticsSeed stored, and the hour the
// seed is relative to. It waits out the last seconds of an hour, so
// that the requests see the hour the seed was made for.
func analyticsEnv(t *testing.T) (*env, time.Time, []activitylog.Event) {
	t.Helper()
	if left := time.Until(time.Now().UTC().Truncate(time.Hour).Add(time.Hour)); left < 10*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
	cur := time.Now().UTC().Truncate(time.Hour)
	e := newEnv(t, nil)
	seed := analyticsSeed(cur)
	if err := e.store.Write(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	return e, cur, seed
}

// lookup returns the value at path in v: keys and indexes separated by
// dots, "#" for the length of an array or object.
func lookup(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			if k == "#" {
				v = float64(len(x))
				continue
			}
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			if k == "#" {
				v = float64(len(x))
				continue
			}
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// aScenario is one request of the analytics tests: who makes it (a
// bearer token of principals_test.go; "" is the superuser), and what it
// must answer: the status, values at JSON paths, or an error.
type aScenario struct {
	name   string
	token  string
	url    string
	status int
	want   map[string]any
	err    *wantError
}

func (sc aScenario) run(t *testing.T, e *env) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, sc.url, nil)
	if sc.token != "" {
		r.Header.Set("Authorization", "Bearer "+sc.token)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	body := w.Body.Bytes()
	if w.Code != sc.status {
		t.Errorf("%s: status = %d, want %d; body: %s", sc.url, w.Code, sc.status, body)
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if sc.err != nil {
		checkError(t, body, *sc.err)
	}
	var got any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	for path, want := range sc.want {
		// Compare as JSON decodes: numbers are float64.
		b, _ := json.Marshal(want)
		var w any
		json.Unmarshal(b, &w)
		v, ok := lookup(got, path)
		if !ok {
			t.Errorf("%s: no %s in %s", sc.url, path, body)
			continue
		}
		if !reflect.DeepEqual(v, w) {
			t.Errorf("%s: %s = %v, want %v", sc.url, path, v, w)
		}
	}
}

func runAnalytics(t *testing.T, scs []aScenario) {
	t.Helper()
	e, _, _ := analyticsEnv(t)
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, e) })
	}
}

// invalid is the 400 naming field and value.
func invalid(field, value string) *wantError {
	return &wantError{code: "invalid", field: field, value: value}
}

// forbidden is the 403 naming field and value.
func forbidden(field, value string) *wantError {
	return &wantError{code: "forbidden", field: field, value: value}
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	p50 := int64(activitylog.LatencyBucketEnd(activitylog.LatencyBucket(20 * time.Millisecond)))
	p95 := int64(activitylog.LatencyBucketEnd(activitylog.LatencyBucket(2500 * time.Millisecond)))
	if p50 != 20_480_000 || p95 != 2_621_440_000 {
		t.Fatalf("latency buckets changed: p50 %d, p95 %d", p50, p95)
	}
	runAnalytics(t, []aScenario{
		{name: "superuser, defaults", url: "/api/v1/dashboard", status: 200, want: map[string]any{
			"total": 28, "kinds.request": 5, "kinds.auth": 14, "kinds.system": 3, "kinds.crud": 6, "kinds.cors": 0, "kinds.#": 8,
			"failed_logins": 13, "unique_ips": 6,
			"top_users.#": 3, "top_users.0.id": "ann", "top_users.0.name": "Ann", "top_users.0.count": 9,
			"top_users.1.id": "amy", "top_users.1.count": 3, "top_users.2.id": "gus", "top_users.2.count": 2,
			"top_routes.#": 3, "top_routes.0.route": "GET /orders/{id}", "top_routes.0.requests": 3, "top_routes.0.errors": 2,
			"top_routes.1.route": "/health", "top_routes.2.route": "POST /orders", "top_routes.2.errors": 1,
			"requests": 5, "errors_4xx": 1, "errors_5xx": 2, "error_rate": 0.6,
			"latency_p50_ns": p50, "latency_p95_ns": p95,
			"bucket_ns": int64(time.Hour), "series.start.#": 24, "series.counts.request.#": 24,
			"series.counts.request.23": 1, "series.counts.auth.23": 8, "series.counts.request.21": 2, "series.counts.request.22": 1,
			// The series per bucket: R3 500 in hour 20, R1 200 and R2 404
			// in 21, R4 503 in 22, R5 200 in 23; F9–F13 in 13, F1–F8 in 23.
			"series.requests.#": 24, "series.requests.20": 1, "series.requests.21": 2, "series.requests.22": 1, "series.requests.23": 1, "series.requests.0": 0,
			"series.errors_4xx.21": 1, "series.errors_4xx.20": 0, "series.errors_5xx.20": 1, "series.errors_5xx.21": 0, "series.errors_5xx.22": 1,
			"series.failed_logins.#": 24, "series.failed_logins.13": 5, "series.failed_logins.23": 8, "series.failed_logins.22": 0,
			"series.latency_p95_ns.#": 24, "series.latency_p95_ns.21": p50, "series.latency_p95_ns.22": p95, "series.latency_p95_ns.19": 0,
			"series.latency_p95_ns.20": int64(activitylog.LatencyBucketEnd(activitylog.LatencyBucket(1500 * time.Millisecond))),
			// Countries: F1–F6 NL, R1 and R2 DE, R3 FR, R4 US (FR before
			// US: the same count, by code); 18 events without one.
			"top_countries.#": 4, "top_countries.0.code": "NL", "top_countries.0.name": "Netherlands", "top_countries.0.count": 6,
			"top_countries.1.code": "DE", "top_countries.1.count": 2, "top_countries.2.code": "FR", "top_countries.3.code": "US",
			"top_countries.3.name": "United States", "no_country": 18,
		}},
		{name: "hours=1", url: "/api/v1/dashboard?hours=1", status: 200, want: map[string]any{
			"total": 9, "failed_logins": 8, "requests": 1, "series.start.#": 1, "unique_ips": 3,
		}},
		{name: "hours=720, 6 h buckets", url: "/api/v1/dashboard?hours=720&top=1", status: 200, want: map[string]any{
			"total": 29, "requests": 6, "errors_5xx": 3, "bucket_ns": int64(24 * time.Hour), "top_users.#": 1, "top_routes.#": 1,
			"top_countries.#": 1, "top_countries.0.code": "NL", "no_country": 18, // 29 less NL 6, DE 3, FR 1, US 1
		}},
		{name: "hours=168 has 6 h buckets", url: "/api/v1/dashboard?hours=168", status: 200, want: map[string]any{
			"total": 28, "bucket_ns": int64(6 * time.Hour),
		}},
		{name: "acme admin: its tenant", token: "acme-admin", url: "/api/v1/dashboard", status: 200, want: map[string]any{
			"total": 23, "failed_logins": 11, "requests": 4, "errors_4xx": 1, "errors_5xx": 1, "error_rate": 0.5,
			"unique_ips": 4, "top_users.#": 2, "top_users.0.id": "ann", "top_users.1.id": "amy",
			"top_countries.#": 3, "top_countries.2.code": "FR", "no_country": 14, "series.errors_5xx.22": 0,
		}},
		{name: "acme admin naming its tenant", token: "acme-admin", url: "/api/v1/dashboard?tenant=acme", status: 200, want: map[string]any{"total": 23}},
		{name: "acme admin naming another tenant", token: "acme-admin", url: "/api/v1/dashboard?tenant=globex", status: 403, err: forbidden("tenant", "globex")},
		{name: "globex", token: "globex-all", url: "/api/v1/dashboard", status: 200, want: map[string]any{
			"total": 5, "failed_logins": 2, "requests": 1, "errors_5xx": 1, "error_rate": 1, "unique_ips": 2,
			"top_users.#": 1, "top_users.0.id": "gus", "top_users.0.count": 2,
			"top_countries.#": 1, "top_countries.0.code": "US", "no_country": 4, "series.errors_5xx.22": 1, "series.failed_logins.23": 2,
		}},
		{name: "superuser, one tenant", url: "/api/v1/dashboard?tenant=globex", status: 200, want: map[string]any{"total": 5}},
		{name: "view_logs only: its own events", token: "acme-viewer", url: "/api/v1/dashboard", status: 200, want: map[string]any{
			"total": 9, "failed_logins": 0, "requests": 2, "errors_4xx": 1, "error_rate": 0.5, "unique_ips": 1,
			"top_users.#": 1, "top_users.0.id": "ann", "top_users.0.count": 9, "kinds.crud": 5,
		}},
		{name: "no tenant: only events without one", token: "notenant", url: "/api/v1/dashboard", status: 200, want: map[string]any{"total": 0, "top_users.#": 0}},
		{name: "lacks view_logs", token: "acme-ingest", url: "/api/v1/dashboard", status: 403, err: &wantError{code: "forbidden"}},
		{name: "unauthenticated", token: "none", url: "/api/v1/dashboard", status: 401, err: &wantError{code: "unauthorized"}},
		{name: "hours=0", url: "/api/v1/dashboard?hours=0", status: 400, err: invalid("hours", "0")},
		{name: "hours too many", url: "/api/v1/dashboard?hours=8785", status: 400, err: invalid("hours", "8785")},
		{name: "hours not a number", url: "/api/v1/dashboard?hours=day", status: 400, err: invalid("hours", "day")},
		{name: "hours twice", url: "/api/v1/dashboard?hours=1&hours=2", status: 400, err: invalid("hours", "2")},
		{name: "top=0", url: "/api/v1/dashboard?top=0", status: 400, err: invalid("top", "0")},
		{name: "unknown parameter", url: "/api/v1/dashboard?kind=auth", status: 400, err: invalid("kind", "auth")},
	})
}

func TestBruteForceSuspects(t *testing.T) {
	t.Parallel()
	const path = "/api/v1/login-events/brute-force-suspects"
	runAnalytics(t, []aScenario{
		{name: "defaults: 5 in 1 h", url: path, status: 200, want: map[string]any{
			"threshold": 5, "window_hours": 1, "suspects.#": 2,
			"suspects.0.type": "ip", "suspects.0.key": "203.0.113.9", "suspects.0.failures": 6,
			"suspects.1.type": "username", "suspects.1.key": "ann", "suspects.1.failures": 6,
		}},
		{name: "threshold 2", url: path + "?threshold=2", status: 200, want: map[string]any{
			"suspects.#": 4, "suspects.2.key": "198.51.100.4", "suspects.2.failures": 2, "suspects.3.key": "bob",
		}},
		{name: "24 h", url: path + "?window_hours=24", status: 200, want: map[string]any{
			"suspects.#": 4, "suspects.2.key": "192.0.2.66", "suspects.2.failures": 5, "suspects.3.key": "carl",
		}},
		{name: "acme admin", token: "acme-admin", url: path + "?threshold=2", status: 200, want: map[string]any{
			"suspects.#": 2, "suspects.0.key": "203.0.113.9", "suspects.1.key": "ann",
		}},
		{name: "globex", token: "globex-all", url: path + "?threshold=2", status: 200, want: map[string]any{
			"suspects.#": 2, "suspects.0.key": "198.51.100.4", "suspects.1.key": "bob",
		}},
		{name: "view_logs only sees no anonymous attempt", token: "acme-viewer", url: path + "?threshold=1&window_hours=24", status: 200,
			want: map[string]any{"suspects.#": 0}},
		{name: "threshold 0", url: path + "?threshold=0", status: 400, err: invalid("threshold", "0")},
		{name: "threshold too high", url: path + "?threshold=10001", status: 400, err: invalid("threshold", "10001")},
		{name: "window too long", url: path + "?window_hours=8785", status: 400, err: invalid("window_hours", "8785")},
		{name: "unknown parameter", url: path + "?window=1h", status: 400, err: invalid("window", "1h")},
	})
}

func TestErrorRates(t *testing.T) {
	t.Parallel()
	const path = "/api/v1/request-events/error-rates"
	runAnalytics(t, []aScenario{
		{name: "defaults", url: path, status: 200, want: map[string]any{
			"requests": 5, "errors_4xx": 1, "errors_5xx": 2, "rate_4xx": 0.2, "rate_5xx": 0.4, "error_rate": 0.6,
			"routes.#": 2, "truncated": false,
			"routes.0.route": "GET /orders/{id}", "routes.0.requests": 3, "routes.0.errors_4xx": 1, "routes.0.errors_5xx": 1,
			"routes.0.statuses": []map[string]any{{"status": 404, "count": 1}, {"status": 503, "count": 1}},
			"routes.1.route":    "POST /orders", "routes.1.error_rate": 1, "routes.1.rate_5xx": 1,
		}},
		{name: "limit 1", url: path + "?limit=1", status: 200, want: map[string]any{"routes.#": 1, "truncated": true}},
		{name: "720 hours", url: path + "?hours=720", status: 200, want: map[string]any{"requests": 6, "errors_5xx": 3, "routes.0.requests": 4}},
		{name: "acme admin", token: "acme-admin", url: path, status: 200, want: map[string]any{
			"requests": 4, "errors_4xx": 1, "errors_5xx": 1, "routes.#": 2,
			"routes.0.route": "GET /orders/{id}", "routes.0.requests": 2, "routes.1.route": "POST /orders",
		}},
		{name: "globex", token: "globex-all", url: path, status: 200, want: map[string]any{"requests": 1, "errors_5xx": 1, "routes.0.rate_5xx": 1}},
		{name: "view_logs only", token: "acme-viewer", url: path, status: 200, want: map[string]any{
			"requests": 2, "errors_4xx": 1, "errors_5xx": 0, "routes.#": 1, "routes.0.rate_4xx": 0.5,
		}},
		{name: "hours=0", url: path + "?hours=0", status: 400, err: invalid("hours", "0")},
		{name: "limit too high", url: path + "?limit=1001", status: 400, err: invalid("limit", "1001")},
		{name: "unknown parameter", url: path + "?last_hours=24", status: 400, err: invalid("last_hours", "24")},
	})
}

func TestAnalyticsLists(t *testing.T) {
	t.Parallel()
	runAnalytics(t, []aScenario{
		{name: "failed logins", url: "/api/v1/login-events/failed", status: 200, want: map[string]any{
			"count": 13, "results.#": 13, "results.0.action": "login_failed", "next": nil,
		}},
		{name: "failed logins paged", url: "/api/v1/login-events/failed?page_size=5", status: 200, want: map[string]any{"count": 13, "results.#": 5}},
		{name: "failed logins of one address", url: "/api/v1/login-events/failed?remote_ip=192.0.2.66", status: 200, want: map[string]any{"count": 5}},
		{name: "failed logins, action repeated", url: "/api/v1/login-events/failed?action=login_failed", status: 200, want: map[string]any{"count": 13}},
		{name: "failed logins, acme admin", token: "acme-admin", url: "/api/v1/login-events/failed", status: 200, want: map[string]any{"count": 11}},
		{name: "failed logins, globex", token: "globex-all", url: "/api/v1/login-events/failed", status: 200, want: map[string]any{"count": 2}},
		{name: "failed logins, view_logs only", token: "acme-viewer", url: "/api/v1/login-events/failed", status: 200, want: map[string]any{"count": 0, "results.#": 0}},
		{name: "failed logins, other action", url: "/api/v1/login-events/failed?action=login", status: 400, err: invalid("action", "login")},
		{name: "failed logins, kind", url: "/api/v1/login-events/failed?kind=auth", status: 400, err: invalid("kind", "auth")},
		{name: "failed logins, a filter of other kinds", url: "/api/v1/login-events/failed?status=404", status: 400, err: invalid("status", "404")},
		{name: "failed logins, bad page size", url: "/api/v1/login-events/failed?page_size=0", status: 400, err: invalid("page_size", "0")},

		{name: "slow, default 1 s", url: "/api/v1/request-events/slow", status: 200, want: map[string]any{
			"count": 2, "results.#": 2, "results.0.response.duration_ns": int64(2500 * time.Millisecond),
			"results.1.response.duration_ns": int64(1500 * time.Millisecond),
		}},
		{name: "slow, 15 ms, every time", url: "/api/v1/request-events/slow?threshold_ms=15&ordering=duration", status: 200, want: map[string]any{
			"count": 4, "results.0.response.duration_ns": int64(20 * time.Millisecond), "results.1.response.duration_ns": int64(30 * time.Millisecond),
		}},
		{name: "slow, paged", url: "/api/v1/request-events/slow?threshold_ms=15&page_size=3", status: 200, want: map[string]any{"count": 4, "results.#": 3}},
		{name: "slow, with a status filter", url: "/api/v1/request-events/slow?threshold_ms=15&status_gte=500", status: 200, want: map[string]any{"count": 3}},
		{name: "slow, last hours", url: "/api/v1/request-events/slow?threshold_ms=15&last_hours=48", status: 200, want: map[string]any{"count": 3}},
		{name: "slow, acme admin", token: "acme-admin", url: "/api/v1/request-events/slow", status: 200, want: map[string]any{"count": 1, "results.0.actor.id": "amy"}},
		{name: "slow, globex", token: "globex-all", url: "/api/v1/request-events/slow", status: 200, want: map[string]any{"count": 1, "results.0.actor.id": "gus"}},
		{name: "slow, view_logs only", token: "acme-viewer", url: "/api/v1/request-events/slow?threshold_ms=15", status: 200, want: map[string]any{"count": 2, "results.0.actor.id": "ann"}},
		{name: "slow, threshold 0", url: "/api/v1/request-events/slow?threshold_ms=0", status: 400, err: invalid("threshold_ms", "0")},
		{name: "slow, threshold too high", url: "/api/v1/request-events/slow?threshold_ms=3600001", status: 400, err: invalid("threshold_ms", "3600001")},
		{name: "slow, threshold not a number", url: "/api/v1/request-events/slow?threshold_ms=1s", status: 400, err: invalid("threshold_ms", "1s")},
		{name: "slow, threshold twice", url: "/api/v1/request-events/slow?threshold_ms=1&threshold_ms=2", status: 400, err: invalid("threshold_ms", "2")},
		{name: "slow, kind", url: "/api/v1/request-events/slow?kind=crud", status: 400, err: invalid("kind", "crud")},
		{name: "slow, another tenant", token: "acme-admin", url: "/api/v1/request-events/slow?tenant=globex", status: 403, err: forbidden("tenant", "globex")},

		{name: "critical", url: "/api/v1/system-events/critical", status: 200, want: map[string]any{
			"count": 1, "results.0.severity": "critical", "results.0.message": "disk full",
		}},
		{name: "critical, severity repeated", url: "/api/v1/system-events/critical?severity=critical", status: 200, want: map[string]any{"count": 1}},
		{name: "critical, acme admin", token: "acme-admin", url: "/api/v1/system-events/critical", status: 200, want: map[string]any{"count": 1}},
		{name: "critical, globex", token: "globex-all", url: "/api/v1/system-events/critical", status: 200, want: map[string]any{"count": 0}},
		{name: "critical, view_logs only", token: "acme-viewer", url: "/api/v1/system-events/critical", status: 200, want: map[string]any{"count": 0}},
		{name: "critical, other severity", url: "/api/v1/system-events/critical?severity=error", status: 400, err: invalid("severity", "error")},
		{name: "critical, unknown parameter", url: "/api/v1/system-events/critical?threshold_ms=5", status: 400, err: invalid("threshold_ms", "5")},
	})
}

func TestSummary(t *testing.T) {
	t.Parallel()
	e, _, seed := analyticsEnv(t)
	ann := map[string]any{
		"user_id": "ann", "total_actions": 10, "creates": 1, "updates": 2, "deletes": 1, "reads": 1, "logins": 1,
		"failed_logins": 6, "system_errors": 0, "unresolved": 1,
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	for _, sc := range []aScenario{
		{name: "superuser", url: "/api/v1/summary?user_id=ann", status: 200, want: ann},
		{name: "one day", url: "/api/v1/summary?user_id=ann&days=1", status: 200, want: with(ann, "total_actions", 9)},
		{name: "amy", url: "/api/v1/summary?user_id=amy", status: 200, want: map[string]any{
			"total_actions": 3, "system_errors": 1, "unresolved": 1, "failed_logins": 0, "creates": 0,
		}},
		{name: "gus", url: "/api/v1/summary?user_id=gus", status: 200, want: map[string]any{"total_actions": 2, "failed_logins": 2, "creates": 1}},
		{name: "defaults to the principal", token: "acme-admin", url: "/api/v1/summary", status: 200, want: map[string]any{"user_id": "amy", "total_actions": 3}},
		{name: "acme admin", token: "acme-admin", url: "/api/v1/summary?user_id=ann", status: 200, want: ann},
		{name: "globex sees none of ann's", token: "globex-all", url: "/api/v1/summary?user_id=ann", status: 200, want: map[string]any{"total_actions": 0, "failed_logins": 0}},
		{name: "view_logs only: itself, without anonymous attempts", token: "acme-viewer", url: "/api/v1/summary", status: 200, want: with(ann, "failed_logins", 0)},
		{name: "view_logs only naming itself", token: "acme-viewer", url: "/api/v1/summary?user_id=ann&days=1", status: 200, want: map[string]any{"total_actions": 9}},
		{name: "view_logs only naming another", token: "acme-viewer", url: "/api/v1/summary?user_id=amy", status: 403, err: forbidden("user_id", "amy")},
		{name: "another tenant", token: "acme-admin", url: "/api/v1/summary?user_id=ann&tenant=globex", status: 403, err: forbidden("tenant", "globex")},
		{name: "days=0", url: "/api/v1/summary?user_id=ann&days=0", status: 400, err: invalid("days", "0")},
		{name: "days too many", url: "/api/v1/summary?user_id=ann&days=3661", status: 400, err: invalid("days", "3661")},
		{name: "unknown parameter", url: "/api/v1/summary?user=ann", status: 400, err: invalid("user", "ann")},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, e) })
	}

	// Resolving ann's warning leaves nothing unresolved.
	var warning activitylog.ID
	for _, ev := range seed {
		if ev.Actor.ID == "ann" && ev.Severity == activitylog.SeverityWarning {
			warning = ev.ID
		}
	}
	if err := e.store.Resolve(context.Background(), activitylog.Resolution{EventID: warning, ResolvedBy: "ops"}); err != nil {
		t.Fatal(err)
	}
	aScenario{url: "/api/v1/summary?user_id=ann", status: 200, want: with(ann, "unresolved", 0)}.run(t, e)
}

// TestDashboardWindow checks the window of hours=N: the current hour
// and the N-1 before it, on the hour, in hourly buckets.
func TestDashboardWindow(t *testing.T) {
	t.Parallel()
	e, cur, _ := analyticsEnv(t)
	aScenario{url: "/api/v1/dashboard?hours=3", status: 200, want: map[string]any{
		"from":                  cur.Add(-2 * time.Hour).Format(time.RFC3339),
		"to":                    cur.Add(time.Hour).Format(time.RFC3339),
		"series.start.0":        cur.Add(-2 * time.Hour).Format(time.RFC3339),
		"series.start.2":        cur.Format(time.RFC3339),
		"series.start.#":        3,
		"series.counts.request": []int{2, 1, 1},
		"series.requests":       []int{2, 1, 1},
		"series.errors_4xx":     []int{1, 0, 0},
		"series.errors_5xx":     []int{0, 1, 0},
		"series.failed_logins":  []int{0, 0, 8},
	}}.run(t, e)
	aScenario{url: "/api/v1/request-events/error-rates?hours=2", status: 200, want: map[string]any{
		"from": cur.Add(-time.Hour).Format(time.RFC3339), "requests": 2,
	}}.run(t, e)
}

// TestAnalyticsOverScanAnalyzer serves the analytics from a Querier that
// is not an Analyzer: the API falls back to activitylog.ScanAnalyzer,
// with the same answers.
func TestAnalyticsOverScanAnalyzer(t *testing.T) {
	t.Parallel()
	e, _, _ := analyticsEnv(t)
	plain := struct{ activitylog.Querier }{e.store} // hides every other method
	if _, ok := activitylog.Querier(plain).(activitylog.Analyzer); ok {
		t.Fatal("the wrapper is an Analyzer")
	}
	e2 := &env{store: e.store, rec: e.rec, h: newHandler(plain)}
	for _, u := range []string{
		"/api/v1/dashboard", "/api/v1/dashboard?hours=720&top=2", "/api/v1/request-events/error-rates",
		"/api/v1/login-events/brute-force-suspects?threshold=2&window_hours=24", "/api/v1/summary?user_id=ann",
		"/api/v1/request-events/slow?threshold_ms=15&page_size=2", "/api/v1/login-events/failed?page_size=4",
	} {
		for _, tok := range []string{"", "acme-admin", "acme-viewer"} {
			a, b := get(t, e.h, u, tok), get(t, e2.h, u, tok)
			if a != b {
				t.Errorf("%s as %q:\n store %s\n  scan %s", u, tok, a, b)
			}
		}
	}
}

func newHandler(q activitylog.Querier) http.Handler {
	return server.New(q, nil, &server.Options{Logger: discard, Authenticate: testAuth})
}

func get(t *testing.T, h http.Handler, url, token string) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("GET %s as %q: %d %s", url, token, w.Code, w.Body)
	}
	// The times of the windows that end now differ between two calls.
	var v map[string]any
	json.Unmarshal(w.Body.Bytes(), &v)
	if _, ok := v["suspects"]; ok {
		delete(v, "from")
		delete(v, "to")
	}
	if _, ok := v["user_id"]; ok {
		delete(v, "from")
		delete(v, "to")
	}
	b, _ := json.Marshal(v)
	return fmt.Sprint(string(b))
}
