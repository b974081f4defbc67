package dbconfighttp_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// A body sent as anything but JSON is refused 415, and an id no config
// can have is a 400 naming id, not a 404; nothing is stored either way.
func TestRefusedMediaTypeAndID(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("root", map[string]any{"name": "replica", "database": "a", "tenant": "acme"})
	body := `{"name": "n", "engine": "postgres", "host": "h", "database": "d"}`
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		want                            []string
	}{
		{"create as text/plain", "POST", "", "text/plain", body, 415, []string{`"code":"unsupported_media_type"`, `"field":"Content-Type"`, `"value":"text/plain"`}},
		{"update as a form", "PUT", "/" + id, "application/x-www-form-urlencoded", `{"host": "h2"}`, 415, []string{`"field":"Content-Type"`}},
		{"test a connection in latin1", "POST", "/" + id + "/test-connection", "application/json; charset=latin1", `{"port": 1}`, 415, []string{`"field":"Content-Type"`}},
		{"an id with a space", "GET", "/bad%20id", "", "", 400, []string{`"field":"id"`, `"value":"bad id"`}},
		{"an id too long", "DELETE", "/" + strings.Repeat("x", 65), "", "", 400, []string{`"field":"id"`}},
		{"a well-formed id that is not there", "GET", "/dbc_0000000000000000", "", "", 404, []string{`"code":"not_found"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/api/v1/database-configs"+tc.path, strings.NewReader(tc.body))
			r.Header.Set("Authorization", "Bearer root")
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
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
	if cs, _ := e.repo.List(context.Background()); len(cs) != 1 || cs[0].Host == "h2" {
		t.Errorf("refused requests changed the configs: %+v", cs)
	}
}
