package access_test

import (
	"strings"
	"testing"
)

// The admin routes refuse what they would otherwise take without a
// word: a body that is not JSON by its Content-Type, a query parameter
// (none of them takes one), a username no user can have.
func TestAdminRoutesRefuseStrays(t *testing.T) {
	e := newEnv(t, nil)
	key := e.do(req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"spare","scopes":["ingest"]}`})
	if key.Code != 201 {
		t.Fatalf("make a key: %d %s", key.Code, key.Body)
	}
	id := between(key.Body.String(), `"id":"`, `"`)
	for _, tc := range []struct {
		name   string
		rq     req
		status int
		want   []string
	}{
		{"a key as text/plain", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, ctype: "text/plain", body: `{"name":"x","scopes":["ingest"]}`},
			415, []string{`"code":"unsupported_media_type"`, `"field":"Content-Type"`, `"value":"text/plain"`}},
		{"a user as a form", req{method: "POST", path: "/api/v1/users", bearer: e.root, ctype: "application/x-www-form-urlencoded", body: `{"username":"bob","password":"a long passphrase"}`},
			415, []string{`"field":"Content-Type"`}},
		{"a patch in latin1", req{method: "PATCH", path: "/api/v1/users/viewer", bearer: e.root, ctype: "application/json; charset=latin1", body: `{"disabled":true}`},
			415, []string{`"field":"Content-Type"`, `latin1`}},
		{"revoke with a parameter", req{method: "DELETE", path: "/api/v1/api-keys/" + id + "?dry_run=1", bearer: e.root},
			400, []string{`"field":"dry_run"`, `"value":"1"`}},
		{"list keys with a parameter", req{method: "GET", path: "/api/v1/api-keys?tenant=acme", bearer: e.root},
			400, []string{`"field":"tenant"`}},
		{"list users with a parameter", req{method: "GET", path: "/api/v1/users?page_size=5", bearer: e.root},
			400, []string{`"field":"page_size"`}},
		{"the session with a parameter", req{method: "GET", path: "/api/v1/auth/session?x=1", bearer: e.root},
			400, []string{`"field":"x"`}},
		{"a username no user can have", req{method: "PATCH", path: "/api/v1/users/" + strings.Repeat("a", 65), bearer: e.root, body: `{"disabled":true}`},
			400, []string{`"field":"username"`}},
		{"a username with a space", req{method: "PATCH", path: "/api/v1/users/bob%20smith", bearer: e.root, body: `{"disabled":true}`},
			400, []string{`"field":"username"`, `"value":"bob smith"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.rq)
			if w.Code != tc.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.status)
			}
			for _, s := range tc.want {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("answer %s lacks %s", w.Body, s)
				}
			}
		})
	}
	// The refused revoke revoked nothing.
	if w := e.do(req{method: "GET", path: "/api/v1/api-keys", bearer: e.root}); strings.Contains(w.Body.String(), `"revoked_at"`) {
		t.Errorf("a key was revoked: %s", w.Body)
	}
}

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(after, to)
	return v
}
