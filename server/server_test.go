package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

var discard = slog.New(slog.DiscardHandler)

// env is a handler over a real SQLite store in a temporary directory,
// with a real Recorder as its Ingester.
type env struct {
	store *sqlite.Store
	rec   *activitylog.Recorder
	h     http.Handler
}

func newEnv(t testing.TB, opts *server.Options) *env {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	rec := activitylog.NewRecorder(store, &activitylog.Options{Service: "test", Logger: discard})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rec.Shutdown(ctx); err != nil {
			t.Errorf("shut down recorder: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	var o server.Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = discard
	}
	if o.Authenticate == nil {
		o.Authenticate = testAuth
	}
	return &env{store: store, rec: rec, h: server.New(store, rec, &o)}
}

func (e *env) count(t testing.TB) int64 {
	t.Helper()
	n, err := e.store.Count(context.Background(), activitylog.Filter{})
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

func (e *env) seed(t testing.TB, events []activitylog.Event) {
	t.Helper()
	if len(events) == 0 {
		return
	}
	if err := e.rec.Commit(context.Background(), events); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

func (e *env) do(t testing.TB, method, url, contentType string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	return e.doHeader(t, method, url, contentType, nil, body)
}

// doHeader is do with more request headers.
func (e *env) doHeader(t testing.TB, method, url, contentType string, header http.Header, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, url, body)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for name, vs := range header {
		r.Header[name] = vs
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// scenario is one request against a fresh store, in the manner of
// PocketBase's API tests.
type scenario struct {
	name        string
	opts        *server.Options
	seed        []activitylog.Event // committed before the request
	method      string              // default GET
	url         string
	contentType string
	body        string
	chunked     bool        // send the body without a Content-Length
	header      http.Header // more request headers

	wantStatus  int
	wantHeader  http.Header // response headers, each with this value
	wantContent []string    // substrings of the response body
	notContent  []string
	wantStored  int64 // events stored by the request (beyond the seed)
	wantResults []int // for lists: the seed indexes of the results, in order; nil: not checked
	wantError   *wantError
	check       func(t *testing.T, e *env, body []byte)
}

// wantError is the expected error object of an answer.
type wantError struct {
	code, field, value string
}

func (sc scenario) run(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sc.opts)
	e.seed(t, sc.seed)
	before := e.count(t)

	method := sc.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if sc.body != "" {
		body = strings.NewReader(sc.body)
		if sc.chunked {
			body = struct{ io.Reader }{body} // hides the length from httptest
		}
	}
	w := e.doHeader(t, method, sc.url, sc.contentType, sc.header, body)
	got := w.Body.Bytes()

	if w.Code != sc.wantStatus {
		t.Errorf("status = %d, want %d; body: %s", w.Code, sc.wantStatus, got)
	}
	for name, vs := range sc.wantHeader {
		if g := w.Header().Values(name); strings.Join(g, ", ") != strings.Join(vs, ", ") {
			t.Errorf("header %s = %q, want %q", name, g, vs)
		}
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if v := w.Header().Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", v)
	}
	if !json.Valid(got) {
		t.Errorf("body is not JSON: %s", got)
	}
	for _, s := range sc.wantContent {
		if !strings.Contains(string(got), s) {
			t.Errorf("body lacks %q: %s", s, got)
		}
	}
	for _, s := range sc.notContent {
		if strings.Contains(string(got), s) {
			t.Errorf("body has %q: %s", s, got)
		}
	}
	if sc.wantError != nil {
		checkError(t, got, *sc.wantError)
	}
	if sc.wantResults != nil {
		var page listBody
		if err := json.Unmarshal(got, &page); err != nil {
			t.Fatalf("decode list: %v", err)
		}
		var gotIdx []int
		for _, r := range page.Results {
			i := indexOf(sc.seed, r.ID)
			gotIdx = append(gotIdx, i)
		}
		if !equalInts(gotIdx, sc.wantResults) {
			t.Errorf("results = seed %v, want %v", gotIdx, sc.wantResults)
		}
	}
	if after := e.count(t); after-before != sc.wantStored {
		t.Errorf("stored %d events, want %d", after-before, sc.wantStored)
	}
	if sc.check != nil {
		sc.check(t, e, got)
	}
}

type errorBody struct {
	Error struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Field   string  `json:"field"`
		Value   *string `json:"value"`
	} `json:"error"`
}

func checkError(t *testing.T, body []byte, want wantError) {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("decode error body: %v: %s", err, body)
	}
	if eb.Error.Code != want.code {
		t.Errorf("error code = %q, want %q", eb.Error.Code, want.code)
	}
	if eb.Error.Field != want.field {
		t.Errorf("error field = %q, want %q (message %q)", eb.Error.Field, want.field, eb.Error.Message)
	}
	if want.field != "" {
		if eb.Error.Value == nil {
			t.Errorf("error has a field but no value")
		} else if *eb.Error.Value != want.value {
			t.Errorf("error value = %q, want %q", *eb.Error.Value, want.value)
		}
		if !strings.Contains(eb.Error.Message, want.field) {
			t.Errorf("error message %q does not name %q", eb.Error.Message, want.field)
		}
	}
	if eb.Error.Message == "" {
		t.Errorf("error has no message")
	}
}

type listBody struct {
	Count    int64               `json:"count"`
	Next     *string             `json:"next"`
	Previous *string             `json:"previous"`
	Results  []activitylog.Event `json:"results"`
}

type ingestBody struct {
	Accepted int      `json:"accepted"`
	IDs      []string `json:"ids"`
}

func indexOf(events []activitylog.Event, id activitylog.ID) int {
	for i := range events {
		if events[i].ID == id {
			return i
		}
	}
	return -1
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHealth(t *testing.T) {
	t.Parallel()
	failing := func(context.Context) error { return io.ErrClosedPipe }
	for _, sc := range []scenario{
		{name: "healthz", url: "/healthz", wantStatus: 200, wantContent: []string{`{"status":"ok"}`}},
		{name: "healthz when not ready", opts: &server.Options{Ready: failing}, url: "/healthz", wantStatus: 200, wantContent: []string{`"ok"`}},
		{name: "readyz without check", url: "/readyz", wantStatus: 200, wantContent: []string{`{"status":"ok"}`}},
		{name: "readyz ready", opts: &server.Options{Ready: func(context.Context) error { return nil }}, url: "/readyz", wantStatus: 200, wantContent: []string{`"ok"`}},
		{
			name: "readyz not ready hides the error", opts: &server.Options{Ready: failing}, url: "/readyz",
			wantStatus: 503, wantContent: []string{`{"status":"unavailable"}`}, notContent: []string{"pipe"},
		},
		{name: "healthz wrong method", method: "POST", url: "/healthz", wantStatus: 405, wantError: &wantError{code: "method_not_allowed"}},
	} {
		t.Run(sc.name, sc.run)
	}
}

func TestReadyWithStorePing(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := server.New(store, nil, &server.Options{Ready: store.Ping, Logger: discard, Authenticate: testAuth})
	get := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code
	}
	if got := get(); got != 200 {
		t.Errorf("open store: readyz = %d, want 200", got)
	}
	store.Close()
	if got := get(); got != 503 {
		t.Errorf("closed store: readyz = %d, want 503", got)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	for _, sc := range []scenario{
		{name: "unknown api path", url: "/api/v1/nope", wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{name: "other api version", url: "/api/v2/events", wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{name: "outside api", url: "/index.html", wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{name: "empty id", url: "/api/v1/events/", wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{name: "too deep", url: "/api/v1/events/a/b", wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{
			name: "put on collection", method: "PUT", url: "/api/v1/events", wantStatus: 405,
			wantError: &wantError{code: "method_not_allowed"},
			check: func(t *testing.T, e *env, _ []byte) {
				w := e.do(t, "PUT", "/api/v1/events", "", nil)
				if got := w.Header().Get("Allow"); got != "GET, HEAD, POST" {
					t.Errorf("Allow = %q", got)
				}
			},
		},
		{name: "delete an event", method: "DELETE", url: "/api/v1/events/0190c2a1-0000-7000-8000-000000000001", wantStatus: 405, wantError: &wantError{code: "method_not_allowed"}},
	} {
		t.Run(sc.name, sc.run)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := server.New(store, nil, &server.Options{Logger: discard, Authenticate: testAuth})
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/api/v1/events", strings.NewReader(`{"kind":"custom","action":"x"}`))
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, r)
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST to a read-only API: %d, Allow %q; want 405, GET, HEAD", w.Code, w.Header().Get("Allow"))
	}
}

func TestNewNilQuerierPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New(nil, …) did not panic")
		}
	}()
	server.New(nil, nil, nil)
}

// TestMountUnderPrefix mounts the API as the package doc shows and
// walks a paging link through the prefix.
func TestMountUnderPrefix(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := activitylog.NewRecorder(store, nil)
	t.Cleanup(func() {
		rec.Shutdown(context.Background())
		store.Close()
	})

	mux := http.NewServeMux()
	mux.Handle("/audit/", http.StripPrefix("/audit", server.New(store, rec, &server.Options{Authenticate: testAuth})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	body := `{"kind":"auth","action":"login","actor":{"id":"42"}}` + "\n" +
		`{"kind":"auth","action":"logout","actor":{"id":"42"}}` + "\n" +
		`{"kind":"auth","action":"login","actor":{"id":"7"}}`
	resp, err := http.Post(srv.URL+"/audit/api/v1/events", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ib ingestBody
	json.NewDecoder(resp.Body).Decode(&ib)
	resp.Body.Close()
	if resp.StatusCode != 201 || ib.Accepted != 3 {
		t.Fatalf("POST under prefix: %d, accepted %d", resp.StatusCode, ib.Accepted)
	}

	u := srv.URL + "/audit/api/v1/events?user_id=42&page_size=1"
	var seen []string
	for u != "" {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var page listBody
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 || page.Count != 2 {
			t.Fatalf("GET %s: %d, count %d", u, resp.StatusCode, page.Count)
		}
		for _, e := range page.Results {
			seen = append(seen, e.Action)
		}
		if page.Next == nil {
			break
		}
		base, _ := resp.Request.URL.Parse(*page.Next) // resolved as a browser would
		if !strings.HasPrefix(base.Path, "/audit/api/v1/events") {
			t.Fatalf("next link %q resolves outside the prefix: %s", *page.Next, base)
		}
		u = base.String()
	}
	if strings.Join(seen, ",") != "logout,login" {
		t.Errorf("walked %v, want [logout login]", seen)
	}

	for path, want := range map[string]int{"/audit/healthz": 200, "/audit/readyz": 200, "/audit/api/v1/nope": 404, "/healthz": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	// A nil *Options means 10 MiB and 1000 events.
	e := newEnv(t, nil)
	var b strings.Builder
	b.WriteString("[")
	for i := range 1001 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"kind":"custom","action":"a` + strconv.Itoa(i) + `"}`)
	}
	b.WriteString("]")
	w := e.do(t, "POST", "/api/v1/events", "application/json", strings.NewReader(b.String()))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "1001 events") {
		t.Errorf("1001 events: %d %s", w.Code, w.Body)
	}
	big := `{"kind":"custom","action":"x","message":"` + strings.Repeat("a", 10<<20) + `"}`
	w = e.do(t, "POST", "/api/v1/events", "application/json", strings.NewReader(big))
	if w.Code != 413 {
		t.Errorf("10 MiB body: %d, want 413", w.Code)
	}
	if n := e.count(t); n != 0 {
		t.Errorf("stored %d events", n)
	}
}
