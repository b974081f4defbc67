package dbconfighttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/dbconfig/dbconfighttp"
)

// errorField reads the field an error answer names.
func errorField(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Error struct {
			Field string `json:"field"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	return b.Error.Field
}

// A tenant admin who never saw the password cannot have the server send
// the stored password to a host of their choice: a test-connection that
// changes where it connects must give the password itself.
func TestTestConnectionSendsStoredPasswordOnlyToItsServer(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("root", map[string]any{"name": "acme-pg", "tenant": "acme", "database": "audit"})
	for _, body := range []string{
		`{"host":"evil.example","port":5432,"options":{"sslmode":"disable"}}`,
		`{"port":6543}`,
		`{"user":"postgres"}`,
		`{"database":"other"}`,
		`{"engine":"mysql"}`,
	} {
		w := e.do("POST", "/api/v1/database-configs/"+id+"/test-connection", "acme-dbadmin", body)
		if w.Code != 400 || errorField(t, w.Body.Bytes()) != "password" {
			t.Fatalf("test-connection %s: %d %s, want 400 naming password", body, w.Code, w.Body)
		}
	}
	// With a password of its own, the request tries it there.
	w := e.do("POST", "/api/v1/database-configs/"+id+"/test-connection", "acme-dbadmin", `{"host":"evil.example","password":"mine"}`)
	if w.Code != 200 {
		t.Fatalf("test-connection with a password: %d %s", w.Code, w.Body)
	}
	// Unchanged, the stored password is used.
	if w := e.do("POST", "/api/v1/database-configs/"+id+"/test-connection", "acme-dbadmin", `{"options":{"sslmode":"require"}}`); w.Code != 200 {
		t.Fatalf("test-connection: %d %s", w.Code, w.Body)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.checked) != 2 {
		t.Fatalf("the checker ran %d times, want 2", len(e.checked))
	}
	for _, c := range e.checked {
		if c.Host == "evil.example" && c.Password == secretPassword {
			t.Fatalf("stored password handed to the checker for host %s chosen by the request", c.Host)
		}
	}
	if c := e.checked[0]; c.Host != "evil.example" || c.Password != "mine" {
		t.Fatalf("the first check was %s with password %q", c.Host, c.Password)
	}
	if c := e.checked[1]; c.Host != "127.0.0.1" || c.Password != secretPassword {
		t.Fatalf("the check of the stored config was %s without its password", c.Host)
	}
}

// A PUT that moves a config to another server, or signs in as another
// user, without giving the password is refused, and nothing changes.
func TestUpdateMovingRequiresPassword(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	id := e.create("root", map[string]any{"name": "acme-pg", "tenant": "acme", "database": "audit"})
	before, _ := e.repo.Get(ctx, id)
	for _, body := range []string{`{"host":"evil.example"}`, `{"port":1}`, `{"user":"x"}`, `{"database":"x"}`, `{"engine":"mongodb"}`} {
		for _, token := range []string{"acme-dbadmin", "root"} {
			w := e.do("PUT", "/api/v1/database-configs/"+id, token, body)
			if w.Code != 400 || errorField(t, w.Body.Bytes()) != "password" || !strings.Contains(w.Body.String(), "is required when") {
				t.Fatalf("PUT %s as %s: %d %s, want 400 naming password", body, token, w.Code, w.Body)
			}
		}
	}
	if after, _ := e.repo.Get(ctx, id); after.Host != before.Host || after.Secret != before.Secret {
		t.Fatalf("a refused PUT changed the config: %+v", after)
	}
	// With the password, it moves, sealed anew.
	if w := e.do("PUT", "/api/v1/database-configs/"+id, "acme-dbadmin", `{"host":"db2.example","password":"new-pw"}`); w.Code != 200 {
		t.Fatalf("PUT with the password: %d %s", w.Code, w.Body)
	}
	after, _ := e.repo.Get(ctx, id)
	if pw, err := e.keys.Decrypt(id, after.Secret); err != nil || pw != "new-pw" || after.Host != "db2.example" {
		t.Fatalf("after the move: host %s, password %q %v", after.Host, pw, err)
	}
	// A config without a password moves freely.
	id2 := e.create("root", map[string]any{"name": "nopw", "tenant": "acme", "database": "d", "password": "", "primary": false})
	if w := e.do("PUT", "/api/v1/database-configs/"+id2, "acme-dbadmin", `{"host":"db3.example"}`); w.Code != 200 {
		t.Fatalf("PUT of a config without password: %d %s", w.Code, w.Body)
	}
	e.noPassword()
}

// SQLite configs name a file on the server's disk: only a superuser
// may create, change to, or test one.
func TestSQLiteSuperuserOnly(t *testing.T) {
	e := newEnv(t, nil)
	path := e.dir + "/root.db"
	w := e.do("POST", "/api/v1/database-configs", "root", `{"name":"s","engine":"sqlite","database":"`+path+`","tenant":"acme"}`)
	if w.Code != 201 {
		t.Fatalf("superuser POST: %d %s", w.Code, w.Body)
	}
	var c struct{ ID string }
	json.Unmarshal(w.Body.Bytes(), &c)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/database-configs", `{"name":"t","engine":"sqlite","database":"/etc/passwd","tenant":"acme","primary":false}`},
		{"PUT", "/api/v1/database-configs/" + c.ID, `{"database":"/etc/passwd"}`},
		{"POST", "/api/v1/database-configs/" + c.ID + "/test-connection", ``},
	} {
		w := e.do(tc.method, tc.path, "acme-dbadmin", tc.body)
		if w.Code != 403 || errorField(t, w.Body.Bytes()) != "engine" {
			t.Fatalf("%s %s as a tenant admin: %d %s, want 403 naming engine", tc.method, tc.path, w.Code, w.Body)
		}
	}
}

// A failed check tells a principal that is not a superuser only that
// it could not connect: the detail would map the server's network.
func TestCheckErrorsGenericForNonSuperusers(t *testing.T) {
	check := func(ctx context.Context, c dbconfig.Config) error {
		return fmt.Errorf("dial tcp 10.1.2.3:5432: %w: connection refused", activitylog.ErrUnavailable)
	}
	e := newEnv(t, &dbconfighttp.Options{Check: check})
	id := e.create("root", map[string]any{"name": "acme-pg", "tenant": "acme", "database": "audit"})
	type result struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		Route *struct {
			Error string `json:"error"`
		} `json:"route"`
	}
	for _, what := range []string{"test-connection", "health-check"} {
		for _, tc := range []struct{ token, want string }{{"acme-dbadmin", "could not connect"}, {"root", "10.1.2.3"}} {
			w := e.do("POST", "/api/v1/database-configs/"+id+"/"+what, tc.token, "")
			var r result
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || w.Code != 200 {
				t.Fatalf("%s as %s: %d %s", what, tc.token, w.Code, w.Body)
			}
			if r.OK || !strings.Contains(r.Error, tc.want) || tc.token != "root" && r.Error != "could not connect" {
				t.Fatalf("%s as %s answers %q, want %q", what, tc.token, r.Error, tc.want)
			}
			if r.Route != nil && r.Route.Error != "" && tc.token != "root" && r.Route.Error != "could not connect" {
				t.Fatalf("%s as %s shows the route's error %q", what, tc.token, r.Route.Error)
			}
		}
	}
	// The tenant admin's test (the first) is recorded without the
	// detail either.
	for _, ev := range e.audit.Events() {
		if ev.Extra["operation"] == "test_connection" {
			if ev.Extra["error"] != "could not connect" {
				t.Fatalf("the audit event of a tenant admin's test holds %q", ev.Extra["error"])
			}
			break
		}
	}
}
