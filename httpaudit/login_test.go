package httpaudit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// loginSink is a Recorder that keeps the auth events it is given.
type loginSink struct {
	mu     sync.Mutex
	events []activitylog.Event
	ctxs   []context.Context // of the auth events
}

func (s *loginSink) Record(ctx context.Context, e activitylog.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	if e.Kind == activitylog.KindAuth {
		s.ctxs = append(s.ctxs, ctx)
	}
	return nil
}

func (s *loginSink) auth() []activitylog.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []activitylog.Event
	for _, e := range s.events {
		if e.Kind == activitylog.KindAuth {
			out = append(out, e)
		}
	}
	return out
}

func TestLogins(t *testing.T) {
	t.Parallel()
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		wantAction  string // "" means nothing recorded
		wantUser    string
		wantActor   activitylog.ActorType
		wantReason  string
	}{
		{"form success", "POST", "/login", form, "username=ann&password=hunter2", 200, "login", "ann", activitylog.ActorUser, ""},
		{"redirect success", "POST", "/login", form, "username=ann&password=hunter2", 303, "login", "ann", activitylog.ActorUser, ""},
		{"json failure", "POST", "/login", "application/json", `{"password":"hunter2","email":"ann@example.com"}`, 401, "login_failed", "ann@example.com", activitylog.ActorAnonymous, "unauthorized"},
		{"forbidden", "POST", "/login", form, "login=ann", 403, "login_failed", "ann", activitylog.ActorAnonymous, "forbidden"},
		{"rate limited", "POST", "/login", form, "username=ann", 429, "blocked", "ann", activitylog.ActorAnonymous, "too_many_requests"},
		{"no content type json", "POST", "/login", "", `{"username":"ann"}`, 401, "login_failed", "ann", activitylog.ActorAnonymous, "unauthorized"},
		{"bad request not recorded", "POST", "/login", form, "username=ann", 400, "", "", "", ""},
		{"server error not recorded", "POST", "/login", form, "username=ann", 500, "", "", "", ""},
		{"other route", "POST", "/orders", form, "username=ann", 401, "", "", "", ""},
		{"other method", "GET", "/login", "", "", 200, "", "", "", ""},
		{"password field only", "POST", "/login", form, "password=hunter2", 401, "login_failed", "", activitylog.ActorAnonymous, "unauthorized"},
		{"json username not a string", "POST", "/login", "application/json", `{"username":{"a":1},"user":"bo"}`, 401, "login_failed", "bo", activitylog.ActorAnonymous, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &loginSink{}
			var handlerSaw string
			h := httpaudit.Logins(sink, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				handlerSaw = string(b)
				w.WriteHeader(tt.status)
			}))
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			r.RemoteAddr = "203.0.113.5:4242"
			h.ServeHTTP(httptest.NewRecorder(), r)

			if handlerSaw != tt.body {
				t.Errorf("handler read %q, want the whole body %q", handlerSaw, tt.body)
			}
			es := sink.auth()
			if tt.wantAction == "" {
				if len(es) != 0 {
					t.Fatalf("recorded %+v, want nothing", es)
				}
				return
			}
			if len(es) != 1 {
				t.Fatalf("recorded %d auth events, want 1", len(es))
			}
			e := es[0]
			if e.Action != tt.wantAction || e.Actor.Type != tt.wantActor || e.Response.Status != tt.status {
				t.Errorf("action %s, actor %+v, status %d; want %s, %s, %d", e.Action, e.Actor, e.Response.Status, tt.wantAction, tt.wantActor, tt.status)
			}
			if got, _ := e.Extra["username"].(string); got != tt.wantUser {
				t.Errorf("username = %q, want %q", got, tt.wantUser)
			}
			if got, _ := e.Extra["reason"].(string); got != tt.wantReason {
				t.Errorf("reason = %q, want %q", got, tt.wantReason)
			}
			if e.Request.RemoteIP != "203.0.113.5" || e.Extra["method"] != "password" {
				t.Errorf("remote ip %q, method %v", e.Request.RemoteIP, e.Extra["method"])
			}
			if strings.Contains(e.Message+e.Actor.Name+e.Request.Body, "hunter2") {
				t.Errorf("password recorded: %+v", e)
			}
			for _, v := range e.Extra {
				if s, _ := v.(string); strings.Contains(s, "hunter2") {
					t.Errorf("password recorded in extra: %v", e.Extra)
				}
			}
		})
	}
}

func TestLoginsLargeBodyReachesHandlerWhole(t *testing.T) {
	t.Parallel()
	sink := &loginSink{}
	body := "username=ann&pad=" + strings.Repeat("x", 200<<10)
	var n int
	h := httpaudit.Logins(sink, &httpaudit.LoginOptions{MaxBody: 1 << 10})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n = len(b)
		if err := r.Body.Close(); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	r := httptest.NewRequest("POST", "/login", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if n != len(body) {
		t.Errorf("handler read %d bytes, want %d", n, len(body))
	}
	if es := sink.auth(); len(es) != 1 || es[0].Extra["username"] != "ann" {
		t.Errorf("events = %+v", es)
	}
}

func TestLoginsOptions(t *testing.T) {
	t.Parallel()
	proxies, err := httpaudit.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	sink := &loginSink{}
	opts := &httpaudit.LoginOptions{
		Routes:         []string{"POST /api/{tenant}/session"},
		UsernameFields: []string{"password", "handle"}, // "password" is refused
		Method:         "sso",
		TrustedProxies: proxies,
		// A form login that redirects back to the form on failure.
		Outcome: func(status int, h http.Header) string {
			if status == http.StatusFound && strings.Contains(h.Get("Location"), "error") {
				return activitylog.ActionLoginFailed
			}
			return httpaudit.DefaultLoginOutcome(status, h)
		},
	}
	h := httpaudit.Logins(sink, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login?error=1", http.StatusFound)
	}))
	r := httptest.NewRequest("POST", "/api/acme/session", strings.NewReader("password=hunter2&handle=ann"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "10.1.2.3:1234"
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	h.ServeHTTP(httptest.NewRecorder(), r)
	es := sink.auth()
	if len(es) != 1 {
		t.Fatalf("recorded %d auth events, want 1", len(es))
	}
	e := es[0]
	if e.Action != "login_failed" || e.Extra["username"] != "ann" || e.Extra["method"] != "sso" || e.Request.RemoteIP != "198.51.100.9" {
		t.Errorf("event = %s %v ip %q", e.Action, e.Extra, e.Request.RemoteIP)
	}
}

// Inside Middleware, a login handler that calls SetActor names the
// user of a successful login, and the login event shares the request's
// context (request id).
func TestLoginsInsideMiddleware(t *testing.T) {
	t.Parallel()
	sink := &loginSink{}
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpaudit.SetActor(r.Context(), activitylog.Actor{ID: "42", Name: "ann"})
		w.WriteHeader(http.StatusNoContent)
	})
	h := httpaudit.Middleware(sink, nil)(httpaudit.Logins(sink, nil)(login))
	r := httptest.NewRequest("POST", "/login", strings.NewReader(`{"username":"ann"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Request-ID", "req-9")
	h.ServeHTTP(httptest.NewRecorder(), r)
	es := sink.auth()
	if len(es) != 1 {
		t.Fatalf("recorded %d auth events, want 1", len(es))
	}
	e := es[0]
	if e.Action != "login" || e.Actor.ID != "42" || e.Object.ID != "42" {
		t.Errorf("event = %s actor %+v object %+v", e.Action, e.Actor, e.Object)
	}
	// The Recorder fills the request from the context it is given.
	if id := activitylog.RequestIDFrom(sink.ctxs[0]); id != "req-9" {
		t.Errorf("request id in the record context = %q, want req-9", id)
	}
}

func TestLoginsRefusesBadRoute(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("a bad route did not panic")
		}
	}()
	httpaudit.Logins(&loginSink{}, &httpaudit.LoginOptions{Routes: []string{"POST login"}})
}
