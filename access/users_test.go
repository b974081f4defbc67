package access_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
)

// The users routes, as a superuser's program (API key) and a viewer's
// browser meet them.
func TestUsersAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.user("viewer", "acme", activitylog.ViewLogs)
	viewer := e.login("viewer", "correct horse")
	admin := e.user("admin", "", activitylog.Superuser)
	adminS := e.login("admin", "correct horse")
	asViewer := func(method, path, body string) req {
		return req{method: method, path: path, body: body, cookie: viewer.cookie, header: map[string]string{"X-CSRF-Token": viewer.csrf}}
	}

	for _, tc := range []struct {
		name     string
		rq       req
		status   int
		contains []string
		absent   []string
	}{
		{"list", req{method: "GET", path: "/api/v1/users", bearer: e.root}, 200,
			[]string{`"count":2`, `"username":"viewer"`, `"tenant":"acme"`, `"permissions":["view_logs"]`, `"disabled":false`},
			[]string{"argon2", "password"}},
		{"list, a viewer", asViewer("GET", "/api/v1/users", ""), 403, []string{`"code":"forbidden"`}, nil},
		{"list, nobody", req{method: "GET", path: "/api/v1/users"}, 401, nil, nil},
		{"create", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"ana","password":"a long passphrase","tenant":"acme","permissions":["view_logs","resolve_events"]}`}, 201,
			[]string{`"username":"ana"`, `"permissions":["view_logs","resolve_events"]`, `"id":"u_`}, []string{"passphrase", "argon2"}},
		{"create, a taken name in another case", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"VIEWER","password":"a long passphrase"}`}, 400, []string{`"field":"username"`}, nil},
		{"create a superuser", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"boss","password":"a long passphrase","permissions":["superuser"]}`}, 400,
			[]string{`"field":"permissions"`, `"value":"superuser"`}, nil},
		{"create, an unknown permission", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"bob","password":"a long passphrase","permissions":["fly"]}`}, 400,
			[]string{`"field":"permissions`, `fly`}, nil},
		{"create, a short password", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"bob","password":"short"}`}, 400, []string{`"field":"password"`}, []string{`"value":"short"`}},
		{"create, a bad username", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"bob smith","password":"a long passphrase"}`}, 400, []string{`"field":"username"`, `"value":"bob smith"`}, nil},
		{"create, an unknown field", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"bob","password":"a long passphrase","admin":true}`}, 400, []string{`"field":"admin"`, `"value":""`, `is not a field`}, nil},
		{"create, a name twice", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"bob","password":"a long passphrase","username":"root2"}`}, 400, []string{`"field":"username"`, `twice`}, nil},
		{"create, a name in another case", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"bob","password":"a long passphrase","Username":"root2"}`}, 400, []string{`"field":"Username"`, `did you mean`}, nil},
		{"create, a password of the wrong type is not shown", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"bob","password":["hunter2hunter2"]}`}, 400, []string{`"field":"password"`, `"value":""`}, []string{"hunter2"}},
		{"create, two objects", req{method: "POST", path: "/api/v1/users", bearer: e.root,
			body: `{"username":"bob","password":"a long passphrase"}{}`}, 400, []string{`"field":"body"`}, nil},
		{"create, a viewer", asViewer("POST", "/api/v1/users", `{"username":"bob","password":"a long passphrase"}`), 403, nil, nil},
		{"patch, no field", req{method: "PATCH", path: "/api/v1/users/viewer", bearer: e.root, body: `{}`}, 400,
			[]string{`"field":"disabled"`, "or permissions"}, nil},
		{"patch, grant superuser", req{method: "PATCH", path: "/api/v1/users/viewer", bearer: e.root, body: `{"permissions":["view_logs","superuser"]}`}, 400,
			[]string{`"field":"permissions"`, `superuser`}, nil},
		{"patch, an unknown permission", req{method: "PATCH", path: "/api/v1/users/viewer", bearer: e.root, body: `{"permissions":["fly"]}`}, 400,
			[]string{`"field":"permissions`, `fly`}, nil},
		{"patch, a superuser's permissions", req{method: "PATCH", path: "/api/v1/users/admin", bearer: e.root, body: `{"permissions":["view_logs"]}`}, 400,
			[]string{`"field":"permissions"`, "command line"}, nil},
		{"patch, one's own permissions", req{method: "PATCH", path: "/api/v1/users/admin", cookie: adminS.cookie,
			header: map[string]string{"X-CSRF-Token": adminS.csrf}, body: `{"permissions":["view_logs"]}`}, 400,
			[]string{`"field":"permissions"`, "your own user"}, nil},
		{"patch, a wrong type", req{method: "PATCH", path: "/api/v1/users/viewer", bearer: e.root, body: `{"disabled":"yes"}`}, 400,
			[]string{`"field":"disabled"`, `"value":"yes"`, `want true or false`}, nil},
		{"patch, a name in another case", req{method: "PATCH", path: "/api/v1/users/viewer", bearer: e.root, body: `{"Disabled":true}`}, 400,
			[]string{`"field":"Disabled"`, `did you mean \"disabled\"`}, nil},
		{"patch, an unknown user", req{method: "PATCH", path: "/api/v1/users/nobody", bearer: e.root, body: `{"disabled":true}`}, 404,
			[]string{`"code":"not_found"`, `no user nobody`}, nil},
		{"patch, oneself", req{method: "PATCH", path: "/api/v1/users/admin", cookie: adminS.cookie,
			header: map[string]string{"X-CSRF-Token": adminS.csrf}, body: `{"disabled":true}`}, 400,
			[]string{`"field":"disabled"`, "your own user"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.rq)
			if w.Code != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.rq.method, tc.rq.path, w.Code, w.Body, tc.status)
			}
			for _, s := range tc.contains {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("answer %s lacks %s", w.Body, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(w.Body.String(), s) {
					t.Errorf("answer %s holds %s", w.Body, s)
				}
			}
		})
	}

	// The user made through the API signs in.
	ana := e.login("ana", "a long passphrase")

	// Her permissions change under her session, from its next request.
	me := func() string {
		w := e.do(req{method: "GET", path: "/api/v1/me", cookie: ana.cookie})
		return w.Body.String()
	}
	if got := me(); !strings.Contains(got, `"resolve_events"`) {
		t.Fatalf("ana before: %s", got)
	}
	w := e.do(req{method: "PATCH", path: "/api/v1/users/ana", bearer: e.root, body: `{"permissions":["view_all_logs"]}`})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"permissions":["view_all_logs"]`) {
		t.Fatalf("set ana's permissions: %d %s", w.Code, w.Body)
	}
	if got := me(); !strings.Contains(got, `"view_all_logs"`) || strings.Contains(got, `"resolve_events"`) {
		t.Errorf("ana's session after the change: %s", got)
	}
	if got := e.rec.json(t); !strings.Contains(got, `"previous_permissions":"view_logs,resolve_events"`) {
		t.Errorf("the permission change is not recorded with the previous permissions")
	}

	// Disabling ends the viewer's session at once and stops sign-in;
	// enabling lets it sign in again. Both are recorded.
	w = e.do(req{method: "PATCH", path: "/api/v1/users/VIEWER", cookie: adminS.cookie,
		header: map[string]string{"X-CSRF-Token": adminS.csrf}, body: `{"disabled":true}`})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"disabled":true`) {
		t.Fatalf("disable: %d %s", w.Code, w.Body)
	}
	if w := e.do(asViewer("GET", "/api/v1/events", "")); w.Code != http.StatusUnauthorized {
		t.Errorf("the disabled user's session still works: %d", w.Code)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"viewer","password":"correct horse"}`}); w.Code != http.StatusUnauthorized {
		t.Errorf("a disabled user signs in: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "PATCH", path: "/api/v1/users/viewer", bearer: e.root, body: `{"disabled":false}`}); w.Code != 200 {
		t.Fatalf("enable: %d %s", w.Code, w.Body)
	}
	e.login("viewer", "correct horse")

	got := e.rec.json(t)
	for _, want := range []string{`"action":"create","severity":"info"`, `"object":{"type":"user"`, `"disabled":true`, `"disabled":false`, admin.ID} {
		if !strings.Contains(got, want) {
			t.Errorf("the recorded events lack %s", want)
		}
	}
}
