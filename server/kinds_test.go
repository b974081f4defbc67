package server_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// The API counts lists with CountUpTo where the store has it.
var _ interface {
	CountUpTo(ctx context.Context, f activitylog.Filter, limit int64) (int64, error)
} = (*sqlite.Store)(nil)

// kindSeed is a trail with every kind but custom in the tenants acme
// and globex, and the fields the per-kind resources filter on. Its
// indexes are in time order.
func kindSeed() []activitylog.Event {
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	req := func(method, origin string) activitylog.Request {
		return activitylog.Request{Method: method, Path: "/api/orders", Origin: origin, RemoteIP: "10.0.0.1"}
	}
	info, warn, errs, crit := activitylog.SeverityInfo, activitylog.SeverityWarning, activitylog.SeverityError, activitylog.SeverityCritical
	ev := []activitylog.Event{
		0: {Kind: activitylog.KindCRUD, Action: "create", Severity: info, Tenant: "acme", Tool: "gorm", Actor: activitylog.Actor{ID: "amy"},
			Object: activitylog.Object{Type: "invoice", ID: "INV-1"}},
		1: {Kind: activitylog.KindCRUD, Action: "update", Severity: info, Tenant: "globex", Tool: "gorm", Actor: activitylog.Actor{ID: "gus"},
			Object: activitylog.Object{Type: "order", ID: "7"}},
		2: {Kind: activitylog.KindAuth, Action: "login", Severity: info, Tenant: "acme", Tool: "web", Actor: activitylog.Actor{ID: "ann"},
			Request: req("POST", "")},
		3: {Kind: activitylog.KindAuth, Action: "login_failed", Severity: activitylog.SeverityNotice, Tenant: "globex", Tool: "web"},
		4: {Kind: activitylog.KindRequest, Action: "GET", Severity: info, Tenant: "acme", Tool: "web", Actor: activitylog.Actor{ID: "ann"},
			Request: req("GET", ""), Response: activitylog.Response{Status: 200}},
		5: {Kind: activitylog.KindRequest, Action: "POST", Severity: errs, Tenant: "acme", Tool: "web",
			Request: req("POST", "https://shop.example"), Response: activitylog.Response{Status: 500}},
		6: {Kind: activitylog.KindRequest, Action: "GET", Severity: warn, Tenant: "globex", Tool: "web",
			Request: req("GET", ""), Response: activitylog.Response{Status: 404}},
		7: {Kind: activitylog.KindCORS, Action: "GET", Severity: info, Tenant: "acme",
			Request: req("GET", "https://partner.example"), Response: activitylog.Response{Status: 200}},
		8: {Kind: activitylog.KindCORS, Action: "preflight", Severity: warn, Tenant: "globex",
			Request: req("OPTIONS", "null"), Response: activitylog.Response{Status: 403}},
		9:  {Kind: activitylog.KindSystem, Action: "error", Severity: errs, Tenant: "acme", Category: "database", Message: "disk full"},
		10: {Kind: activitylog.KindSystem, Action: "error", Severity: crit, Tenant: "globex", Category: "panic"},
		11: {Kind: activitylog.KindExport, Action: "export", Severity: info, Tenant: "acme", Tool: "cli", Actor: activitylog.Actor{ID: "amy"}},
		12: {Kind: activitylog.KindExternal, Action: "GET", Severity: info, Tenant: "acme", Tool: "http",
			Request: req("GET", ""), Response: activitylog.Response{Status: 200}},
		13: {Kind: activitylog.KindExternal, Action: "POST", Severity: errs, Tenant: "globex", Tool: "grpc",
			Request: req("POST", ""), Response: activitylog.Response{Status: 503}},
		14: {Kind: activitylog.KindCustom, Action: "deploy", Severity: info, Tenant: "acme", Tool: "cli"},
		15: {Kind: activitylog.KindSystem, Action: "warning", Severity: warn, Tenant: "acme", Category: "database"},
	}
	for i := range ev {
		ev[i].Time = at(i)
		ev[i].ID = activitylog.NewID(ev[i].Time)
	}
	return ev
}

// TestKindResources runs the scenarios of every per-kind resource:
// each lists its own kind only, newest first, in the shape of
// GET /api/v1/events; takes the filters of its kind and refuses kind,
// the filters of other kinds and unknown parameters, naming them.
func TestKindResources(t *testing.T) {
	t.Parallel()
	seed := kindSeed()
	type list = []int
	for _, sc := range []scenario{
		// Each lists its kind, newest first, with count, next and previous.
		{name: "crud-events", url: "/api/v1/crud-events", wantStatus: 200, wantResults: list{1, 0},
			wantContent: []string{`"count":2,"next":null,"previous":null,"results":[`}, notContent: []string{"count_exact"}},
		{name: "login-events", url: "/api/v1/login-events", wantStatus: 200, wantResults: list{3, 2}, wantContent: []string{`"count":2,"next":null,"previous":null`}},
		{name: "request-events", url: "/api/v1/request-events", wantStatus: 200, wantResults: list{6, 5, 4}, wantContent: []string{`"count":3,"next":null,"previous":null`}},
		{name: "cors-events", url: "/api/v1/cors-events", wantStatus: 200, wantResults: list{8, 7}, wantContent: []string{`"count":2,"next":null,"previous":null`}},
		{name: "system-events", url: "/api/v1/system-events", wantStatus: 200, wantResults: list{15, 10, 9}, wantContent: []string{`"count":3,"next":null,"previous":null`}},
		{name: "export-events", url: "/api/v1/export-events", wantStatus: 200, wantResults: list{11}, wantContent: []string{`"count":1,"next":null,"previous":null`}},
		{name: "external-events", url: "/api/v1/external-events", wantStatus: 200, wantResults: list{13, 12}, wantContent: []string{`"count":2,"next":null,"previous":null`}},
		{name: "a kind with no events", url: "/api/v1/export-events", seed: seed[:5], wantStatus: 200,
			wantContent: []string{`{"count":0,"next":null,"previous":null,"results":[]}`}},

		// Their filters work.
		{name: "crud object_type", url: "/api/v1/crud-events?object_type=order", wantStatus: 200, wantResults: list{1}, wantContent: []string{`"count":1`}},
		{name: "crud object_type and object_id", url: "/api/v1/crud-events?object_type=invoice&object_id=INV-1", wantStatus: 200, wantResults: list{0}},
		{name: "login action", url: "/api/v1/login-events?action=login_failed", wantStatus: 200, wantResults: list{3}},
		{name: "login tenant and user_id", url: "/api/v1/login-events?tenant=acme&user_id=ann", wantStatus: 200, wantResults: list{2}},
		{name: "request status_gte", url: "/api/v1/request-events?status_gte=400", wantStatus: 200, wantResults: list{6, 5}},
		{name: "request status", url: "/api/v1/request-events?status=500", wantStatus: 200, wantResults: list{5}},
		{name: "request method, any case", url: "/api/v1/request-events?method=get", wantStatus: 200, wantResults: list{6, 4}},
		{name: "request method and status_lte", url: "/api/v1/request-events?method=GET&status_lte=299", wantStatus: 200, wantResults: list{4}},
		{name: "request origin", url: "/api/v1/request-events?origin=https://shop.example", wantStatus: 200, wantResults: list{5}},
		{name: "request tool and remote_ip", url: "/api/v1/request-events?tool=web&remote_ip=10.0.0.1&ordering=time", wantStatus: 200, wantResults: list{4, 5, 6}},
		{name: "cors origin", url: "/api/v1/cors-events?origin=null", wantStatus: 200, wantResults: list{8}},
		{name: "cors method", url: "/api/v1/cors-events?method=OPTIONS", wantStatus: 200, wantResults: list{8}},
		{name: "system severity", url: "/api/v1/system-events?severity=critical", wantStatus: 200, wantResults: list{10}},
		{name: "system category", url: "/api/v1/system-events?category=database", wantStatus: 200, wantResults: list{15, 9}},
		{name: "system search", url: "/api/v1/system-events?search=DISK", wantStatus: 200, wantResults: list{9}},
		{name: "export tool", url: "/api/v1/export-events?tool=cli", wantStatus: 200, wantResults: list{11}}, // not the custom event 14
		{name: "external tool", url: "/api/v1/external-events?tool=grpc", wantStatus: 200, wantResults: list{13}},
		{name: "external status", url: "/api/v1/external-events?status_gte=500&method=POST", wantStatus: 200, wantResults: list{13}},
		{name: "no match", url: "/api/v1/external-events?status=418", wantStatus: 200, wantResults: list{}, wantContent: []string{`"count":0`}},
		{name: "empty values are unset", url: "/api/v1/request-events?method=&status=&origin=", wantStatus: 200, wantResults: list{6, 5, 4}},
		{name: "paging links stay within the resource", url: "/api/v1/request-events?page_size=1&method=GET", wantStatus: 200, wantResults: list{6},
			wantContent: []string{`"count":2`, `"next":"?cursor=`, `method=GET`, `page_size=1`, `"previous":null`}, notContent: []string{"kind="},
			check: func(t *testing.T, e *env, body []byte) {
				var p listBody
				json.Unmarshal(body, &p)
				w := e.do(t, "GET", "/api/v1/request-events"+*p.Next, "", nil)
				var next listBody
				if err := json.Unmarshal(w.Body.Bytes(), &next); w.Code != 200 || err != nil {
					t.Fatalf("next link: %d %s", w.Code, w.Body)
				}
				if len(next.Results) != 1 || next.Results[0].ID != seed[4].ID || next.Next != nil || next.Previous == nil {
					t.Errorf("next page: %s", w.Body)
				}
			}},
		{name: "page", url: "/api/v1/system-events?page=2&page_size=2", wantStatus: 200, wantResults: list{9},
			wantContent: []string{`"count":3`, `"next":null`, `"previous":"?cursor=`}},

		// kind is fixed by the resource.
		{name: "kind refused", url: "/api/v1/request-events?kind=crud", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "kind", value: "crud"}, wantContent: []string{"is fixed by the resource"}},
		{name: "kind refused even when it agrees", url: "/api/v1/crud-events?kind=crud", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "kind", value: "crud"}, wantContent: []string{"is fixed by the resource", "/api/v1/crud-events"}},
		{name: "empty kind refused too", url: "/api/v1/login-events?kind=", wantStatus: 400, wantError: &wantError{code: "invalid", field: "kind", value: ""}},

		// Field filters of other kinds are refused, saying who takes them.
		{name: "method on crud-events", url: "/api/v1/crud-events?method=GET", wantStatus: 400,
			wantError:   &wantError{code: "invalid", field: "method", value: "GET"},
			wantContent: []string{"is not a filter of /api/v1/crud-events", "/api/v1/request-events, /api/v1/cors-events, /api/v1/external-events and /api/v1/events"}},
		{name: "status on login-events", url: "/api/v1/login-events?status=200", wantStatus: 400, wantError: &wantError{code: "invalid", field: "status", value: "200"}},
		{name: "status_gte on system-events", url: "/api/v1/system-events?status_gte=500", wantStatus: 400, wantError: &wantError{code: "invalid", field: "status_gte", value: "500"}},
		{name: "object_type on request-events", url: "/api/v1/request-events?object_type=order", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "object_type", value: "order"}, wantContent: []string{"it is taken by /api/v1/crud-events and /api/v1/events"}},
		{name: "severity on cors-events", url: "/api/v1/cors-events?severity=error", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "severity", value: "error"}, wantContent: []string{"/api/v1/system-events"}},
		{name: "category on external-events", url: "/api/v1/external-events?category=panic", wantStatus: 400, wantError: &wantError{code: "invalid", field: "category", value: "panic"}},
		{name: "origin on export-events", url: "/api/v1/export-events?origin=null", wantStatus: 400, wantError: &wantError{code: "invalid", field: "origin", value: "null"}},
		{name: "object_id on system-events", url: "/api/v1/system-events?object_id=7", wantStatus: 400, wantError: &wantError{code: "invalid", field: "object_id", value: "7"}},

		// Unknown parameters are refused, naming what the resource takes.
		{name: "unknown parameter", url: "/api/v1/request-events?colour=red", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "colour", value: "red"}, wantContent: []string{"is not a known parameter of /api/v1/request-events", "method, origin"}},
		{name: "unknown parameter names the resource's own", url: "/api/v1/crud-events?verbose", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "verbose", value: ""}, notContent: []string{"method"}},
		{name: "format is an export's", url: "/api/v1/login-events?format=csv", wantStatus: 400, wantError: &wantError{code: "invalid", field: "format", value: "csv"}},
		{name: "the first bad parameter by name", url: "/api/v1/system-events?zeta=1&method=GET&kind=auth", wantStatus: 400, wantError: &wantError{code: "invalid", field: "kind", value: "auth"}},

		// Bad values are refused, naming the parameter and the value.
		{name: "status not a number", url: "/api/v1/request-events?status=5xx", wantStatus: 400, wantError: &wantError{code: "invalid", field: "status", value: "5xx"}},
		{name: "status out of range", url: "/api/v1/request-events?status=600", wantStatus: 400, wantError: &wantError{code: "invalid", field: "status", value: "600"}},
		{name: "status zero", url: "/api/v1/cors-events?status=0", wantStatus: 400, wantError: &wantError{code: "invalid", field: "status", value: "0"}},
		{name: "method not a token", url: "/api/v1/request-events?method=GET%20/x", wantStatus: 400, wantError: &wantError{code: "invalid", field: "method", value: "GET /x"}},
		{name: "severity unknown", url: "/api/v1/system-events?severity=fatal", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "severity", value: "fatal"}, wantContent: []string{"debug, info, notice, warning, error, critical"}},
		{name: "category too long", url: "/api/v1/system-events?category=" + strings.Repeat("c", 1025), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "category", value: strings.Repeat("c", 32) + "…"}},
		{name: "tool too long", url: "/api/v1/external-events?tool=" + strings.Repeat("t", 1025), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "tool", value: strings.Repeat("t", 32) + "…"}},
		{name: "status_lte below status_gte", url: "/api/v1/external-events?status_gte=500&status_lte=400", wantStatus: 400, wantError: &wantError{code: "invalid", field: "status_lte", value: "400"}},
		{name: "repeated parameter", url: "/api/v1/crud-events?object_id=1&object_id=2", wantStatus: 400, wantError: &wantError{code: "invalid", field: "object_id", value: "2"}},
		{name: "bad page_size", url: "/api/v1/login-events?page_size=1001", wantStatus: 400, wantError: &wantError{code: "invalid", field: "page_size", value: "1001"}},
		{name: "bad date", url: "/api/v1/export-events?date_from=yesterday", wantStatus: 400, wantError: &wantError{code: "invalid", field: "date_from", value: "yesterday"}},

		// One event: of the resource's kind, else 404.
		{name: "detail", url: "/api/v1/system-events/" + seed[9].ID.String(), wantStatus: 200,
			wantContent: []string{`"id":"` + seed[9].ID.String() + `"`, `"kind":"system"`, `"category":"database"`}},
		{name: "detail of every kind", url: "/api/v1/external-events/" + seed[13].ID.String(), wantStatus: 200, wantContent: []string{`"tool":"grpc"`}},
		{name: "detail of another kind", url: "/api/v1/request-events/" + seed[0].ID.String(), wantStatus: 404,
			wantError: &wantError{code: "not_found"}, wantContent: []string{"no request event has id " + seed[0].ID.String()}, notContent: []string{`"kind":"crud"`}},
		{name: "detail of a custom event", url: "/api/v1/system-events/" + seed[14].ID.String(), wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{name: "detail unknown", url: "/api/v1/login-events/0190c2a1-0000-7000-8000-000000000001", wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{name: "detail not a uuid", url: "/api/v1/login-events/last-week", wantStatus: 400, wantError: &wantError{code: "invalid", field: "id", value: "last-week"}},
		{name: "detail not a uuid on every resource", url: "/api/v1/external-events/42", wantStatus: 400, wantError: &wantError{code: "invalid", field: "id", value: "42"}},
		{name: "detail too deep", url: "/api/v1/login-events/" + seed[2].ID.String() + "/x", wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{name: "no POST", method: "POST", url: "/api/v1/request-events", body: "{}", contentType: "application/json", wantStatus: 405,
			wantError: &wantError{code: "method_not_allowed"}},

		// Exports: the kind, the resource's filters, its refusals.
		{name: "export", url: "/api/v1/request-events/export?format=json&ordering=time", wantStatus: 200,
			check: kindExported(seed, 4, 5, 6)},
		{name: "export with a filter", url: "/api/v1/system-events/export?format=json&severity=error", wantStatus: 200,
			check: kindExported(seed, 9)},
		{name: "export of crud", url: "/api/v1/crud-events/export?format=json&object_type=invoice", wantStatus: 200, check: kindExported(seed, 0)},
		{name: "export refuses kind", url: "/api/v1/cors-events/export?format=json&kind=request", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "kind", value: "request"}},
		{name: "export refuses a foreign field filter", url: "/api/v1/login-events/export?method=GET", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "method", value: "GET"}},
		{name: "export refuses paging", url: "/api/v1/request-events/export?page_size=10", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "page_size", value: "10"}},
		{name: "export refuses an unknown format", url: "/api/v1/request-events/export?format=pdf", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "format", value: "pdf"}},
		{name: "export refuses an unknown parameter", url: "/api/v1/export-events/export?colour=red", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "colour", value: "red"}, wantContent: []string{"format"}, notContent: []string{"page_size"}},
	} {
		if sc.seed == nil {
			sc.seed = seed
		}
		t.Run(sc.name, sc.run)
	}
}

// kindExported checks a JSON export's events: the seed's events want,
// in that order.
func kindExported(seed []activitylog.Event, want ...int) func(t *testing.T, e *env, body []byte) {
	return func(t *testing.T, e *env, body []byte) {
		t.Helper()
		var got []activitylog.Event
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("decode export: %v: %s", err, body)
		}
		var idx []int
		for _, g := range got {
			idx = append(idx, indexOf(seed, g.ID))
		}
		if !slices.Equal(idx, want) {
			t.Errorf("exported seed %v, want %v", idx, want)
		}
	}
}

// TestKindResourcesScoped reads the per-kind resources as principals
// held to the tenant acme (and, for acme-viewer, to their own events):
// lists and exports carry acme's events only, another tenant's event
// is a 404, and naming another tenant is a 403.
func TestKindResourcesScoped(t *testing.T) {
	t.Parallel()
	seed := kindSeed()
	rec := &kindAuditRecorder{}
	e := newEnv(t, &server.Options{Audit: rec})
	e.seed(t, seed)
	get := func(t *testing.T, token, url string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest("GET", url, nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		return w
	}
	for _, c := range []struct {
		token, url string
		want       []int // seed indexes, in order
	}{
		{"acme-admin", "/api/v1/request-events", []int{5, 4}},
		{"acme-admin", "/api/v1/request-events?status_gte=400", []int{5}},
		{"acme-admin", "/api/v1/crud-events", []int{0}},
		{"acme-admin", "/api/v1/system-events?category=database", []int{15, 9}},
		{"acme-admin", "/api/v1/cors-events?origin=null", nil}, // globex's
		{"acme-admin", "/api/v1/login-events?tenant=acme", []int{2}},
		{"acme-viewer", "/api/v1/request-events", []int{4}}, // ann's own
		{"acme-viewer", "/api/v1/login-events", []int{2}},
		{"globex-all", "/api/v1/external-events", []int{13}},
		{"root", "/api/v1/external-events", []int{13, 12}},
	} {
		w := get(t, c.token, c.url)
		var p listBody
		if err := json.Unmarshal(w.Body.Bytes(), &p); w.Code != 200 || err != nil {
			t.Errorf("%s GET %s: %d %s", c.token, c.url, w.Code, w.Body)
			continue
		}
		var idx []int
		for _, r := range p.Results {
			idx = append(idx, indexOf(seed, r.ID))
		}
		if !slices.Equal(idx, c.want) || p.Count != int64(len(c.want)) {
			t.Errorf("%s GET %s: seed %v, count %d; want %v", c.token, c.url, idx, p.Count, c.want)
		}
	}

	// Exports are held to the tenant too, and record the kind.
	w := get(t, "acme-admin", "/api/v1/request-events/export?format=json&ordering=time")
	if w.Code != 200 {
		t.Fatalf("acme-admin export: %d %s", w.Code, w.Body)
	}
	kindExported(seed, 4, 5)(t, e, w.Body.Bytes())
	if w := get(t, "acme-admin", "/api/v1/system-events/export?format=json"); !strings.Contains(w.Body.String(), seed[9].ID.String()) ||
		strings.Contains(w.Body.String(), seed[10].ID.String()) {
		t.Errorf("acme-admin system export: %d %s; want acme's event 9 and not globex's 10", w.Code, w.Body)
	}
	if got := rec.filters(); len(got) != 2 || got[0]["kind"] != "request" || got[0]["format"] != nil || got[1]["kind"] != "system" {
		t.Errorf("the exports recorded the filters %v; want kind request, then system", got)
	}

	// Another tenant: its events are not found, its name is refused.
	if w := get(t, "acme-admin", "/api/v1/request-events/"+seed[6].ID.String()); w.Code != 404 {
		t.Errorf("acme-admin reading globex's request event: %d %s, want 404", w.Code, w.Body)
	}
	if w := get(t, "acme-admin", "/api/v1/request-events/"+seed[5].ID.String()); w.Code != 200 {
		t.Errorf("acme-admin reading acme's request event: %d %s, want 200", w.Code, w.Body)
	}
	for _, u := range []string{"/api/v1/request-events?tenant=globex", "/api/v1/request-events/export?tenant=globex"} {
		if w := get(t, "acme-admin", u); w.Code != 403 || !strings.Contains(w.Body.String(), `"field":"tenant"`) {
			t.Errorf("acme-admin GET %s: %d %s, want 403 naming tenant", u, w.Code, w.Body)
		}
	}
	if w := get(t, "acme-viewer", "/api/v1/login-events?user_id=amy"); w.Code != 403 {
		t.Errorf("acme-viewer reading amy's logins: %d %s, want 403", w.Code, w.Body)
	}
	if w := get(t, "acme-ingest", "/api/v1/login-events"); w.Code != 403 {
		t.Errorf("an ingest key listing logins: %d %s, want 403", w.Code, w.Body)
	}
}

// kindAuditRecorder keeps the filters of the export events it is given.
type kindAuditRecorder struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (r *kindAuditRecorder) Record(ctx context.Context, e activitylog.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *kindAuditRecorder) filters() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, e := range r.events {
		m, _ := e.Extra["filters"].(map[string]any)
		out = append(out, m)
	}
	return out
}

// TestListCountBound: a list counts exactly up to 500 matches; beyond,
// count is 500 and count_exact false, on every page and every list.
func TestListCountBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var seed []activitylog.Event
	for i := range 501 {
		ev := activitylog.Event{Time: base.Add(time.Duration(i) * time.Second), Kind: activitylog.KindRequest, Action: "GET",
			Severity: activitylog.SeverityInfo, Request: activitylog.Request{Method: "GET"}, Response: activitylog.Response{Status: 200 + i%2}}
		ev.ID = activitylog.NewID(ev.Time)
		seed = append(seed, ev)
	}
	e.seed(t, seed)
	for _, c := range []struct {
		url   string
		count int64
		exact bool
	}{
		{"/api/v1/events", 500, false},
		{"/api/v1/request-events?page_size=10", 500, false},
		{"/api/v1/request-events?page=3&page_size=10", 500, false},
		{"/api/v1/request-events?ordering=-status", 500, false},
		{"/api/v1/events?date_to=" + base.Add(500*time.Second).Format(time.RFC3339), 500, true}, // exactly 500
		{"/api/v1/request-events?status=200", 251, true},
		{"/api/v1/login-events", 0, true},
	} {
		w := e.do(t, "GET", c.url, "", nil)
		var p struct {
			listBody
			CountExact *bool `json:"count_exact"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &p); w.Code != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", c.url, w.Code, w.Body)
		}
		if p.Count != c.count || (p.CountExact == nil) != c.exact || p.CountExact != nil && *p.CountExact {
			t.Errorf("GET %s: count %d, count_exact %v; want %d, exact %v (count_exact left out when exact, false otherwise)",
				c.url, p.Count, p.CountExact, c.count, c.exact)
		}
		if c.exact == strings.Contains(w.Body.String(), `"count_exact":false`) {
			t.Errorf("GET %s: body %.120s…", c.url, w.Body)
		}
	}
	// The first page says where count_exact goes.
	w := e.do(t, "GET", "/api/v1/request-events?page_size=1", "", nil)
	if !strings.HasPrefix(w.Body.String(), `{"count":500,"count_exact":false,"next":"?cursor=`) {
		t.Errorf("first page: %.120s…", w.Body)
	}
}

// TestKindRoutesRegistered: every kind but custom has its resource,
// with list, export and detail.
func TestKindRoutesRegistered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, res := range []string{"crud-events", "login-events", "request-events", "cors-events", "system-events", "export-events", "external-events"} {
		for _, path := range []string{"/api/v1/" + res, "/api/v1/" + res + "/export?format=ndjson", "/api/v1/" + res + "/0190c2a1-0000-7000-8000-000000000001"} {
			w := e.do(t, "GET", path, "", nil)
			if want := map[bool]int{true: 404, false: 200}[strings.Contains(path, "0190c2a1")]; w.Code != want {
				t.Errorf("GET %s: %d %s, want %d", path, w.Code, w.Body, want)
			}
		}
	}
	if w := e.do(t, "GET", "/api/v1/custom-events", "", nil); w.Code != 404 {
		t.Errorf("GET /api/v1/custom-events: %d, want 404 (custom events are listed by /api/v1/events?kind=custom)", w.Code)
	}
}

// TestMillionEventsAPI measures pages of 50 with their count through
// the API over a SQLite store of a million events (storetest's trail,
// the store sqlite's TestMillionEvents uses): median and 95th
// percentile of 200 requests each, against the target of 20 ms at the
// 95th percentile. It runs only with ACTIVITYLOG_BENCH_1M=1; with
// ACTIVITYLOG_BENCH_1M_DB=file the store is kept there between runs:
//
//	ACTIVITYLOG_BENCH_1M=1 ACTIVITYLOG_BENCH_1M_DB=/tmp/million.db go test -run TestMillionEventsAPI -v -timeout 30m ./server/
func TestMillionEventsAPI(t *testing.T) {
	if os.Getenv("ACTIVITYLOG_BENCH_1M") == "" {
		t.Skip("set ACTIVITYLOG_BENCH_1M=1 to measure pages over a million events (about a minute to build the store)")
	}
	const million = 1_000_000
	path := os.Getenv("ACTIVITYLOG_BENCH_1M_DB")
	if path == "" {
		path = filepath.Join(t.TempDir(), "million.db")
	}
	store, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	switch n, err := store.Count(ctx, activitylog.Filter{}); {
	case err != nil:
		t.Fatal(err)
	case n == 0:
		start := time.Now()
		if err := storetest.WriteTrail(ctx, store, million, 10_000, time.Now().Add(-million*2*time.Second), 2*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d events in %v", million, time.Since(start).Round(time.Millisecond))
	case n != million:
		t.Fatalf("%s holds %d events, neither none nor a million; remove it", path, n)
	}
	h := server.New(store, nil, &server.Options{Logger: discard, Authenticate: testAuth})
	get := func(url string) listBody {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", url, nil))
		var p listBody
		if err := json.Unmarshal(w.Body.Bytes(), &p); w.Code != 200 || err != nil || len(p.Results) == 0 {
			t.Fatalf("GET %s: %d %.300s", url, w.Code, w.Body)
		}
		return p
	}
	next := func(url string) string { // the second page, through the first page's next link
		p := get(url)
		base, _, _ := strings.Cut(url, "?")
		return base + *p.Next
	}
	type page struct{ name, url string }
	pages := []page{
		{"", "/api/v1/events?kind=request&status_gte=500&page_size=50"},
		{"", "/api/v1/request-events?status_gte=500&page_size=50"},
		{"", "/api/v1/events?user_id=user-42&page_size=50"},
		{"", "/api/v1/request-events?page_size=50"},
		{"", "/api/v1/login-events?page_size=50"},
		{"", "/api/v1/crud-events?object_type=order&page_size=50"},
		{"", "/api/v1/system-events?severity=critical&page_size=50"},
		{"", "/api/v1/request-events?method=POST&status=500&page_size=50"},
		{"", "/api/v1/cors-events?origin=null&page_size=50"},
		{"", "/api/v1/external-events?tenant=tenant-9&tool=grpc&page_size=50"},
		{"request-events?status_gte=500&page_size=50, page 2 (cursor)", next("/api/v1/request-events?status_gte=500&page_size=50")},
		{"", "/api/v1/events?page_size=50"},
	}
	for _, pg := range pages {
		if pg.name == "" {
			pg.name = strings.TrimPrefix(pg.url, "/api/v1/")
		}
		const runs = 200
		var ds []time.Duration
		var p listBody
		for i := range runs + 5 {
			t0 := time.Now()
			p = get(pg.url)
			if i >= 5 { // the first runs warm the cache
				ds = append(ds, time.Since(t0))
			}
		}
		slices.Sort(ds)
		q := func(f float64) time.Duration { return ds[max(0, int(math.Ceil(f*float64(len(ds))))-1)] }
		t.Logf("%-64s p50 %6.2fms p95 %6.2fms  count %d", pg.name, kindMs(q(0.5)), kindMs(q(0.95)), p.Count)
		// Figures, not assertions: timings go to BENCHMARKS.md, never
		// into a pass or a fail (the machine is shared and noisy).
	}
}

func kindMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
