package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/retention/retentionhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// The routes of retentionhttp are documented in openapi.json by
// openapi_retention_test.go, an internal test, which cannot import
// retentionhttp (it imports server). This external test holds the real
// Handler to the document: its routes and permissions, and what it
// answers.

// rtpEnv is the retention API over a SQLite store, under server.New.
type rtpEnv struct {
	store *sqlite.Store
	h     *retentionhttp.Handler
	srv   http.Handler
}

func newRTPEnv(t *testing.T, archive retention.ArchiveFunc) *rtpEnv {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	runner, err := retention.NewRunner(s.RetentionPolicies(), s.Purge, &retention.RunnerOptions{
		Audit: dbcNoAudit{}, Count: s, Archive: archive, DefaultRetentionDays: 400, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := retentionhttp.New(s.RetentionPolicies(), runner, &retentionhttp.Options{Audit: dbcNoAudit{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(r *http.Request) (*activitylog.Principal, error) {
		switch server.BearerToken(r) {
		case "root":
			return &activitylog.Principal{ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}}, nil
		case "acme":
			return &activitylog.Principal{ID: "ada", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ManageRetention}}, nil
		case "viewer":
			return &activitylog.Principal{ID: "vic", Permissions: []activitylog.Permission{activitylog.ViewAllLogs}}, nil
		case "":
			return nil, nil
		}
		return nil, errors.New("unknown bearer token")
	}
	return &rtpEnv{store: s, h: h, srv: server.New(s, nil, &server.Options{Authenticate: auth, Logger: slog.New(slog.DiscardHandler), Routes: h.Routes()})}
}

// Every route of retentionhttp.Handler is in the document with its
// method, its permission and the tag retention, and every operation of
// that tag is one of its routes.
func TestOpenAPIRetentionRoutes(t *testing.T) {
	d := loadDBCDoc(t)
	e := newRTPEnv(t, nil)
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
		if !slices.Contains(op.Tags, "retention") {
			t.Errorf("%s: tags %v, want retention", rt.Pattern, op.Tags)
		}
	}
	for path, item := range d.paths {
		for method, op := range item {
			key := strings.ToUpper(method) + " " + path
			if (slices.Contains(op.Tags, "retention") || strings.HasPrefix(path, "/api/v1/retention-policies")) && !registered[key] {
				t.Errorf("%s is documented, but the Handler has no such route", key)
			}
		}
	}
}

// What the Handler answers, through server.New, is what the document
// says: every status is documented and every JSON body matches its
// schema. The documented request examples are accepted as they are.
func TestOpenAPIRetentionResponses(t *testing.T) {
	d := loadDBCDoc(t)
	e := newRTPEnv(t, nil)
	// Events for the runs to delete and count.
	for i, k := range []activitylog.Kind{activitylog.KindRequest, activitylog.KindCRUD, activitylog.KindRequest} {
		at := time.Now().UTC().Add(-time.Duration(40+i*200) * 24 * time.Hour)
		action := "GET"
		if k == activitylog.KindCRUD {
			action = "create"
		}
		ev := activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: k, Action: action, Severity: activitylog.SeverityInfo}
		if err := e.store.Write(context.Background(), []activitylog.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
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
		return w
	}

	const list, one = "/api/v1/retention-policies", "/api/v1/retention-policies/{id}"
	const run, dry = one + "/run-now", list + "/dry-run"

	w := do("create, the example", "POST", list, list, "root", example("POST", list), 201, "")
	var created struct{ ID string }
	json.Unmarshal(w.Body.Bytes(), &created)
	if created.ID == "" {
		t.Fatalf("create: no id in %s", w.Body)
	}
	at := func(p string) string { return strings.Replace(p, "{id}", created.ID, 1) }
	unknown := strings.Replace(one, "{id}", "rtp_0000000000000000", 1)
	w = do("create, a tenant's, archived", "POST", list, list, "root", `{"name": "globex", "kind": "crud", "retain_days": 5, "tenant": "globex", "archive": true}`, 201, "")
	var globex struct{ ID string }
	json.Unmarshal(w.Body.Bytes(), &globex)
	other := strings.Replace(one, "{id}", globex.ID, 1)

	calls := []struct {
		name, method, path, url, token, body string
		want                                 int
		field                                string
	}{
		{name: "list", method: "GET", path: list, url: list, token: "root", want: 200},
		{name: "list, tenant principal", method: "GET", path: list, url: list, token: "acme", want: 200},
		{name: "list, a parameter", method: "GET", path: list, url: list + "?tenant=acme", token: "root", want: 400, field: "tenant"},
		{name: "list, anonymous", method: "GET", path: list, url: list, want: 401},
		{name: "list, without the permission", method: "GET", path: list, url: list, token: "viewer", want: 403},
		{name: "create, id given", method: "POST", path: list, url: list, token: "root", body: `{"id": "rtp_1", "name": "x", "retain_days": 3}`, want: 400, field: "id"},
		{name: "create, name taken", method: "POST", path: list, url: list, token: "root", body: `{"name": "REQUESTS 30 DAYS", "kind": "auth", "retain_days": 3}`, want: 409, field: "name"},
		{name: "create, scope taken", method: "POST", path: list, url: list, token: "root", body: `{"name": "r2", "kind": "request", "retain_days": 3}`, want: 409, field: "kind"},
		{name: "create, unknown field", method: "POST", path: list, url: list, token: "root", body: `{"name": "x", "colour": "red"}`, want: 400, field: "colour"},
		{name: "create, another tenant", method: "POST", path: list, url: list, token: "acme", body: `{"name": "g", "retain_days": 3, "tenant": "globex"}`, want: 403, field: "tenant"},
		{name: "create, tenant defaults", method: "POST", path: list, url: list, token: "acme", body: `{"name": "acme", "retain_days": 3}`, want: 201},
		{name: "dry run", method: "POST", path: dry, url: dry, token: "root", want: 200},
		{name: "dry run, tenant principal", method: "POST", path: dry, url: dry, token: "acme", want: 200},
		{name: "dry run, a parameter", method: "POST", path: dry, url: dry + "?kind=crud", token: "root", want: 400, field: "kind"},
		{name: "get", method: "GET", path: one, url: at(one), token: "root", want: 200},
		{name: "get, unknown", method: "GET", path: one, url: unknown, token: "root", want: 404},
		{name: "get, a parameter", method: "GET", path: one, url: at(one) + "?x=1", token: "root", want: 400, field: "x"},
		{name: "update, the example", method: "PUT", path: one, url: at(one), token: "root", body: example("PUT", one), want: 200},
		{name: "update, bad kind", method: "PUT", path: one, url: at(one), token: "root", body: `{"kind": "everything"}`, want: 400, field: "kind"},
		{name: "update, unknown", method: "PUT", path: one, url: unknown, token: "root", body: `{}`, want: 404},
		{name: "run-now, dry", method: "POST", path: run, url: at(run) + "?dry_run=true", token: "root", want: 200},
		{name: "run-now", method: "POST", path: run, url: at(run), token: "root", want: 200},
		{name: "run-now, bad dry_run", method: "POST", path: run, url: at(run) + "?dry_run=perhaps", token: "root", want: 400, field: "dry_run"},
		{name: "run-now, no archiver", method: "POST", path: run, url: strings.Replace(run, "{id}", globex.ID, 1), token: "root", want: 409},
		{name: "run-now, unknown", method: "POST", path: run, url: unknown + "/run-now", token: "root", want: 404},
		{name: "get, another tenant's", method: "GET", path: one, url: other, token: "acme", want: 404},
		{name: "update, to another tenant", method: "PUT", path: one, url: other, token: "root", body: `{"tenant": "initech"}`, want: 200},
		{name: "delete, another tenant's", method: "DELETE", path: one, url: other, token: "acme", want: 404},
		{name: "delete, unknown", method: "DELETE", path: one, url: unknown, token: "root", want: 404},
		{name: "delete", method: "DELETE", path: one, url: at(one), token: "root", want: 204},
	}
	for _, c := range calls {
		do(c.name, c.method, c.path, c.url, c.token, c.body, c.want, c.field)
	}
}
