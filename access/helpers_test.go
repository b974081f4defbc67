package access_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// cheap are argon2id parameters that make the tests fast; the hashes
// they make are real argon2id hashes all the same.
var cheap = &access.Argon2Params{Time: 1, Memory: 64, Threads: 1}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// events is a Writer that keeps what a synchronous Recorder writes
// to it, so that the events the Service records are enriched and
// validated as in production.
type events struct {
	mu sync.Mutex
	es []activitylog.Event
}

func (e *events) Write(_ context.Context, evs []activitylog.Event) error {
	e.mu.Lock()
	e.es = append(e.es, evs...)
	e.mu.Unlock()
	return nil
}

// actions returns the kind/action of every event, in order.
func (e *events) actions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, len(e.es))
	for i, ev := range e.es {
		out[i] = string(ev.Kind) + "/" + ev.Action
	}
	return out
}

func (e *events) json(t *testing.T) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := json.Marshal(e.es)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// env is a server wired with a Service over a real SQLite store.
type env struct {
	t     testing.TB
	store *sqlite.Store
	svc   *access.Service
	h     http.Handler
	clock *clock
	rec   *events
	root  string // a superuser API key
}

// newEnv opens a store in t.TempDir and serves the API with a Service
// configured by opts (cheap hashes, the test clock and a recorder
// unless opts sets them).
func newEnv(t testing.TB, opts *access.Options) *env {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t, store: store, clock: newClock(), rec: &events{}}
	var o access.Options
	if opts != nil {
		o = *opts
	}
	if o.Argon2 == nil {
		o.Argon2 = cheap
	}
	if o.Now == nil {
		o.Now = e.clock.Now
	}
	if o.Recorder == nil {
		rec := activitylog.NewRecorder(e.rec, &activitylog.Options{Mode: activitylog.Sync})
		t.Cleanup(func() { rec.Shutdown(context.Background()) })
		o.Recorder = rec
	}
	e.svc, err = access.New(store.Credentials(), &o)
	if err != nil {
		t.Fatal(err)
	}
	ingest := activitylog.NewRecorder(store, &activitylog.Options{Mode: activitylog.Sync})
	t.Cleanup(func() { ingest.Shutdown(context.Background()) })
	e.h = server.New(store, ingest, &server.Options{Authenticate: e.svc.Authenticate, Routes: e.svc.Routes()})
	if e.root, err = e.svc.Bootstrap(context.Background()); err != nil || e.root == "" {
		t.Fatalf("Bootstrap = %q, %v", e.root, err)
	}
	return e
}

// user creates a user with password "correct horse".
func (e *env) user(name, tenant string, perms ...activitylog.Permission) access.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(context.Background(), access.NewUser{
		Username: name, Password: "correct horse", Tenant: tenant, Permissions: perms,
		AllowSuperuser: true,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// req is one request to the API.
type req struct {
	method, path string
	body         string
	ctype        string
	bearer       string
	cookie       *http.Cookie
	header       map[string]string
	remote       string // RemoteAddr; default 192.0.2.1:1234
	tls          bool
}

// do runs rq against the handler.
func (e *env) do(rq req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, "http://api.test"+rq.path, body)
	if rq.ctype != "" {
		r.Header.Set("Content-Type", rq.ctype)
	} else if rq.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if rq.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	if rq.cookie != nil {
		r.AddCookie(rq.cookie)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	r.RemoteAddr = "192.0.2.1:1234"
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	if rq.tls {
		r.TLS = &tls.ConnectionState{}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// session is a signed-in browser.
type session struct {
	cookie *http.Cookie
	csrf   string
}

// login signs name in with password and wants 200.
func (e *env) login(name, password string) session {
	e.t.Helper()
	w := e.do(req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"` + name + `","password":"` + password + `"}`})
	if w.Code != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", name, w.Code, w.Body)
	}
	var body struct {
		CSRFToken string `json:"csrf_token"`
	}
	decode(e.t, w, &body)
	c := cookieOf(w, access.DefaultCookieName)
	if c == nil || body.CSRFToken == "" {
		e.t.Fatalf("login %s: cookie %v, csrf %q", name, c, body.CSRFToken)
	}
	return session{cookie: &http.Cookie{Name: c.Name, Value: c.Value}, csrf: body.CSRFToken}
}

func cookieOf(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func decode(t testing.TB, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
}

// errorMessage returns the message of an error answer.
func errorMessage(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	decode(t, w, &body)
	return body.Error.Message
}
