package access_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
)

func TestLoginSetsCookie(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		opts       *access.Options
		tls        bool
		wantSecure bool
		wantSame   http.SameSite
		wantPath   string
	}{
		{"plain http", nil, false, false, http.SameSiteLaxMode, "/"},
		{"tls", nil, true, true, http.SameSiteLaxMode, "/"},
		{"secure behind a proxy, strict, under a prefix", &access.Options{CookieSecure: true, SameSite: http.SameSiteStrictMode, CookiePath: "/audit/"}, false, true, http.SameSiteStrictMode, "/audit/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.opts)
			e.user("ann", "acme", activitylog.ViewLogs)
			w := e.do(req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"ann","password":"correct horse"}`, tls: tc.tls})
			if w.Code != 200 {
				t.Fatalf("login: %d %s", w.Code, w.Body)
			}
			c := cookieOf(w, access.DefaultCookieName)
			if c == nil {
				t.Fatal("no session cookie")
			}
			if !c.HttpOnly || c.Secure != tc.wantSecure || c.SameSite != tc.wantSame || c.Path != tc.wantPath ||
				c.MaxAge != int(access.DefaultSessionTTL.Seconds()) || len(c.Value) != 43 {
				t.Errorf("cookie %+v", c)
			}
			var body struct {
				Principal activitylog.Principal `json:"principal"`
				CSRFToken string                `json:"csrf_token"`
				ExpiresAt time.Time             `json:"expires_at"`
				IdleEnds  time.Time             `json:"idle_expires_at"`
			}
			decode(t, w, &body)
			if body.Principal.Name != "ann" || body.Principal.Tenant != "acme" || body.Principal.Method != "session" || body.CSRFToken == "" ||
				!body.ExpiresAt.Equal(e.clock.Now().Add(access.DefaultSessionTTL)) || !body.IdleEnds.Equal(e.clock.Now().Add(access.DefaultSessionIdle)) {
				t.Errorf("answer %s", w.Body)
			}
			if strings.Contains(w.Body.String(), c.Value) {
				t.Error("the answer repeats the session token")
			}
		})
	}
}

// A session's life: used, idle, expired, signed out, its user disabled.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("ann", "acme", activitylog.ViewAllLogs)
	ctx := context.Background()

	me := func(s session) (int, string) {
		w := e.do(req{method: "GET", path: "/api/v1/me", cookie: s.cookie})
		return w.Code, w.Body.String()
	}
	check := func(step string, s session, status int, want string) {
		t.Helper()
		if code, body := me(s); code != status || !strings.Contains(body, want) {
			t.Errorf("%s: GET /me %d %s; want %d and %q", step, code, body, status, want)
		}
	}

	s := e.login("ann", "correct horse")
	check("signed in", s, 200, `"method":"session"`)

	// GET /api/v1/auth/session gives the same CSRF token.
	w := e.do(req{method: "GET", path: "/api/v1/auth/session", cookie: s.cookie})
	var info struct {
		CSRFToken string `json:"csrf_token"`
	}
	decode(t, w, &info)
	if w.Code != 200 || info.CSRFToken != s.csrf {
		t.Errorf("GET /auth/session: %d %s; want the login's token %q", w.Code, w.Body, s.csrf)
	}

	// Used every 50 minutes, it lives until its absolute end, and no
	// longer.
	start := e.clock.Now()
	for {
		e.clock.Advance(50 * time.Minute)
		code, body := me(s)
		if code == 200 {
			continue
		}
		if lived := e.clock.Now().Sub(start); lived < access.DefaultSessionTTL || lived >= access.DefaultSessionTTL+50*time.Minute ||
			!strings.Contains(body, "it reached its end at") {
			t.Errorf("an active session ended after %v: %s", lived, body)
		}
		break
	}

	s = e.login("ann", "correct horse")
	e.clock.Advance(access.DefaultSessionIdle + time.Second)
	check("idle", s, 401, "it was idle for more than 1h0m0s")
	check("idle, deleted", s, 401, "the session has ended (signed out or expired)")

	// Sign-out needs the CSRF token, then ends the session and clears
	// the cookie.
	s = e.login("ann", "correct horse")
	if w := e.do(req{method: "POST", path: "/api/v1/auth/logout", cookie: s.cookie}); w.Code != 403 || !strings.Contains(w.Body.String(), "CSRF") {
		t.Errorf("logout without the CSRF token: %d %s", w.Code, w.Body)
	}
	check("after a refused logout", s, 200, "ann")
	w = e.do(req{method: "POST", path: "/api/v1/auth/logout", cookie: s.cookie, header: map[string]string{"X-CSRF-Token": s.csrf}})
	if c := cookieOf(w, access.DefaultCookieName); w.Code != 204 || c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("logout: %d, cookie %+v", w.Code, c)
	}
	check("signed out", s, 401, "the session has ended")
	// Signing out again, or without a session, is fine.
	if w := e.do(req{method: "POST", path: "/api/v1/auth/logout", cookie: s.cookie}); w.Code != 204 {
		t.Errorf("second logout: %d %s", w.Code, w.Body)
	}

	// Disabling the user ends its sessions at once.
	s = e.login("ann", "correct horse")
	if err := e.svc.SetUserDisabled(ctx, "ANN", true, nil); err != nil {
		t.Fatal(err)
	}
	check("disabled", s, 401, "the session has ended")
	if w := e.do(req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"ann","password":"correct horse"}`}); w.Code != 401 {
		t.Errorf("a disabled user signs in: %d %s", w.Code, w.Body)
	}
	if err := e.svc.SetUserDisabled(ctx, "ann", false, nil); err != nil {
		t.Fatal(err)
	}
	e.login("ann", "correct horse")

	// Signing in again ends the session the browser had.
	before := e.login("ann", "correct horse")
	w = e.do(req{method: "POST", path: "/api/v1/auth/login", cookie: before.cookie, body: `{"username":"ann","password":"correct horse"}`})
	if w.Code != 200 {
		t.Fatalf("second login: %d %s", w.Code, w.Body)
	}
	check("the session before a second sign-in", before, 401, "the session has ended")

	// A cookie that is no token.
	check("garbage cookie", session{cookie: &http.Cookie{Name: access.DefaultCookieName, Value: "garbage"}}, 401, "malformed credential: a session token has 43 characters")

	got := strings.Join(e.rec.actions(), " ")
	for _, want := range []string{"auth/login", "auth/logout", "auth/login_failed", "crud/update"} {
		if !strings.Contains(got, want) {
			t.Errorf("recorded %s; want %s among them", got, want)
		}
	}
}

// Every state-changing request authenticated by a session cookie must
// carry the session's CSRF token, and come from the same origin.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("root", "", activitylog.Superuser)
	e.user("ann", "acme", activitylog.ResolveEvents, activitylog.ViewAllLogs)
	s := e.login("root", "correct horse")
	other := e.login("ann", "correct horse")
	body := `{"name":"k","scopes":["ingest"]}`
	form := func(token string) string { return url.Values{"csrf_token": {token}}.Encode() }
	for _, tc := range []struct {
		name   string
		rq     req
		status int
		want   string
	}{
		{"GET needs no token", req{method: "GET", path: "/api/v1/api-keys", cookie: s.cookie}, 200, `"results"`},
		{"POST without a token", req{method: "POST", path: "/api/v1/api-keys", cookie: s.cookie, body: body}, 403, "must send the session's CSRF token"},
		{"POST with another session's token", req{method: "POST", path: "/api/v1/api-keys", cookie: s.cookie, body: body,
			header: map[string]string{"X-CSRF-Token": other.csrf}}, 403, "the CSRF token is not this session's"},
		{"POST with the token", req{method: "POST", path: "/api/v1/api-keys", cookie: s.cookie, body: body,
			header: map[string]string{"X-CSRF-Token": s.csrf}}, 201, `"key":"alk_`},
		{"cross-site POST with the token", req{method: "POST", path: "/api/v1/api-keys", cookie: s.cookie, body: body,
			header: map[string]string{"X-CSRF-Token": s.csrf, "Sec-Fetch-Site": "cross-site"}}, 403, "cross-origin request refused"},
		{"POST from another origin with the token", req{method: "POST", path: "/api/v1/api-keys", cookie: s.cookie, body: body,
			header: map[string]string{"X-CSRF-Token": s.csrf, "Origin": "https://evil.example"}}, 403, "cross-origin"},
		{"same-origin POST with the token", req{method: "POST", path: "/api/v1/api-keys", cookie: s.cookie, body: body,
			header: map[string]string{"X-CSRF-Token": s.csrf, "Sec-Fetch-Site": "same-origin"}}, 201, `"key":"alk_`},
		{"DELETE without a token", req{method: "DELETE", path: "/api/v1/api-keys/alk_0000000000000000", cookie: s.cookie}, 403, "CSRF"},
		{"resolve by form without a token", req{method: "POST", path: "/api/v1/events/019a6b2e-5f10-7c3a-9d2e-6b1f0a4c8e21/resolve", cookie: other.cookie,
			ctype: "application/x-www-form-urlencoded", body: "note=x"}, 403, "CSRF"},
		{"logout by form with the token", req{method: "POST", path: "/api/v1/auth/logout", cookie: other.cookie,
			ctype: "application/x-www-form-urlencoded", body: form(other.csrf)}, 204, ""},
		{"a bearer key needs no token", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: body}, 201, `"key":"alk_`},
		{"cross-site login", req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"root","password":"correct horse"}`,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "cross-origin sign-in refused"},
	} {
		w := e.do(tc.rq)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, w.Code, w.Body, tc.status, tc.want)
		}
	}
}

// A bearer token is tried before the cookie, and a refused one is not
// followed by the cookie.
func TestBearerBeforeCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("ann", "acme", activitylog.ViewLogs)
	s := e.login("ann", "correct horse")
	var p activitylog.Principal
	decode(t, e.do(req{method: "GET", path: "/api/v1/me", cookie: s.cookie, bearer: e.root}), &p)
	if p.Method != "api_key" {
		t.Errorf("with a key and a cookie: %+v", p)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: s.cookie, bearer: "alk_nonsense"}); w.Code != 401 {
		t.Errorf("with a bad key and a good cookie: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: s.cookie, header: map[string]string{"Authorization": "Basic YTpi"}}); w.Code != 401 ||
		!strings.Contains(w.Body.String(), "unsupported Authorization scheme") {
		t.Errorf("Basic: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", bearer: "eyJhbGciOiJIUzI1NiJ9.e30.x"}); w.Code != 401 ||
		!strings.Contains(w.Body.String(), "accepts no JWT") {
		t.Errorf("a JWT without JWT configured: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me"}); w.Code != 401 {
		t.Errorf("nothing: %d %s", w.Code, w.Body)
	}
}
