package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
)

// resolveScenario is one request to the resolution endpoints against a
// store seeded with seed, some of its events resolved beforehand.
type resolveScenario struct {
	name        string
	seed        []activitylog.Event
	handler     string                   // "" the full API; "read-only"; "no resolver": a Querier that is not a Resolver
	before      []activitylog.Resolution // stored before the request
	method      string                   // default GET
	url         string
	contentType string // default application/json for POST
	header      http.Header
	body        string

	wantStatus  int
	wantContent []string
	wantError   *wantError
	// wantResolved is the event the request resolves: the store must
	// then hold exactly the resolution answered, with the time of the
	// request.
	wantResolved *activitylog.ID
	// wantUnresolved is an event the request must leave without a
	// resolution.
	wantUnresolved *activitylog.ID
}

func (sc resolveScenario) run(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seed := sc.seed
	e.seed(t, seed)
	for _, r := range sc.before {
		if err := e.store.Resolve(context.Background(), r); err != nil {
			t.Fatalf("resolve before: %v", err)
		}
	}
	h := e.h
	switch sc.handler {
	case "read-only":
		h = server.New(e.store, nil, &server.Options{Logger: discard, Authenticate: testAuth})
	case "no resolver":
		h = server.New(struct{ activitylog.Querier }{e.store}, e.rec, &server.Options{Logger: discard, Authenticate: testAuth})
	}
	stored := make([][]byte, len(seed))
	for i := range seed {
		stored[i] = getJSON(t, e, seed[i].ID)
	}

	method, ct := sc.method, sc.contentType
	if method == "" {
		method = "GET"
	}
	if method == "POST" && ct == "" {
		ct = "application/json"
	}
	var body io.Reader
	if sc.body != "" {
		body = strings.NewReader(sc.body)
	}
	start := time.Now()
	w := e.doWith(t, h, method, sc.url, ct, sc.header, body)
	end := time.Now()
	got := w.Body.Bytes()

	if w.Code != sc.wantStatus {
		t.Errorf("status = %d, want %d; body: %s", w.Code, sc.wantStatus, got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !json.Valid(got) {
		t.Errorf("body is not JSON: %s", got)
	}
	for _, s := range sc.wantContent {
		if !strings.Contains(string(got), s) {
			t.Errorf("body lacks %q: %s", s, got)
		}
	}
	if sc.wantError != nil {
		checkError(t, got, *sc.wantError)
	}
	if sc.wantResolved != nil {
		var answered activitylog.Resolution
		if err := json.Unmarshal(got, &answered); err != nil {
			t.Fatalf("decode resolution: %v: %s", err, got)
		}
		r, err := e.store.Resolution(context.Background(), *sc.wantResolved)
		if err != nil {
			t.Fatalf("the store has no resolution: %v", err)
		}
		if !reflect.DeepEqual(r, answered) || r.EventID != *sc.wantResolved {
			t.Errorf("stored %+v, answered %+v", r, answered)
		}
		if r.ResolvedAt.Before(start.Truncate(time.Second)) || r.ResolvedAt.After(end) {
			t.Errorf("resolved_at %v is not the time of the request", r.ResolvedAt)
		}
	}
	if sc.wantUnresolved != nil {
		if r, err := e.store.Resolution(context.Background(), *sc.wantUnresolved); !errors.Is(err, activitylog.ErrNotResolved) {
			t.Errorf("the store has a resolution %+v (%v), want none", r, err)
		}
	}
	// Whatever happened, no stored event changed.
	for i := range seed {
		if after := getJSON(t, e, seed[i].ID); string(after) != string(stored[i]) {
			t.Errorf("event %d changed:\nbefore %s\n after %s", i, stored[i], after)
		}
	}
}

// getJSON returns the event with id as GET /api/v1/events/{id} answers it.
func getJSON(t *testing.T, e *env, id activitylog.ID) []byte {
	t.Helper()
	w := e.do(t, "GET", "/api/v1/events/"+id.String(), "", nil)
	if w.Code != 200 {
		t.Fatalf("GET event %s: %d %s", id, w.Code, w.Body)
	}
	return w.Body.Bytes()
}

func TestResolve(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	sys := seed[6].ID // the system error "disk full"
	resolve := "/api/v1/events/" + sys.String() + "/resolve"
	unknown := "0190c2a1-0000-7000-8000-000000000001"
	long := strings.Repeat("x", activitylog.MaxShortField+1)
	for _, sc := range []resolveScenario{
		{name: "resolve", method: "POST", url: resolve, body: `{"resolved_by":"ops@example.test","note":"freed 20 GiB"}`,
			wantStatus: 200, wantResolved: &sys,
			wantContent: []string{`"event_id":"` + sys.String() + `"`, `"resolved_by":"ops@example.test"`, `"note":"freed 20 GiB"`, `"resolved_at":"`}},
		{name: "without a note", method: "POST", url: resolve, body: `{"resolved_by":"ann"}`,
			wantStatus: 200, wantResolved: &sys, wantContent: []string{`"resolved_by":"ann"`}},
		{name: "charset utf-8", method: "POST", url: resolve, contentType: "application/json; charset=UTF-8", body: `{"resolved_by":"ann"}`,
			wantStatus: 200, wantResolved: &sys},
		{name: "again: the latest wins", method: "POST", url: resolve, body: `{"resolved_by":"bob","note":"really fixed"}`,
			before:     []activitylog.Resolution{{EventID: sys, ResolvedBy: "ann", Note: "fixed", ResolvedAt: time.Now().Add(time.Hour)}},
			wantStatus: 200, wantResolved: &sys, wantContent: []string{`"resolved_by":"bob"`}},
		{name: "any kind of event", method: "POST", url: "/api/v1/events/" + seed[1].ID.String() + "/resolve", body: `{"resolved_by":"ann"}`,
			wantStatus: 200, wantResolved: &seed[1].ID},
		{name: "upper-case id", method: "POST", url: "/api/v1/events/" + strings.ToUpper(sys.String()) + "/resolve", body: `{"resolved_by":"ann"}`,
			wantStatus: 200, wantResolved: &sys},

		// Refused.
		{name: "unknown event", method: "POST", url: "/api/v1/events/" + unknown + "/resolve", body: `{"resolved_by":"ann"}`,
			wantStatus: 404, wantError: &wantError{code: "not_found"}, wantContent: []string{unknown}},
		{name: "malformed id", method: "POST", url: "/api/v1/events/42/resolve", body: `{"resolved_by":"ann"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "id", value: "42"}},
		// resolved_by left out is the signed-in principal (root, who
		// has no name), as the console sends it: the note alone. Given,
		// it must name someone: empty, blank or null is refused, as is a
		// body that is null rather than an object.
		{name: "no resolved_by", method: "POST", url: resolve, body: `{"note":"x"}`,
			wantStatus: 200, wantResolved: &sys, wantContent: []string{`"resolved_by":"root"`, `"note":"x"`}},
		{name: "an empty object", method: "POST", url: resolve, body: `{}`,
			wantStatus: 200, wantResolved: &sys, wantContent: []string{`"resolved_by":"root"`}},
		{name: "the principal named", method: "POST", url: resolve, body: `{"resolved_by":"root"}`,
			wantStatus: 200, wantResolved: &sys, wantContent: []string{`"resolved_by":"root"`}},
		{name: "empty resolved_by", method: "POST", url: resolve, body: `{"resolved_by":"","note":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "resolved_by", value: ""},
			wantContent: []string{"is blank", "leave resolved_by out"}, wantUnresolved: &sys},
		{name: "null resolved_by", method: "POST", url: resolve, body: `{"resolved_by":null}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "resolved_by", value: "null"},
			wantContent: []string{"must be a string"}, wantUnresolved: &sys},
		{name: "blank resolved_by", method: "POST", url: resolve, body: `{"resolved_by":"   "}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "resolved_by", value: "   "},
			wantContent: []string{"is blank"}, wantUnresolved: &sys},
		{name: "blank resolved_by by another principal", method: "POST", url: resolve, body: `{"resolved_by":"\t"}`,
			header:     http.Header{"Authorization": {"Bearer globex-all"}},
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "resolved_by", value: "\t"}, wantUnresolved: &sys},
		{name: "a body of null", method: "POST", url: resolve, body: `null`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: "null"}, wantUnresolved: &sys},
		{name: "gzip", method: "POST", url: resolve, body: gzipped(`{"note":"x"}`), header: http.Header{"Content-Encoding": {"gzip"}},
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Encoding", value: "gzip"}, wantUnresolved: &sys},
		{name: "a query parameter", method: "POST", url: resolve + "?dry_run=1", body: `{"note":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "dry_run", value: "1"}, wantUnresolved: &sys},
		{name: "an id not UTF-8", method: "POST", url: "/api/v1/events/%ff/resolve", body: `{"note":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "id", value: `\xff`}},
		{name: "long resolved_by", method: "POST", url: resolve, body: `{"resolved_by":"` + long + `"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "resolved_by", value: long[:32] + "…"}},
		{name: "long note", method: "POST", url: resolve, body: `{"resolved_by":"ann","note":"` + strings.Repeat("n", activitylog.MaxTextField+1) + `"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "note", value: strings.Repeat("n", 32) + "…"}},
		{name: "unknown field", method: "POST", url: resolve, body: `{"resolved_by":"ann","resolved_at":"2025-01-01T00:00:00Z"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "resolved_at", value: ""},
			wantContent: []string{"not a field of a resolution"}},
		{name: "wrong type", method: "POST", url: resolve, body: `{"resolved_by":42}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "resolved_by", value: "42"}},
		{name: "empty body", method: "POST", url: resolve,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: ""}},
		{name: "an array", method: "POST", url: resolve, body: `[{"resolved_by":"ann"}]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: `[{"resolved_by":"ann"}]`}},
		{name: "truncated", method: "POST", url: resolve, body: `{"resolved_by":"ann"`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: ""}},
		{name: "trailing data", method: "POST", url: resolve, body: `{"resolved_by":"ann"} {}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: "{}"}},
		{name: "not JSON", method: "POST", url: resolve, contentType: "text/plain", body: `{"resolved_by":"ann"}`,
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Type", value: "text/plain"}},
		{name: "NDJSON", method: "POST", url: resolve, contentType: "application/x-ndjson", body: `{"resolved_by":"ann"}`,
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Type", value: "application/x-ndjson"}},
		{name: "GET on resolve", url: resolve, wantStatus: 405, wantError: &wantError{code: "method_not_allowed"}},
		{name: "read-only API", handler: "read-only", method: "POST", url: resolve, body: `{"resolved_by":"ann"}`,
			wantStatus: 405, wantError: &wantError{code: "method_not_allowed"}, wantContent: []string{"read-only"}},
		{name: "store without resolutions", handler: "no resolver", method: "POST", url: resolve, body: `{"resolved_by":"ann"}`,
			wantStatus: 501, wantError: &wantError{code: "not_implemented"}},
	} {
		sc.seed = seed
		t.Run(sc.name, sc.run)
	}
}

func TestGetResolution(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	sys := seed[6].ID
	at := time.Date(2025, 2, 3, 4, 5, 6, 789, time.UTC)
	resolution := "/api/v1/events/" + sys.String() + "/resolution"
	for _, sc := range []resolveScenario{
		{name: "resolved", url: resolution, before: []activitylog.Resolution{{EventID: sys, ResolvedBy: "ann", ResolvedAt: at, Note: "fixed"}},
			wantStatus: 200, wantContent: []string{
				`{"event_id":"` + sys.String() + `","resolved_by":"ann","resolved_at":"2025-02-03T04:05:06.000000789Z","note":"fixed"}`}},
		{name: "the latest of several", url: resolution, before: []activitylog.Resolution{
			{EventID: sys, ResolvedBy: "ann", ResolvedAt: at, Note: "fixed"},
			{EventID: sys, ResolvedBy: "bob", ResolvedAt: at.Add(-time.Hour)},
		}, wantStatus: 200, wantContent: []string{`"resolved_by":"bob"`, `"resolved_at":"2025-02-03T03:05:06.000000789Z"}`}},
		{name: "not resolved", url: resolution, wantStatus: 404, wantError: &wantError{code: "not_resolved"},
			wantContent: []string{sys.String() + " is not resolved"}},
		{name: "another event's resolution", url: "/api/v1/events/" + seed[0].ID.String() + "/resolution",
			before: []activitylog.Resolution{{EventID: sys, ResolvedBy: "ann"}}, wantStatus: 404, wantError: &wantError{code: "not_resolved"}},
		{name: "unknown event", url: "/api/v1/events/0190c2a1-0000-7000-8000-000000000001/resolution",
			wantStatus: 404, wantError: &wantError{code: "not_found"}, wantContent: []string{"no event has id 0190c2a1-0000-7000-8000-000000000001"}},
		{name: "malformed id", url: "/api/v1/events/nope/resolution", wantStatus: 400, wantError: &wantError{code: "invalid", field: "id", value: "nope"}},
		{name: "read-only API reads", handler: "read-only", url: resolution,
			before: []activitylog.Resolution{{EventID: sys, ResolvedBy: "ann"}}, wantStatus: 200, wantContent: []string{`"resolved_by":"ann"`}},
		{name: "store without resolutions", handler: "no resolver", url: resolution, wantStatus: 501, wantError: &wantError{code: "not_implemented"}},
		{name: "POST on resolution", method: "POST", url: resolution, body: `{}`, wantStatus: 405, wantError: &wantError{code: "method_not_allowed"}},
	} {
		sc.seed = seed
		t.Run(sc.name, sc.run)
	}
}

// TestResolveThenRead resolves through the API and reads the
// resolution back through it.
func TestResolveThenRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seed := seedEvents()
	e.seed(t, seed)
	id := seed[6].ID.String()
	w := e.do(t, "POST", "/api/v1/events/"+id+"/resolve", "application/json", strings.NewReader(`{"resolved_by":"ann","note":"ok"}`))
	if w.Code != 200 {
		t.Fatalf("resolve: %d %s", w.Code, w.Body)
	}
	posted := w.Body.String()
	w = e.do(t, "GET", "/api/v1/events/"+id+"/resolution", "", nil)
	if w.Code != 200 || w.Body.String() != posted {
		t.Errorf("GET resolution: %d %s, want 200 %s", w.Code, w.Body, posted)
	}
}

func TestResolveStoreClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.store.Close()
	id := "0190c2a1-0000-7000-8000-000000000001"
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/api/v1/events/" + id + "/resolve", `{"resolved_by":"ann"}`},
		{"GET", "/api/v1/events/" + id + "/resolution", ""},
		{"GET", "/api/v1/objects/invoice/INV-1/events", ""},
	} {
		w := e.do(t, req.method, req.path, "application/json", strings.NewReader(req.body))
		if w.Code != 503 {
			t.Errorf("%s %s with the store closed: %d %s", req.method, req.path, w.Code, w.Body)
		}
		checkError(t, w.Body.Bytes(), wantError{code: "unavailable"})
		if strings.Contains(w.Body.String(), "sql") {
			t.Errorf("answer shows internal detail: %s", w.Body)
		}
	}
}

// doWith serves one request with h rather than e's handler.
func (e *env) doWith(t testing.TB, h http.Handler, method, url, contentType string, header http.Header, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, url, body)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for name, vs := range header {
		r.Header[name] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
