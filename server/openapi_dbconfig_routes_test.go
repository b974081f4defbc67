package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/dbconfig/dbconfighttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// The routes of dbconfighttp are documented in openapi.json by
// openapi_dbconfig_test.go, an internal test, which cannot import
// dbconfighttp (it imports server). This external test holds the real
// Handler, as `activitylog serve` registers it, to the document: its
// routes and permissions, and what it answers.

// dbcDoc is openapi.json, as JSON values and as a schema resource.
type dbcDoc struct {
	raw   any
	paths map[string]map[string]struct {
		Permission  string   `json:"x-permission"`
		Tags        []string `json:"tags"`
		RequestBody *struct {
			Content map[string]struct {
				Example json.RawMessage `json:"example"`
			} `json:"content"`
		} `json:"requestBody"`
	}
	c *jsonschema.Compiler
}

func loadDBCDoc(t *testing.T) *dbcDoc {
	t.Helper()
	var d dbcDoc
	var doc struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc.Paths, &d.paths); err != nil {
		t.Fatal(err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(server.OpenAPI()))
	if err != nil {
		t.Fatal(err)
	}
	d.raw = raw
	d.c = jsonschema.NewCompiler()
	d.c.DefaultDraft(jsonschema.Draft2020)
	d.c.AssertFormat()
	if err := d.c.AddResource("openapi.json", raw); err != nil {
		t.Fatal(err)
	}
	return &d
}

func dbcEsc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// at returns the value at the JSON pointer ptr of the document.
func (d *dbcDoc) at(ptr string) any {
	v := d.raw
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, _ := v.(map[string]any)
		v = m[tok]
	}
	return v
}

// check holds w, the answer to method path (an OpenAPI path), to the
// document: its status is documented (or default is), and a JSON body
// is valid against the schema given for it.
func (d *dbcDoc) check(method, path string, w *httptest.ResponseRecorder) error {
	ptr := "/paths/" + dbcEsc(path) + "/" + strings.ToLower(method) + "/responses"
	resps, _ := d.at(ptr).(map[string]any)
	if resps == nil {
		return fmt.Errorf("%s %s is not in the document", method, path)
	}
	code := strconv.Itoa(w.Code)
	if resps[code] == nil {
		return fmt.Errorf("status %d is not documented", w.Code)
	}
	ptr += "/" + code
	if ref, ok := d.at(ptr + "/$ref").(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
	}
	if w.Body.Len() == 0 {
		if d.at(ptr+"/content") != nil {
			return fmt.Errorf("%d: no body, but the document gives it content", w.Code)
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", w.Header().Get("Content-Type"))
	}
	ptr += "/content/application~1json/schema"
	if d.at(ptr) == nil {
		return fmt.Errorf("%d: no JSON schema documented", w.Code)
	}
	sch, err := d.c.Compile("openapi.json#" + ptr)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %v", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("the body does not match the documented schema: %v\nbody: %s", err, w.Body)
	}
	return nil
}

// dbcPermission is how the document's x-permission names need.
func dbcPermission(need activitylog.Permission) string {
	switch need {
	case server.Public:
		return "public"
	case server.SignedIn:
		return "signed_in"
	}
	return string(need)
}

type dbcNoAudit struct{}

func (dbcNoAudit) Record(context.Context, activitylog.Event) error { return nil }

// dbcEnv is the database config API as serve builds it: the Handler
// over a SQLite control database, with a router, under server.New.
type dbcEnv struct {
	repo  *sqlite.DatabaseConfigs
	store *sqlite.Store
	h     *dbconfighttp.Handler
	srv   http.Handler
	dir   string
}

func newDBCEnv(t *testing.T, check dbconfig.Checker) *dbcEnv {
	t.Helper()
	e := &dbcEnv{dir: t.TempDir()}
	s, err := sqlite.Open(filepath.Join(e.dir, "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.store, e.repo = s, s.DatabaseConfigs()
	k, err := dbconfig.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := dbconfig.NewKeyring([]dbconfig.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	open := func(ctx context.Context, c dbconfig.Config, password string) (activitylog.Store, error) {
		return nil, fmt.Errorf("no store for %s in this test", c.Engine)
	}
	router, err := dbconfig.NewRouter(s, e.repo, open, &dbconfig.RouterOptions{
		Pending: s.PendingEvents(), Keyring: keys, Refresh: -1, ReplayInterval: -1, OpenTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Close() })
	e.h, err = dbconfighttp.New(e.repo, keys, &dbconfighttp.Options{
		Audit: dbcNoAudit{}, Router: router, Check: check, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = e.serve(e.h)
	return e
}

// serve is the API with h's routes, authenticating the bearer tokens
// root (a superuser) and acme (manage_database_config in tenant acme).
func (e *dbcEnv) serve(h *dbconfighttp.Handler) http.Handler {
	auth := func(r *http.Request) (*activitylog.Principal, error) {
		switch server.BearerToken(r) {
		case "root":
			return &activitylog.Principal{ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}}, nil
		case "acme":
			return &activitylog.Principal{ID: "ada", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ManageDatabaseConfig}}, nil
		case "viewer":
			return &activitylog.Principal{ID: "vic", Permissions: []activitylog.Permission{activitylog.ViewAllLogs}}, nil
		case "":
			return nil, nil
		}
		return nil, errors.New("unknown bearer token")
	}
	return server.New(e.store, nil, &server.Options{Authenticate: auth, Logger: slog.New(slog.DiscardHandler), Routes: h.Routes()})
}

// Every route of dbconfighttp.Handler is in the document with its
// method, its permission and the tag database-configs, and every
// operation of that tag is one of its routes.
func TestOpenAPIDatabaseConfigRoutes(t *testing.T) {
	d := loadDBCDoc(t)
	e := newDBCEnv(t, nil)
	routes := e.h.Routes()
	if len(routes) != 7 {
		t.Errorf("the Handler has %d routes, want 7", len(routes))
	}
	registered := map[string]bool{}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		registered[method+" "+path] = true
		op, ok := d.paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("%s is not in server/openapi.json", rt.Pattern)
			continue
		}
		if want := dbcPermission(rt.Need); op.Permission != want {
			t.Errorf("%s: documented x-permission %q, the route needs %q", rt.Pattern, op.Permission, want)
		}
		if !slices.Contains(op.Tags, "database-configs") {
			t.Errorf("%s: tags %v, want database-configs", rt.Pattern, op.Tags)
		}
	}
	for path, item := range d.paths {
		for method, op := range item {
			key := strings.ToUpper(method) + " " + path
			if (slices.Contains(op.Tags, "database-configs") || strings.HasPrefix(path, "/api/v1/database-configs")) && !registered[key] {
				t.Errorf("%s is documented, but the Handler has no such route", key)
			}
		}
	}
}

// What the Handler answers, through server.New, is what the document
// says: every status is documented and every JSON body matches its
// schema. The documented request examples are accepted as they are.
func TestOpenAPIDatabaseConfigResponses(t *testing.T) {
	d := loadDBCDoc(t)
	const password = "correct horse battery staple"
	var failNext bool
	e := newDBCEnv(t, func(ctx context.Context, c dbconfig.Config) error {
		if failNext {
			return fmt.Errorf("connect %s: password %s refused", c.URL(c.Password), c.Password)
		}
		return nil
	})
	example := func(method, path string) string {
		op := d.paths[path][strings.ToLower(method)]
		if op.RequestBody == nil {
			t.Fatalf("%s %s: no request body documented", method, path)
		}
		ex := op.RequestBody.Content["application/json"].Example
		if len(ex) == 0 {
			t.Fatalf("%s %s: no request example documented", method, path)
		}
		return string(ex)
	}
	do := func(name, method, path, url, token, body string, want int, field string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, url, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s: %s %s: status %d, want %d: %s", name, method, url, w.Code, want, w.Body)
			return w
		}
		if err := d.check(method, path, w); err != nil {
			t.Errorf("%s: %s %s: %v", name, method, url, err)
		}
		if field != "" {
			var b struct {
				Error struct{ Field string } `json:"error"`
			}
			json.Unmarshal(w.Body.Bytes(), &b)
			if b.Error.Field != field {
				t.Errorf("%s: the error names field %q, want %q: %s", name, b.Error.Field, field, w.Body)
			}
		}
		if strings.Contains(w.Body.String(), password) {
			t.Errorf("%s: the answer holds the password: %s", name, w.Body)
		}
		return w
	}

	const list, one = "/api/v1/database-configs", "/api/v1/database-configs/{id}"
	const test, health = one + "/test-connection", one + "/health-check"

	// The documented example creates a config; the rest use its id.
	w := do("create, the example", "POST", list, list, "root", example("POST", list), 201, "")
	var created struct{ ID string }
	json.Unmarshal(w.Body.Bytes(), &created)
	if created.ID == "" {
		t.Fatalf("create: no id in %s", w.Body)
	}
	at := func(p string) string { return strings.Replace(p, "{id}", created.ID, 1) }
	unknown := strings.Replace(one, "{id}", "dbc_0000000000000000", 1)
	w = do("create, another tenant's", "POST", list, list, "root", `{"name": "globex", "engine": "sqlite", "database": "g.db", "tenant": "globex"}`, 201, "")
	var globex struct{ ID string }
	json.Unmarshal(w.Body.Bytes(), &globex)
	other := strings.Replace(one, "{id}", globex.ID, 1)

	calls := []struct {
		name, method, path, url, token, body string
		want                                 int
		field                                string
		failCheck                            bool
	}{
		{name: "list", method: "GET", path: list, url: list, token: "root", want: 200},
		{name: "list, tenant principal", method: "GET", path: list, url: list, token: "acme", want: 200},
		{name: "list, a parameter", method: "GET", path: list, url: list + "?tenant=acme", token: "root", want: 400, field: "tenant"},
		{name: "list, anonymous", method: "GET", path: list, url: list, want: 401},
		{name: "list, without the permission", method: "GET", path: list, url: list, token: "viewer", want: 403},
		{name: "create, id given", method: "POST", path: list, url: list, token: "root", body: `{"id": "dbc_1111111111111111", "name": "x", "engine": "sqlite", "database": "x.db"}`, want: 400, field: "id"},
		{name: "create, name taken", method: "POST", path: list, url: list, token: "root", body: `{"name": "ACME", "engine": "sqlite", "database": "x.db", "primary": false}`, want: 400, field: "name"},
		{name: "create, unknown field", method: "POST", path: list, url: list, token: "root", body: `{"name": "x", "colour": "red"}`, want: 400, field: "colour"},
		{name: "create, another tenant", method: "POST", path: list, url: list, token: "acme", body: `{"name": "g", "engine": "sqlite", "database": "g.db", "tenant": "globex"}`, want: 403, field: "tenant"},
		{name: "create, read-only, defaults", method: "POST", path: list, url: list, token: "acme", body: `{"name": "acme-replica", "engine": "postgres", "host": "db2", "database": "r", "read_only": true}`, want: 201},
		{name: "get", method: "GET", path: one, url: at(one), token: "root", want: 200},
		{name: "get, unknown", method: "GET", path: one, url: unknown, token: "root", want: 404},
		{name: "get, a parameter", method: "GET", path: one, url: at(one) + "?x=1", token: "root", want: 400, field: "x"},
		{name: "update, the example", method: "PUT", path: one, url: at(one), token: "root", body: example("PUT", one), want: 200},
		{name: "update, bad port", method: "PUT", path: one, url: at(one), token: "root", body: `{"port": 70000}`, want: 400, field: "port"},
		{name: "update, another id", method: "PUT", path: one, url: at(one), token: "root", body: `{"id": "dbc_1111111111111111"}`, want: 400, field: "id"},
		{name: "update, unknown", method: "PUT", path: one, url: unknown, token: "root", body: `{}`, want: 404},
		{name: "test-connection", method: "POST", path: test, url: at(test), token: "root", want: 200},
		{name: "test-connection, the example", method: "POST", path: test, url: at(test), token: "root", body: example("POST", test), want: 200},
		{name: "test-connection, failing", method: "POST", path: test, url: at(test), token: "root", body: `{"password": "` + password + `"}`, want: 200, failCheck: true},
		{name: "test-connection, unknown field", method: "POST", path: test, url: at(test), token: "root", body: `{"colour": "red"}`, want: 400, field: "colour"},
		{name: "test-connection, unknown", method: "POST", path: test, url: unknown + "/test-connection", token: "root", want: 404},
		{name: "health-check", method: "POST", path: health, url: at(health), token: "root", want: 200},
		{name: "health-check, failing", method: "POST", path: health, url: at(health), token: "root", want: 200, failCheck: true},
		{name: "health-check, a body", method: "POST", path: health, url: at(health), token: "root", body: `{"host": "db3"}`, want: 400, field: "body"},
		{name: "health-check, unknown", method: "POST", path: health, url: unknown + "/health-check", token: "root", want: 404},
		{name: "delete, unknown", method: "DELETE", path: one, url: unknown, token: "root", want: 404},
		{name: "get, another tenant's", method: "GET", path: one, url: other, token: "acme", want: 404},
		{name: "update, to another tenant", method: "PUT", path: one, url: at(one), token: "acme", body: `{"tenant": "globex"}`, want: 403, field: "tenant"},
		{name: "delete, another tenant's", method: "DELETE", path: one, url: other, token: "acme", want: 404},
	}
	for _, c := range calls {
		failNext = c.failCheck
		do(c.name, c.method, c.path, c.url, c.token, c.body, c.want, c.field)
	}
	failNext = false

	// health-check reports the route; ok false carries an error.
	w = do("health-check, route", "POST", health, at(health), "root", "", 200, "")
	var res struct {
		Route *dbconfig.RouteHealth `json:"route"`
	}
	json.Unmarshal(w.Body.Bytes(), &res)
	if res.Route == nil {
		t.Errorf("health-check with a router: no route in %s", w.Body)
	}

	// A password sealed with a key the server no longer has: 409 on
	// test-connection.
	k2, _ := dbconfig.GenerateKey("k2")
	keys2, _ := dbconfig.NewKeyring([]dbconfig.Key{k2})
	h2, err := dbconfighttp.New(e.repo, keys2, &dbconfighttp.Options{Audit: dbcNoAudit{}, Logger: slog.New(slog.DiscardHandler),
		Check: func(context.Context, dbconfig.Config) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := e.srv
	e.srv = e.serve(h2)
	do("test-connection, undecryptable", "POST", test, at(test), "root", "", 409, "")
	w = do("health-check, undecryptable", "POST", health, at(health), "root", "", 200, "")
	if !strings.Contains(w.Body.String(), `"ok":false`) {
		t.Errorf("health-check, undecryptable: %s, want ok false", w.Body)
	}
	e.srv = srv

	do("delete", "DELETE", one, at(one), "root", "", 204, "")
	do("get, deleted", "GET", one, at(one), "root", "", 404, "")
}
