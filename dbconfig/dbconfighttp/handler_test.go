package dbconfighttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/dbconfig/dbconfighttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// The principals of the tests, by bearer token.
var principals = map[string]*activitylog.Principal{
	"root":         {ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}},
	"dbadmin":      {ID: "dba", Permissions: []activitylog.Permission{activitylog.ManageDatabaseConfig}},
	"acme-dbadmin": {ID: "ada", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ManageDatabaseConfig}},
	"viewer":       {ID: "vic", Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ManageRetention}},
	"ingest":       {ID: "key", Permissions: []activitylog.Permission{activitylog.Ingest}},
}

func auth(r *http.Request) (*activitylog.Principal, error) {
	tok := server.BearerToken(r)
	if tok == "" {
		return nil, nil
	}
	if p, ok := principals[tok]; ok {
		return p, nil
	}
	return nil, errors.New("unknown bearer token")
}

// The password every test config is given, and must never see again.
const secretPassword = "Sup3r:Secret/Pw@x"

type env struct {
	t       *testing.T
	dir     string
	store   *sqlite.Store
	repo    *sqlite.DatabaseConfigs
	keys    *dbconfig.Keyring
	audit   *storetest.Collector
	router  *dbconfig.Router
	h       http.Handler
	bodies  [][]byte // every answer's body
	checked []dbconfig.Config
	mu      sync.Mutex
}

func newEnv(t *testing.T, opts *dbconfighttp.Options) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), audit: &storetest.Collector{}}
	s, err := sqlite.Open(filepath.Join(e.dir, "control.db"), &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.store, e.repo = s, s.DatabaseConfigs()
	k, _ := dbconfig.GenerateKey("k1")
	e.keys, _ = dbconfig.NewKeyring([]dbconfig.Key{k})
	open := func(ctx context.Context, c dbconfig.Config, password string) (activitylog.Store, error) {
		if c.Engine != dbconfig.SQLite {
			return nil, fmt.Errorf("no opener for %s", c.Engine)
		}
		return sqlite.Open(c.Database, &sqlite.Options{CheckpointInterval: -1})
	}
	e.router, err = dbconfig.NewRouter(s, e.repo, open, &dbconfig.RouterOptions{
		Pending: s.PendingEvents(), Keyring: e.keys, Refresh: -1, ReplayInterval: -1, OpenTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.router.Close() })
	var o dbconfighttp.Options
	if opts != nil {
		o = *opts
	}
	o.Audit, o.Router, o.Logger = e.audit, e.router, slog.New(slog.DiscardHandler)
	if o.Check == nil {
		o.Check = func(ctx context.Context, c dbconfig.Config) error {
			e.mu.Lock()
			e.checked = append(e.checked, c)
			e.mu.Unlock()
			return nil
		}
	}
	h, err := dbconfighttp.New(e.repo, e.keys, &o)
	if err != nil {
		t.Fatal(err)
	}
	e.h = server.New(s, nil, &server.Options{Authenticate: auth, Routes: h.Routes()})
	return e
}

// do sends a request and keeps the answer's body for the password
// checks.
func (e *env) do(method, path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	r := httptest.NewRequest(method, path, rd)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	e.mu.Lock()
	e.bodies = append(e.bodies, bytes.Clone(w.Body.Bytes()))
	e.mu.Unlock()
	return w
}

// create makes a config through the API and returns its id.
func (e *env) create(token string, fields map[string]any) string {
	e.t.Helper()
	body := map[string]any{"engine": "postgres", "host": "127.0.0.1", "port": 5432, "user": "audit", "password": secretPassword}
	for k, v := range fields {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	w := e.do("POST", "/api/v1/database-configs", token, string(b))
	if w.Code != http.StatusCreated {
		e.t.Fatalf("POST %s: %d %s", b, w.Code, w.Body)
	}
	var c struct {
		ID string `json:"id"`
	}
	json.Unmarshal(w.Body.Bytes(), &c)
	return c.ID
}

// noPassword fails if any answer or any audit event ever held the
// password, plain or sealed, or any stored secret.
func (e *env) noPassword() {
	e.t.Helper()
	cs, _ := e.repo.List(context.Background())
	secrets := []string{secretPassword, url.QueryEscape(secretPassword), url.PathEscape(secretPassword), "Sup3r"}
	for _, c := range cs {
		if c.Secret != "" {
			secrets = append(secrets, c.Secret, strings.SplitN(c.Secret, ":", 3)[2])
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.bodies {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				e.t.Fatalf("an answer holds %q: %s", s, b)
			}
		}
	}
	for _, ev := range e.audit.Events() {
		b, _ := json.Marshal(ev)
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				e.t.Fatalf("an audit event holds %q: %s", s, b)
			}
		}
	}
}

func TestPermissions(t *testing.T) {
	e := newEnv(t, nil)
	acme := e.create("root", map[string]any{"name": "acme", "database": "a", "tenant": "acme"})
	globex := e.create("root", map[string]any{"name": "globex", "database": "g", "tenant": "globex"})
	newBody := func(name, tenant string) string {
		return fmt.Sprintf(`{"name": %q, "engine": "postgres", "host": "h", "database": "d", "tenant": %q}`, name, tenant)
	}
	cases := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"list, anonymous", "GET", "/api/v1/database-configs", "", "", 401},
		{"list, viewer", "GET", "/api/v1/database-configs", "viewer", "", 403},
		{"list, ingest key", "GET", "/api/v1/database-configs", "ingest", "", 403},
		{"list, dbadmin", "GET", "/api/v1/database-configs", "dbadmin", "", 200},
		{"list, superuser", "GET", "/api/v1/database-configs", "root", "", 200},
		{"create, viewer", "POST", "/api/v1/database-configs", "viewer", newBody("v", ""), 403},
		{"create, anonymous", "POST", "/api/v1/database-configs", "", newBody("v", ""), 401},
		{"create, tenant admin, own tenant", "POST", "/api/v1/database-configs", "acme-dbadmin", newBody("acme-req", "acme"), 400}, // acme has a primary for all already
		{"create, tenant admin, other tenant", "POST", "/api/v1/database-configs", "acme-dbadmin", newBody("x", "globex"), 403},
		{"create, dbadmin", "POST", "/api/v1/database-configs", "dbadmin", newBody("untenanted", ""), 201},
		{"get, viewer", "GET", "/api/v1/database-configs/" + acme, "viewer", "", 403},
		{"get, tenant admin, own", "GET", "/api/v1/database-configs/" + acme, "acme-dbadmin", "", 200},
		{"get, tenant admin, other tenant's", "GET", "/api/v1/database-configs/" + globex, "acme-dbadmin", "", 404},
		{"get, superuser", "GET", "/api/v1/database-configs/" + globex, "root", "", 200},
		{"update, viewer", "PUT", "/api/v1/database-configs/" + acme, "viewer", `{"port": 6432}`, 403},
		{"update, tenant admin, other tenant's", "PUT", "/api/v1/database-configs/" + globex, "acme-dbadmin", `{"port": 6432}`, 404},
		{"update, tenant admin, moving to another tenant", "PUT", "/api/v1/database-configs/" + acme, "acme-dbadmin", `{"tenant": "globex"}`, 403},
		{"update, tenant admin, own", "PUT", "/api/v1/database-configs/" + acme, "acme-dbadmin", `{"name": "acme2"}`, 200},
		{"update, tenant admin, own, to sqlite", "PUT", "/api/v1/database-configs/" + acme, "acme-dbadmin",
			`{"engine": "sqlite", "host": "", "port": 0, "database": "/etc/passwd", "password": ""}`, 403},
		{"create sqlite, tenant admin", "POST", "/api/v1/database-configs", "acme-dbadmin",
			`{"name": "s", "engine": "sqlite", "database": "/tmp/x.db", "tenant": "acme", "primary": false}`, 403},
		{"create sqlite, dbadmin", "POST", "/api/v1/database-configs", "dbadmin",
			`{"name": "s", "engine": "sqlite", "database": "/tmp/x.db", "primary": false}`, 403},
		{"test, viewer", "POST", "/api/v1/database-configs/" + acme + "/test-connection", "viewer", "", 403},
		{"test, tenant admin, other tenant's", "POST", "/api/v1/database-configs/" + globex + "/test-connection", "acme-dbadmin", "", 404},
		{"test, tenant admin, own", "POST", "/api/v1/database-configs/" + acme + "/test-connection", "acme-dbadmin", "", 200},
		{"health, ingest key", "POST", "/api/v1/database-configs/" + acme + "/health-check", "ingest", "", 403},
		{"health, dbadmin, untenanted admin on a tenant's", "POST", "/api/v1/database-configs/" + acme + "/health-check", "dbadmin", "", 404},
		{"health, superuser", "POST", "/api/v1/database-configs/" + acme + "/health-check", "root", "", 200},
		{"delete, viewer", "DELETE", "/api/v1/database-configs/" + globex, "viewer", "", 403},
		{"delete, tenant admin, other tenant's", "DELETE", "/api/v1/database-configs/" + globex, "acme-dbadmin", "", 404},
		{"delete, superuser", "DELETE", "/api/v1/database-configs/" + globex, "root", "", 204},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.method, c.path, c.token, c.body)
			if w.Code != c.want {
				t.Fatalf("%s %s as %q: %d, want %d: %s", c.method, c.path, c.token, w.Code, c.want, w.Body)
			}
		})
	}
	// A tenant admin lists its tenant's configs only.
	var list struct {
		Count   int `json:"count"`
		Results []struct {
			Tenant string `json:"tenant"`
		} `json:"results"`
	}
	json.Unmarshal(e.do("GET", "/api/v1/database-configs", "acme-dbadmin", "").Body.Bytes(), &list)
	if list.Count != 1 || list.Results[0].Tenant != "acme" {
		t.Fatalf("acme's admin lists %+v", list)
	}
	e.noPassword()
}

// Bad bodies are refused with a 400 that names the field and the
// value; nothing is stored.
func TestValidation(t *testing.T) {
	e := newEnv(t, nil)
	e.create("root", map[string]any{"name": "taken", "database": "a", "tenant": "acme"})
	id := e.create("root", map[string]any{"name": "replica", "database": "a", "tenant": "acme", "primary": false, "read_only": true})
	ok := `"name": "n", "engine": "postgres", "host": "h", "database": "d"`
	cases := []struct {
		name, method, path, body string
		field, value             string
	}{
		{"unknown field", "POST", "", `{` + ok + `, "passwd": "x"}`, "passwd", ""},
		{"bad engine", "POST", "", `{"name": "n", "engine": "oracle", "host": "h", "database": "d"}`, "engine", "oracle"},
		{"port not a number", "POST", "", `{` + ok + `, "port": "5432"}`, "port", "5432"},
		{"a field twice", "POST", "", `{` + ok + `, "port": 1, "port": 2}`, "port", ""},
		{"a field in another case", "POST", "", `{` + ok + `, "Host": "elsewhere"}`, "Host", "elsewhere"},
		{"null for a field", "POST", "", `{` + ok + `, "port": null}`, "port", "null"},
		{"a password that is not UTF-8 is not shown", "POST", "", `{` + ok + `, "password": "s3cr\ud800et"}`, "password", ""},
		{"a password in the options is not shown", "POST", "", `{` + ok + `, "options": {"sslpassword": 7}}`, "options.sslpassword", ""},
		{"port out of range", "POST", "", `{` + ok + `, "port": 99999}`, "port", "99999"},
		{"no name", "POST", "", `{"engine": "postgres", "host": "h", "database": "d"}`, "name", ""},
		{"no host", "POST", "", `{"name": "n", "engine": "postgres", "database": "d"}`, "host", ""},
		{"bad route_for", "POST", "", `{` + ok + `, "route_for": "everything"}`, "route_for", "everything"},
		{"secret in options", "POST", "", `{` + ok + `, "options": {"password": "` + secretPassword + `"}}`, "options.password", "[REDACTED]"},
		{"options not strings", "POST", "", `{` + ok + `, "options": {"a": 1}}`, "options.a", "1"},
		{"id on create", "POST", "", `{` + ok + `, "id": "dbc_x"}`, "id", "dbc_x"},
		{"name taken", "POST", "", `{"name": "TAKEN", "engine": "postgres", "host": "h", "database": "d", "tenant": "x"}`, "name", "TAKEN"},
		{"second primary", "POST", "", `{"name": "n2", "engine": "postgres", "host": "h", "database": "d", "tenant": "acme"}`, "primary", "true"},
		{"primary read-only", "POST", "", `{` + ok + `, "read_only": true, "primary": true}`, "read_only", "true"},
		{"not JSON", "POST", "", `{"name": `, "body", ""},
		{"two objects", "POST", "", `{` + ok + `} {}`, "body", ""},
		{"array", "POST", "", `[]`, "body", ""},
		{"empty", "POST", "", ``, "body", ""},
		{"update to a second primary", "PUT", "/" + id, `{"primary": true, "read_only": false}`, "primary", "true"},
		{"update another id", "PUT", "/" + id, `{"id": "dbc_other"}`, "id", "dbc_other"},
		{"update unknown field", "PUT", "/" + id, `{"hostname": "x"}`, "hostname", ""},
		{"update with null", "PUT", "/" + id, `{"database": null}`, "database", "null"},
		{"test with a bad override", "POST", "/" + id + "/test-connection", `{"port": -1}`, "port", "-1"},
		{"health check with a body", "POST", "/" + id + "/health-check", `{"port": 1}`, "body", ""},
		{"list with a parameter", "GET", "?tenant=acme", ``, "tenant", "acme"},
	}
	before, _ := e.repo.List(context.Background())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.method, "/api/v1/database-configs"+c.path, "root", c.body)
			if w.Code != 400 {
				t.Fatalf("%d, want 400: %s", w.Code, w.Body)
			}
			var body struct {
				Error struct {
					Code  string  `json:"code"`
					Field string  `json:"field"`
					Value *string `json:"value"`
				} `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Error.Code != "invalid" || body.Error.Field != c.field || body.Error.Value == nil || *body.Error.Value != c.value {
				t.Fatalf("error names %q %v, want %q %q: %s", body.Error.Field, body.Error.Value, c.field, c.value, w.Body)
			}
		})
	}
	after, _ := e.repo.List(context.Background())
	if len(after) != len(before) {
		t.Fatalf("refused requests stored configs: %d before, %d after", len(before), len(after))
	}
	e.noPassword()
}

func TestUnknownID(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/database-configs/dbc_0000000000000000", ""},
		{"PUT", "/api/v1/database-configs/dbc_0000000000000000", `{"port": 1}`},
		{"DELETE", "/api/v1/database-configs/dbc_0000000000000000", ""},
		{"POST", "/api/v1/database-configs/dbc_0000000000000000/test-connection", ""},
		{"POST", "/api/v1/database-configs/dbc_0000000000000000/health-check", ""},
	} {
		w := e.do(c.method, c.path, "root", c.body)
		if w.Code != 404 || !strings.Contains(w.Body.String(), `"not_found"`) {
			t.Errorf("%s %s: %d %s, want 404", c.method, c.path, w.Code, w.Body)
		}
	}
}

// The life of a config through the API: the password is written,
// never read back, kept on updates that do not name it, replaced or
// removed by those that do; the router follows each change; every
// change is recorded without it.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	path := filepath.Join(e.dir, "acme.db")
	w := e.do("POST", "/api/v1/database-configs", "root",
		`{"name": "acme", "engine": "sqlite", "database": "`+path+`", "password": "`+secretPassword+`", "tenant": "acme"}`)
	if w.Code != 201 {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	var got map[string]any
	json.Unmarshal(w.Body.Bytes(), &got)
	id, _ := got["id"].(string)
	if got["has_password"] != true || got["route_for"] != "all" || got["primary"] != true || got["active"] != true || got["tenant"] != "acme" {
		t.Fatalf("created %s", w.Body)
	}
	if _, ok := got["password"]; ok {
		t.Fatalf("the answer has a password member: %s", w.Body)
	}
	// The router took the change at once: acme's events go to its file.
	es := []activitylog.Event{{ID: activitylog.NewID(time.Now()), Time: time.Now().UTC(), Kind: activitylog.KindCRUD, Action: "create",
		Severity: activitylog.SeverityInfo, Tenant: "acme"}}
	if err := e.router.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if h := e.router.Health(id); !h.Open || h.Written != 1 {
		t.Fatalf("after POST the router's route is %+v", h)
	}
	// The stored password opens to what was sent.
	stored, _ := e.repo.Get(ctx, id)
	if pw, err := e.keys.Decrypt(id, stored.Secret); err != nil || pw != secretPassword {
		t.Fatalf("stored password opens to %q, %v", pw, err)
	}
	// An update that does not name the password keeps it.
	if w := e.do("PUT", "/api/v1/database-configs/"+id, "root", `{"name": "acme2"}`); w.Code != 200 {
		t.Fatalf("PUT: %d %s", w.Code, w.Body)
	}
	if s, _ := e.repo.Get(ctx, id); s.Secret != stored.Secret || s.Name != "acme2" {
		t.Fatalf("after a PUT without password: secret changed %v, name %q", s.Secret != stored.Secret, s.Name)
	}
	// GET's answer can be sent back as is.
	w = e.do("GET", "/api/v1/database-configs/"+id, "root", "")
	if w2 := e.do("PUT", "/api/v1/database-configs/"+id, "root", w.Body.String()); w2.Code != 200 {
		t.Fatalf("PUT of GET's answer: %d %s", w2.Code, w2.Body)
	}
	// A new password replaces it; "" removes it.
	if w := e.do("PUT", "/api/v1/database-configs/"+id, "root", `{"password": "`+secretPassword+`2"}`); w.Code != 200 {
		t.Fatalf("PUT password: %d %s", w.Code, w.Body)
	}
	if s, _ := e.repo.Get(ctx, id); s.Secret == stored.Secret {
		t.Fatal("a new password left the secret")
	}
	w = e.do("PUT", "/api/v1/database-configs/"+id, "root", `{"password": "", "active": false}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"has_password":false`) {
		t.Fatalf("PUT removing the password: %d %s", w.Code, w.Body)
	}
	if h := e.router.Health(id); h.Routed {
		t.Fatal("an inactive config is still routed to")
	}
	if w := e.do("DELETE", "/api/v1/database-configs/"+id, "root", ""); w.Code != 204 {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	// The audit trail: create, four updates, delete; the first update
	// with what changed, the third saying the password changed.
	evs := e.audit.Events()
	var ops []string
	for _, ev := range evs {
		if ev.Kind != activitylog.KindSystem || ev.Category != dbconfighttp.Category || ev.Object.ID != id || ev.Tenant != "acme" {
			t.Fatalf("audit event %+v", ev)
		}
		ops = append(ops, fmt.Sprint(ev.Extra["operation"]))
	}
	if got := strings.Join(ops, ","); got != "create,update,update,update,update,delete" {
		t.Fatalf("recorded %s", got)
	}
	if ch, ok := evs[1].Changes["name"]; !ok || ch.Old != "acme" || ch.New != "acme2" {
		t.Fatalf("the update's changes are %+v", evs[1].Changes)
	}
	if evs[3].Extra["password_changed"] != true || evs[1].Extra["password_changed"] != false {
		t.Fatalf("password_changed: %v then %v", evs[1].Extra["password_changed"], evs[3].Extra["password_changed"])
	}
	if ch := evs[4].Changes["has_password"]; ch.Old != true || ch.New != false {
		t.Fatalf("removing the password recorded %+v", evs[4].Changes)
	}
	e.noPassword()
}

// test-connection and health-check connect through the Checker, with a
// timeout; their errors never hold the password.
func TestChecks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	var mode string
	var mu sync.Mutex
	check := func(ctx context.Context, c dbconfig.Config) error {
		mu.Lock()
		m := mode
		mu.Unlock()
		switch m {
		case "leaky":
			return fmt.Errorf("connect postgres://%s:%s@%s/db: password authentication failed for %q (%s)",
				c.User, url.QueryEscape(c.Password), c.Host, c.Password, url.PathEscape(c.Password))
		case "hang":
			<-ctx.Done()
			return ctx.Err()
		}
		return dbconfig.DialCheck(ctx, c)
	}
	e := newEnv(t, &dbconfighttp.Options{Check: check, CheckTimeout: 100 * time.Millisecond})
	up := e.create("root", map[string]any{"name": "up", "database": "d", "port": port, "tenant": "a"})
	down := e.create("root", map[string]any{"name": "down", "database": "d", "port": closedPort, "tenant": "b"})
	type result struct {
		OK        bool    `json:"ok"`
		LatencyMS float64 `json:"latency_ms"`
		Error     string  `json:"error"`
		Route     *struct {
			Routed bool   `json:"routed"`
			Open   bool   `json:"open"`
			Error  string `json:"error"`
		} `json:"route"`
	}
	call := func(id, what, body string) result {
		t.Helper()
		w := e.do("POST", "/api/v1/database-configs/"+id+"/"+what, "root", body)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", what, w.Code, w.Body)
		}
		var r result
		json.Unmarshal(w.Body.Bytes(), &r)
		return r
	}
	if r := call(up, "test-connection", ""); !r.OK || r.Error != "" || r.LatencyMS <= 0 {
		t.Fatalf("test-connection to a listening port: %+v", r)
	}
	if r := call(down, "test-connection", ""); r.OK || !strings.Contains(r.Error, "connection refused") {
		t.Fatalf("test-connection to a closed port: %+v", r)
	}
	// A body overrides fields for the test, unsaved.
	if r := call(down, "test-connection", `{"port": `+strconv.Itoa(port)+`, "password": "other"}`); !r.OK {
		t.Fatalf("test-connection with the port overridden: %+v", r)
	}
	if c, _ := e.repo.Get(context.Background(), down); c.Port != closedPort {
		t.Fatal("test-connection saved its override")
	}
	// health-check reports the router's view: postgres has no opener
	// here, so the route is not open, and says why.
	if r := call(up, "health-check", ""); !r.OK || r.Route == nil || !r.Route.Routed || r.Route.Open || r.Route.Error == "" {
		t.Fatalf("health-check: %+v", r)
	}
	mu.Lock()
	mode = "leaky"
	mu.Unlock()
	for _, what := range []string{"test-connection", "health-check"} {
		r := call(up, what, "")
		if r.OK || !strings.Contains(r.Error, "[REDACTED]") || !strings.Contains(r.Error, "password authentication failed") {
			t.Fatalf("%s with a checker that quotes the password: %+v", what, r)
		}
	}
	// A password given to test-connection is redacted too.
	if r := call(up, "test-connection", `{"password": "`+secretPassword+`"}`); strings.Contains(r.Error, "Sup3r") {
		t.Fatalf("the tried password is in the error: %+v", r)
	}
	mu.Lock()
	mode = "hang"
	mu.Unlock()
	start := time.Now()
	if r := call(up, "test-connection", ""); r.OK || !strings.Contains(r.Error, "no answer within 100ms") {
		t.Fatalf("test-connection to a server that does not answer: %+v", r)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the check timeout did not hold")
	}
	// Every test-connection is recorded; a failed one as a warning.
	var tests, warnings int
	for _, ev := range e.audit.Events() {
		if ev.Extra["operation"] == "test_connection" {
			tests++
			if ev.Action == "warning" {
				warnings++
				if ev.Extra["ok"] != false || ev.Extra["error"] == "" {
					t.Fatalf("a failed test recorded as %+v", ev.Extra)
				}
			}
		}
	}
	if tests != 6 || warnings != 4 {
		t.Fatalf("recorded %d tests, %d failed; want 6 and 4", tests, warnings)
	}
	e.noPassword()
}

// A plain TCP check against the real PostgreSQL of the CI machine.
func TestCheckRealPostgres(t *testing.T) {
	dsn := os.Getenv("ACTIVITYLOG_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("set ACTIVITYLOG_TEST_POSTGRES_DSN=... to run against a real server")
	}
	host, port := "127.0.0.1", 5432
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		host = u.Hostname()
		if p, err := strconv.Atoi(u.Port()); err == nil {
			port = p
		}
	} else {
		for _, f := range strings.Fields(dsn) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "host":
				host = v
			case "port":
				port, _ = strconv.Atoi(v)
			}
		}
	}
	e := newEnv(t, &dbconfighttp.Options{Check: dbconfig.DialCheck})
	id := e.create("root", map[string]any{"name": "pg", "host": host, "port": port, "database": "test"})
	w := e.do("POST", "/api/v1/database-configs/"+id+"/test-connection", "root", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"ok":true`) {
		t.Fatalf("test-connection to PostgreSQL at %s:%d: %d %s", host, port, w.Code, w.Body)
	}
}

// A stored password that no configured key opens is a 409, which says
// to set it again, and names no key material.
func TestUndecryptable(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("root", map[string]any{"name": "x", "database": "d"})
	c, _ := e.repo.Get(context.Background(), id)
	other, _ := dbconfig.GenerateKey("k9")
	kr, _ := dbconfig.NewKeyring([]dbconfig.Key{other})
	sealed, _ := kr.Encrypt(id, "pw")
	if err := e.repo.SetSecret(context.Background(), id, c.Secret, sealed); err != nil {
		t.Fatal(err)
	}
	w := e.do("POST", "/api/v1/database-configs/"+id+"/test-connection", "root", "")
	if w.Code != 409 || !strings.Contains(w.Body.String(), "undecryptable") {
		t.Fatalf("test-connection: %d %s", w.Code, w.Body)
	}
	w = e.do("POST", "/api/v1/database-configs/"+id+"/health-check", "root", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"ok":false`) || !strings.Contains(w.Body.String(), "k9") {
		t.Fatalf("health-check: %d %s", w.Code, w.Body)
	}
}

func TestNewRefusesMissing(t *testing.T) {
	e := newEnv(t, nil)
	for name, f := range map[string]func() error{
		"repository": func() error {
			_, err := dbconfighttp.New(nil, e.keys, &dbconfighttp.Options{Audit: e.audit})
			return err
		},
		"keyring": func() error {
			_, err := dbconfighttp.New(e.repo, nil, &dbconfighttp.Options{Audit: e.audit})
			return err
		},
		"audit": func() error { _, err := dbconfighttp.New(e.repo, e.keys, nil); return err },
	} {
		var fe *activitylog.FieldError
		if err := f(); !errors.As(err, &fe) || fe.Field != name {
			t.Errorf("New without %s = %v", name, err)
		}
	}
}
