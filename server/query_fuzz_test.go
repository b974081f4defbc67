package server_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// queryRoutes are the GET routes that take query parameters.
var queryRoutes = []string{
	"/api/v1/events",
	"/api/v1/events/export",
	"/api/v1/crud-events",
	"/api/v1/login-events",
	"/api/v1/request-events",
	"/api/v1/system-events/export",
	"/api/v1/objects/invoice/INV-7/events",
	"/api/v1/login-events/failed",
	"/api/v1/login-events/brute-force-suspects",
	"/api/v1/request-events/slow",
	"/api/v1/request-events/error-rates",
	"/api/v1/system-events/critical",
	"/api/v1/dashboard",
	"/api/v1/summary",
}

// FuzzQueryParams sends arbitrary query strings, malformed escapes,
// invalid UTF-8, NUL bytes, huge numbers and SQL metacharacters
// included, to every route that reads query parameters, over a real
// store holding a few events. It must never panic or answer 5xx; a 400
// must be a JSON error naming the parameter refused (one the query
// holds) and its value; and a GET never changes what is stored.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{
		"",
		"kind=crud&action=update&page_size=10",
		"date_from=2025-01-02T15:04:05Z&date_to=2025-01-03T00:00:00+01:00",
		"last_hours=24&user_id=42&tenant=acme&remote_ip=::1",
		"status_gte=400&status_lte=499&search=boom&ordering=-status",
		"page=99999999999999999999999&page_size=1e30",
		"search=%27%3B+DROP+TABLE+events%3B--&object_id=%25_%5C",
		"search=%00&tenant=a%00b&action=%ff%fe",
		"ordering=time%3B+DELETE+FROM+events&cursor=%27%22",
		"%zz=1&;=2&a=%",
		"cursor=eyJvIjoiLXRpbWUiLCJpZCI6IjAxOTBjMmExLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMSJ9&page=2",
		"hours=-1&limit=0&threshold=NaN&window=1e400",
		"date_from=" + strings.Repeat("9", 400),
		"format=xml&fields=" + strings.Repeat("a,", 200),
	} {
		for i := range queryRoutes {
			f.Add(uint8(i), s)
		}
	}
	e := newEnv(f, nil)
	e.seed(f, []activitylog.Event{
		{Kind: activitylog.KindCRUD, Action: "update", Object: activitylog.Object{Type: "invoice", ID: "INV-7"}},
		{Kind: activitylog.KindAuth, Action: "login_failed", Actor: activitylog.Actor{ID: "42"}},
		{Kind: activitylog.KindRequest, Action: "GET", Response: activitylog.Response{Status: 500}},
	})
	f.Fuzz(func(t *testing.T, route uint8, raw string) {
		path := queryRoutes[int(route)%len(queryRoutes)]
		before := e.count(t)
		r := httptest.NewRequest("GET", path, nil)
		r.URL.RawQuery = raw
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("GET %s?%s: status %d: %s", path, raw, w.Code, w.Body)
		}
		if after := e.count(t); after != before {
			t.Fatalf("GET %s?%s changed the store: %d events, then %d", path, raw, before, after)
		}
		if w.Code < 400 {
			if !strings.HasSuffix(path, "/export") && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("GET %s?%s: %d with a body that is not JSON: %.200q", path, raw, w.Code, w.Body)
			}
			return
		}
		var eb errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("GET %s?%s: status %d without a JSON error: %.200q", path, raw, w.Code, w.Body)
		}
		if w.Code != 400 {
			return
		}
		v, _ := url.ParseQuery(raw)
		name := eb.Error.Field
		if eb.Error.Value == nil {
			t.Fatalf("GET %s?%s: 400 naming no value: %s", path, raw, w.Body)
		}
		// A parameter without a name ("?=0") is named "(empty name)".
		// The name as JSON carries it, a long one cut short with "…";
		// invalid UTF-8 as \x escapes (showValue), or as U+FFFD where an
		// error passes it on as it is.
		held := false
		for k := range v {
			for _, j := range []string{asJSONString(k), asJSONString(escapedName(k))} {
				if k == "" {
					j = "(empty name)"
				}
				held = held || j == name || strings.HasSuffix(name, "…") && strings.HasPrefix(j, strings.TrimSuffix(name, "…"))
			}
		}
		if !held {
			t.Fatalf("GET %s?%s: 400 names field %q, which the query does not hold: %s", path, raw, name, w.Body)
		}
	})
}

// FuzzEventIDPath sends arbitrary ids to the routes that take one in
// their path: a malformed id is a 400 naming "id", an unknown one a
// 404, never a 5xx.
func FuzzEventIDPath(f *testing.F) {
	for _, s := range []string{"0190c2a1-0000-7000-8000-000000000001", "nope", "%00", "' OR 1=1 --", strings.Repeat("f", 5000), "\xff\xfe", ""} {
		f.Add(s, false)
		f.Add(s, true)
	}
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, id string, resolution bool) {
		if id == "" || strings.Contains(id, "/") {
			return // another route
		}
		path := "/api/v1/events/" + id
		if resolution {
			path += "/resolution"
		}
		r := httptest.NewRequest("GET", "/api/v1/events/x", nil)
		r.URL.Path, r.URL.RawPath = path, ""
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("GET %q: status %d: %s", path, w.Code, w.Body)
		}
		if w.Code < 400 {
			return
		}
		var eb errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
			t.Fatalf("GET %q: status %d without a JSON error: %.200q", path, w.Code, w.Body)
		}
		if w.Code == 400 && eb.Error.Field != "id" {
			t.Fatalf("GET %q: 400 naming field %q, not id: %s", path, eb.Error.Field, w.Body)
		}
	})
}

// asJSONString is s after a JSON round trip.
func asJSONString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

// escapedName is a parameter's name as an error shows one that is not
// UTF-8: its bytes as Go escapes (\xfa).
func escapedName(k string) string {
	if utf8.ValidString(k) {
		return k
	}
	q := strconv.Quote(k)
	return q[1 : len(q)-1]
}
