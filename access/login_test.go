package access_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
)

func loginReq(user, password, remote string) req {
	return req{method: "POST", path: "/api/v1/auth/login", remote: remote,
		body: `{"username":"` + user + `","password":"` + password + `"}`}
}

func TestLoginRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("ann", "acme", activitylog.ViewLogs)
	form := url.Values{"username": {"ann"}, "password": {"correct horse"}}
	for _, tc := range []struct {
		name   string
		rq     req
		status int
		want   string
	}{
		{"json", loginReq("ann", "correct horse", ""), 200, `"csrf_token"`},
		{"username in another case", loginReq("ANN", "correct horse", ""), 200, `"name":"ann"`},
		{"form", req{method: "POST", path: "/api/v1/auth/login", ctype: "application/x-www-form-urlencoded", body: form.Encode()}, 200, `"csrf_token"`},
		{"form with next", req{method: "POST", path: "/api/v1/auth/login", ctype: "application/x-www-form-urlencoded",
			body: form.Encode() + "&next=%2Fui%2Fevents"}, 303, ""},
		{"form with next elsewhere", req{method: "POST", path: "/api/v1/auth/login", ctype: "application/x-www-form-urlencoded",
			body: form.Encode() + "&next=%2F%2Fevil.example"}, 400, `"field":"next"`},
		{"no password", req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"ann"}`}, 400, `"field":"password"`},
		{"no username", req{method: "POST", path: "/api/v1/auth/login", body: `{"password":"x"}`}, 400, `"field":"username"`},
		{"unknown field", req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"ann","password":"x","remember":true}`}, 400, "remember is not a field"},
		{"a name twice", req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"ann","password":"x","username":"root"}`}, 400, "username is given twice"},
		{"a password that is not UTF-8 is not quoted", req{method: "POST", path: "/api/v1/auth/login", body: "{\"username\":\"ann\",\"password\":\"s3cr\xffet\"}"}, 400, `"field":"password","value":""`},
		{"not json", req{method: "POST", path: "/api/v1/auth/login", body: `username=ann`}, 400, "not valid JSON"},
		{"text", req{method: "POST", path: "/api/v1/auth/login", ctype: "text/plain", body: `ann`}, 415, "send application/json"},
		{"GET", req{method: "GET", path: "/api/v1/auth/login"}, 405, ""},
	} {
		w := e.do(tc.rq)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, w.Code, w.Body, tc.status, tc.want)
		}
		if tc.status == 303 && w.Header().Get("Location") != "/ui/events" {
			t.Errorf("%s: Location %q", tc.name, w.Header().Get("Location"))
		}
	}
}

// An unknown username and a wrong password get the same answer, byte
// for byte, and the same auth event but for its reason.
func TestLoginSameAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("ann", "acme", activitylog.ViewLogs)
	unknown := e.do(loginReq("bob", "correct horse", "192.0.2.7:1"))
	wrong := e.do(loginReq("ann", "wrong horse", "192.0.2.8:1"))
	if unknown.Code != 401 || wrong.Code != 401 {
		t.Fatalf("unknown user %d, wrong password %d; want 401", unknown.Code, wrong.Code)
	}
	if unknown.Body.String() != wrong.Body.String() {
		t.Errorf("the answers differ:\n%s\n%s", unknown.Body, wrong.Body)
	}
	if len(unknown.Header()) != len(wrong.Header()) {
		t.Errorf("the headers differ:\n%v\n%v", unknown.Header(), wrong.Header())
	}
	for k := range unknown.Header() {
		if unknown.Header().Get(k) != wrong.Header().Get(k) {
			t.Errorf("header %s: %q and %q", k, unknown.Header().Get(k), wrong.Header().Get(k))
		}
	}
	if cookieOf(unknown, access.DefaultCookieName) != nil || cookieOf(wrong, access.DefaultCookieName) != nil {
		t.Error("a failed sign-in set a cookie")
	}
	ev := e.rec.json(t)
	if !strings.Contains(ev, `"reason":"unknown_user"`) || !strings.Contains(ev, `"reason":"bad_credentials"`) {
		t.Errorf("recorded %s", ev)
	}
	if strings.Contains(ev, "wrong horse") || strings.Contains(ev, "correct horse") {
		t.Errorf("a recorded event holds a password: %s", ev)
	}
}

// An unknown username costs a password hash too, so that its answer
// takes about as long as a wrong password's. The hashes here are made
// costly enough (4 MiB, 2 passes: milliseconds) for a lookup without a
// hash (microseconds) to stand out, and the bound is loose.
// TestLoginSameWork: an unknown username costs a password hash, as a
// wrong password does, so that the time taken does not tell them apart.
// It counts the hashes checked rather than timing them.
func TestLoginSameWork(t *testing.T) {
	e := newEnv(t, &access.Options{MaxLoginFailures: 1000, MaxLoginFailuresPerIP: 1000})
	e.user("ann", "acme", activitylog.ViewLogs)
	e.user("dan", "acme", activitylog.ViewLogs)
	if err := e.svc.SetUserDisabled(context.Background(), "dan", true, nil); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"ann", "nobody", "dan"} {
		before := access.PasswordsVerified(e.svc)
		if w := e.do(loginReq(user, "wrong horse", "")); w.Code != 401 {
			t.Fatalf("%s: %d %s", user, w.Code, w.Body)
		}
		if n := access.PasswordsVerified(e.svc) - before; n != 1 {
			t.Errorf("a failed login as %s checked %d password hashes, want 1 like every other", user, n)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.user("ann", "acme", activitylog.ViewLogs)
	e.user("amy", "acme", activitylog.ViewLogs)

	// Five failures for ann, from different addresses: the sixth
	// attempt is refused, even with the right password.
	for i := range access.DefaultMaxLoginFailures {
		if w := e.do(loginReq("ann", "wrong horse", "198.51.100."+strconv.Itoa(i)+":1")); w.Code != 401 {
			t.Fatalf("failure %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := e.do(loginReq("ann", "correct horse", "198.51.100.99:1"))
	retry, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusTooManyRequests || retry < 890 || retry > 900 || !strings.Contains(w.Body.String(), "retry in") {
		t.Fatalf("sixth attempt: %d, Retry-After %q, %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if cookieOf(w, access.DefaultCookieName) != nil {
		t.Error("a blocked sign-in set a cookie")
	}
	// Other users are not blocked.
	e.login("amy", "correct horse")
	// Ten minutes on, still blocked, with less to wait.
	e.clock.Advance(10 * time.Minute)
	w = e.do(loginReq("ANN", "correct horse", ""))
	if retry, _ := strconv.Atoi(w.Header().Get("Retry-After")); w.Code != 429 || retry > 300 || retry < 290 {
		t.Errorf("after 10 minutes: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// Once the window has passed, the right password signs in, and
	// resets the count.
	e.clock.Advance(5 * time.Minute)
	e.login("ann", "correct horse")
	if w := e.do(loginReq("ann", "wrong horse", "")); w.Code != 401 {
		t.Errorf("a failure after the reset: %d", w.Code)
	}

	// One address: twenty failures over many usernames, then 429 for
	// anyone from it, and not for others.
	for i := range access.DefaultMaxLoginFailuresPerIP {
		if w := e.do(loginReq("user"+strconv.Itoa(i), "x", "203.0.113.5:1")); w.Code != 401 {
			t.Fatalf("address failure %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	if w := e.do(loginReq("amy", "correct horse", "203.0.113.5:2")); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("from the blocked address: %d %s", w.Code, w.Body)
	}
	if w := e.do(loginReq("amy", "correct horse", "203.0.113.6:1")); w.Code != 200 {
		t.Errorf("from another address: %d %s", w.Code, w.Body)
	}

	got := strings.Join(e.rec.actions(), " ")
	if n := strings.Count(got, "auth/blocked"); n != 3 {
		t.Errorf("%d blocked events, want 3: %s", n, got)
	}
	if n := strings.Count(got, "auth/login_failed"); n != 5+1+20 {
		t.Errorf("%d login_failed events, want 26", n)
	}
	if ev := e.rec.json(t); strings.Contains(ev, "horse") {
		t.Errorf("a recorded event holds a password: %s", ev)
	}
}
