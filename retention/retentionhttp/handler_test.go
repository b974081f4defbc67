package retentionhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/retention/retentionhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

var ctx = context.Background()

// The principals of the tests, by bearer token.
var principals = map[string]*activitylog.Principal{
	"root":        {ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}},
	"keeper":      {ID: "kim", Name: "Kim", Permissions: []activitylog.Permission{activitylog.ManageRetention}},
	"acme-keeper": {ID: "ada", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ManageRetention}},
	"viewer":      {ID: "vic", Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ManageDatabaseConfig}},
	"ingest":      {ID: "key", Permissions: []activitylog.Permission{activitylog.Ingest}},
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

// auditor records into the store, at once, and keeps what it recorded.
type auditor struct {
	store *sqlite.Store
	mu    sync.Mutex
	got   []activitylog.Event
}

func (a *auditor) Record(ctx context.Context, e activitylog.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.ID.IsZero() {
		e.ID = activitylog.NewID(time.Now())
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Severity == "" {
		e.Severity = activitylog.SeverityInfo
	}
	if err := a.store.Write(ctx, []activitylog.Event{e}); err != nil {
		return err
	}
	a.got = append(a.got, e)
	return nil
}

func (a *auditor) all() []activitylog.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

type env struct {
	t     *testing.T
	store *sqlite.Store
	repo  *sqlite.RetentionPolicies
	audit *auditor
	h     http.Handler
	n     int
}

func newEnv(t *testing.T, ro *retention.RunnerOptions) *env {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "control.db"), &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{t: t, store: s, repo: s.RetentionPolicies(), audit: &auditor{store: s}}
	var o retention.RunnerOptions
	if ro != nil {
		o = *ro
	}
	o.Audit, o.Count, o.Logger = e.audit, s, slog.New(slog.DiscardHandler)
	runner, err := retention.NewRunner(e.repo, s.Purge, &o)
	if err != nil {
		t.Fatal(err)
	}
	h, err := retentionhttp.New(e.repo, runner, &retentionhttp.Options{Audit: e.audit, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.h = server.New(s, nil, &server.Options{Authenticate: auth, Routes: h.Routes(), Logger: slog.New(slog.DiscardHandler)})
	return e
}

func (e *env) do(method, path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// create makes a policy through the API and returns its id.
func (e *env) create(token, body string) string {
	e.t.Helper()
	w := e.do("POST", "/api/v1/retention-policies", token, body)
	if w.Code != http.StatusCreated {
		e.t.Fatalf("POST %s: %d %s", body, w.Code, w.Body)
	}
	var p struct {
		ID string `json:"id"`
	}
	json.Unmarshal(w.Body.Bytes(), &p)
	return p.ID
}

// event writes an event of kind and tenant, age days old.
func (e *env) event(kind activitylog.Kind, tenant string, age int) activitylog.ID {
	e.t.Helper()
	e.n++
	ev := storetest.NewEvent(e.n)
	ev.Time = time.Now().UTC().Add(-time.Duration(age) * 24 * time.Hour)
	ev.ID = activitylog.NewID(ev.Time)
	ev.Kind, ev.Tenant = kind, tenant
	ev.Action = map[activitylog.Kind]string{"crud": "create", "auth": "login", "system": "warning"}[kind]
	if ev.Action == "" {
		ev.Action = "call"
	}
	if err := e.store.Write(ctx, []activitylog.Event{ev}); err != nil {
		e.t.Fatal(err)
	}
	return ev.ID
}

func (e *env) stored(id activitylog.ID) bool {
	e.t.Helper()
	_, err := e.store.Get(ctx, id)
	if err != nil && !errors.Is(err, activitylog.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

func TestPermissions(t *testing.T) {
	e := newEnv(t, nil)
	acme := e.create("root", `{"name": "acme", "retain_days": 30, "tenant": "acme"}`)
	globex := e.create("root", `{"name": "globex", "retain_days": 30, "tenant": "globex"}`)
	every := e.create("root", `{"name": "every", "kind": "crud", "retain_days": 30}`)
	cases := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"list, anonymous", "GET", "/api/v1/retention-policies", "", "", 401},
		{"list, viewer", "GET", "/api/v1/retention-policies", "viewer", "", 403},
		{"list, ingest key", "GET", "/api/v1/retention-policies", "ingest", "", 403},
		{"list, keeper", "GET", "/api/v1/retention-policies", "keeper", "", 200},
		{"list, tenant keeper", "GET", "/api/v1/retention-policies", "acme-keeper", "", 200},
		{"create, viewer", "POST", "/api/v1/retention-policies", "viewer", `{"name": "v", "retain_days": 1}`, 403},
		{"create, anonymous", "POST", "/api/v1/retention-policies", "", `{"name": "v", "retain_days": 1}`, 401},
		{"create, tenant keeper, own tenant", "POST", "/api/v1/retention-policies", "acme-keeper", `{"name": "acme auth", "kind": "auth", "retain_days": 1}`, 201},
		{"create, tenant keeper, other tenant", "POST", "/api/v1/retention-policies", "acme-keeper", `{"name": "x", "retain_days": 1, "tenant": "globex"}`, 403},
		{"create, tenant keeper, every tenant", "POST", "/api/v1/retention-policies", "acme-keeper", `{"name": "x", "retain_days": 1, "tenant": "", "all_tenants": true}`, 403},
		{"create, keeper, a tenant's", "POST", "/api/v1/retention-policies", "keeper", `{"name": "initech", "retain_days": 1, "tenant": "initech"}`, 201},
		{"get, viewer", "GET", "/api/v1/retention-policies/" + acme, "viewer", "", 403},
		{"get, tenant keeper, own", "GET", "/api/v1/retention-policies/" + acme, "acme-keeper", "", 200},
		{"get, tenant keeper, other tenant's", "GET", "/api/v1/retention-policies/" + globex, "acme-keeper", "", 404},
		{"get, tenant keeper, every tenant's", "GET", "/api/v1/retention-policies/" + every, "acme-keeper", "", 404},
		{"get, keeper", "GET", "/api/v1/retention-policies/" + globex, "keeper", "", 200},
		{"update, viewer", "PUT", "/api/v1/retention-policies/" + acme, "viewer", `{"retain_days": 60}`, 403},
		{"update, tenant keeper, other tenant's", "PUT", "/api/v1/retention-policies/" + globex, "acme-keeper", `{"retain_days": 60}`, 404},
		{"update, tenant keeper, moving to another tenant", "PUT", "/api/v1/retention-policies/" + acme, "acme-keeper", `{"tenant": "globex"}`, 403},
		{"update, tenant keeper, widening to every tenant", "PUT", "/api/v1/retention-policies/" + acme, "acme-keeper", `{"tenant": "", "all_tenants": true}`, 403},
		{"update, tenant keeper, own", "PUT", "/api/v1/retention-policies/" + acme, "acme-keeper", `{"retain_days": 60}`, 200},
		{"run, viewer", "POST", "/api/v1/retention-policies/" + acme + "/run-now", "viewer", "", 403},
		{"run, tenant keeper, other tenant's", "POST", "/api/v1/retention-policies/" + globex + "/run-now", "acme-keeper", "", 404},
		{"run, tenant keeper, own", "POST", "/api/v1/retention-policies/" + acme + "/run-now", "acme-keeper", "", 200},
		{"dry run, tenant keeper, own", "POST", "/api/v1/retention-policies/" + acme + "/run-now?dry_run=true", "acme-keeper", "", 200},
		{"dry run all, ingest", "POST", "/api/v1/retention-policies/dry-run", "ingest", "", 403},
		{"dry run all, tenant keeper", "POST", "/api/v1/retention-policies/dry-run", "acme-keeper", "", 200},
		{"delete, viewer", "DELETE", "/api/v1/retention-policies/" + globex, "viewer", "", 403},
		{"delete, tenant keeper, other tenant's", "DELETE", "/api/v1/retention-policies/" + globex, "acme-keeper", "", 404},
		{"delete, superuser", "DELETE", "/api/v1/retention-policies/" + globex, "root", "", 204},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.method, c.path, c.token, c.body)
			if w.Code != c.want {
				t.Fatalf("%s %s as %q: %d, want %d: %s", c.method, c.path, c.token, w.Code, c.want, w.Body)
			}
		})
	}
	// A tenant keeper lists, and dry-runs, its tenant's policies only.
	var list struct {
		Count   int `json:"count"`
		Results []struct {
			Tenant     string `json:"tenant"`
			AllTenants bool   `json:"all_tenants"`
		} `json:"results"`
	}
	json.Unmarshal(e.do("GET", "/api/v1/retention-policies", "acme-keeper", "").Body.Bytes(), &list)
	if list.Count != 2 || list.Results[0].Tenant != "acme" || list.Results[1].Tenant != "acme" || list.Results[0].AllTenants {
		t.Fatalf("acme's keeper lists %+v", list)
	}
	var plan retention.Plan
	json.Unmarshal(e.do("POST", "/api/v1/retention-policies/dry-run", "acme-keeper", "").Body.Bytes(), &plan)
	for _, r := range plan.Rules {
		if r.AllTenants || r.Tenant != "acme" {
			t.Errorf("acme's keeper's dry run shows %+v", r.Rule)
		}
	}
	// Defaults: a keeper without a tenant makes a policy for every
	// tenant; one with a tenant, for its tenant.
	var p retention.Policy
	json.Unmarshal(e.do("GET", "/api/v1/retention-policies/"+every, "root", "").Body.Bytes(), &p)
	if !p.AllTenants || !p.Active || p.Kind != "crud" {
		t.Errorf("made without a tenant: %+v", p)
	}
}

// Bad bodies and parameters are refused with a 400 that names the field
// and the value; nothing is stored.
func TestValidation(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("root", `{"name": "taken", "kind": "crud", "retain_days": 30}`)
	cases := []struct {
		name, method, path, body string
		field, value             string
	}{
		{"unknown field", "POST", "", `{"name": "n", "retain_days": 1, "days": 3}`, "days", ""},
		{"a field twice", "POST", "", `{"name": "n", "retain_days": 1, "retain_days": 3000}`, "retain_days", ""},
		{"a field in another case", "POST", "", `{"name": "n", "Retain_Days": 1}`, "Retain_Days", "1"},
		{"a name that is not UTF-8", "POST", "", "{\"name\": \"n\xff\", \"retain_days\": 1}", "name", `n\xff`},
		{"bad kind", "POST", "", `{"name": "n", "retain_days": 1, "kind": "everything"}`, "kind", "everything"},
		{"days not a number", "POST", "", `{"name": "n", "retain_days": "30"}`, "retain_days", "30"},
		{"days zero", "POST", "", `{"name": "n", "retain_days": 0}`, "retain_days", "0"},
		{"no days", "POST", "", `{"name": "n"}`, "retain_days", "0"},
		{"days negative", "POST", "", `{"name": "n", "retain_days": -3}`, "retain_days", "-3"},
		{"days huge", "POST", "", `{"name": "n", "retain_days": 99999999}`, "retain_days", "99999999"},
		{"no name", "POST", "", `{"retain_days": 3}`, "name", ""},
		{"tenant and every tenant", "POST", "", `{"name": "n", "retain_days": 3, "tenant": "acme", "all_tenants": true}`, "tenant", "acme"},
		{"active not a boolean", "POST", "", `{"name": "n", "retain_days": 3, "active": "yes"}`, "active", "yes"},
		{"id on create", "POST", "", `{"name": "n", "retain_days": 3, "id": "rtp_x"}`, "id", "rtp_x"},
		{"not JSON", "POST", "", `{"name": `, "body", ""},
		{"two objects", "POST", "", `{"name": "n", "retain_days": 3} {}`, "body", ""},
		{"array", "POST", "", `[]`, "body", ""},
		{"empty", "POST", "", ``, "body", ""},
		{"create with a parameter", "POST", "?x=1", `{"name": "n", "retain_days": 3}`, "x", "1"},
		{"update another id", "PUT", "/" + id, `{"id": "rtp_other"}`, "id", "rtp_other"},
		{"update unknown field", "PUT", "/" + id, `{"retain": 3}`, "retain", ""},
		{"update with null", "PUT", "/" + id, `{"name": null}`, "name", "null"},
		{"update bad days", "PUT", "/" + id, `{"retain_days": 0}`, "retain_days", "0"},
		{"list with a parameter", "GET", "?tenant=acme", ``, "tenant", "acme"},
		{"run-now with a bad dry_run", "POST", "/" + id + "/run-now?dry_run=maybe", ``, "dry_run", "maybe"},
		{"run-now with another parameter", "POST", "/" + id + "/run-now?days=3", ``, "days", "3"},
		{"run-now with a body", "POST", "/" + id + "/run-now", `{"retain_days": 1}`, "body", ""},
		{"dry run with a parameter", "POST", "/dry-run?kind=crud", ``, "kind", "crud"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.method, "/api/v1/retention-policies"+c.path, "root", c.body)
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
	if list, _ := e.repo.List(ctx); len(list) != 1 {
		t.Fatalf("refused requests stored policies: %d", len(list))
	}
	if p, _ := e.repo.Get(ctx, id); p.RetainDays != 30 || !p.LastRun.IsZero() {
		t.Fatalf("refused requests changed or ran the policy: %+v", p)
	}
}

func TestConflicts(t *testing.T) {
	e := newEnv(t, nil)
	e.create("root", `{"name": "Crud", "kind": "crud", "retain_days": 30, "tenant": "acme"}`)
	idle := e.create("root", `{"name": "crud idle", "kind": "crud", "retain_days": 5, "tenant": "acme", "active": false}`)
	for _, c := range []struct {
		name, method, path, body, field, value string
	}{
		{"name in another case", "POST", "", `{"name": "CRUD", "kind": "auth", "retain_days": 3}`, "name", "CRUD"},
		{"second active policy", "POST", "", `{"name": "crud 2", "kind": "crud", "retain_days": 3, "tenant": "acme"}`, "kind", "crud"},
		{"activating a second", "PUT", "/" + idle, `{"active": true}`, "kind", "crud"},
		{"renaming onto a name", "PUT", "/" + idle, `{"name": "crud"}`, "name", "crud"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.method, "/api/v1/retention-policies"+c.path, "root", c.body)
			var body struct {
				Error struct {
					Code, Field, Value string
				} `json:"error"`
			}
			json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != 409 || body.Error.Code != "conflict" || body.Error.Field != c.field || body.Error.Value != c.value {
				t.Fatalf("%d %s; want 409 naming %s %q", w.Code, w.Body, c.field, c.value)
			}
		})
	}
}

func TestUnknownID(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/retention-policies/rtp_0000000000000000", ""},
		{"PUT", "/api/v1/retention-policies/rtp_0000000000000000", `{"retain_days": 1}`},
		{"DELETE", "/api/v1/retention-policies/rtp_0000000000000000", ""},
		{"POST", "/api/v1/retention-policies/rtp_0000000000000000/run-now", ""},
		{"POST", "/api/v1/retention-policies/rtp_0000000000000000/run-now?dry_run=true", ""},
	} {
		w := e.do(c.method, c.path, "root", c.body)
		if w.Code != 404 || !strings.Contains(w.Body.String(), `"not_found"`) {
			t.Errorf("%s %s: %d %s, want 404", c.method, c.path, w.Code, w.Body)
		}
	}
}

// The life of a policy through the API: made, changed, run, counted,
// deleted; every change and run recorded.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, &retention.RunnerOptions{DefaultRetentionDays: 365})
	id := e.create("keeper", `{"name": "requests", "kind": "request", "retain_days": 30}`)
	oldReq, newReq, oldCrud := e.event("request", "acme", 40), e.event("request", "", 5), e.event("crud", "acme", 40)
	ancient := e.event("crud", "", 400)

	// GET's answer can be sent back as is.
	w := e.do("GET", "/api/v1/retention-policies/"+id, "keeper", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"last_run":null`) {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	if w2 := e.do("PUT", "/api/v1/retention-policies/"+id, "keeper", w.Body.String()); w2.Code != 200 {
		t.Fatalf("PUT of GET's answer: %d %s", w2.Code, w2.Body)
	}
	if w := e.do("PUT", "/api/v1/retention-policies/"+id, "keeper", `{"retain_days": 20}`); w.Code != 200 || !strings.Contains(w.Body.String(), `"retain_days":20`) {
		t.Fatalf("PUT: %d %s", w.Code, w.Body)
	}

	// The dry run of everything counts the policy's old request and
	// the default's ancient crud event, and deletes nothing.
	w = e.do("POST", "/api/v1/retention-policies/dry-run", "keeper", "")
	var plan retention.Plan
	if err := json.Unmarshal(w.Body.Bytes(), &plan); err != nil || w.Code != 200 {
		t.Fatalf("dry run: %d %s", w.Code, w.Body)
	}
	if plan.Count != 2 || plan.ByKind["request"] != 1 || plan.ByKind["crud"] != 1 || len(plan.Rules) != 2 || plan.Rules[1].Name != retention.DefaultName {
		t.Fatalf("dry run: %s", w.Body)
	}
	// The dry run of the policy, its request only.
	w = e.do("POST", "/api/v1/retention-policies/"+id+"/run-now?dry_run=true", "keeper", "")
	json.Unmarshal(w.Body.Bytes(), &plan)
	if plan.Count != 1 || plan.ByKind["request"] != 1 {
		t.Fatalf("dry run of the policy: %s", w.Body)
	}
	if !e.stored(oldReq) || !e.stored(ancient) {
		t.Fatal("a dry run deleted events")
	}

	w = e.do("POST", "/api/v1/retention-policies/"+id+"/run-now", "keeper", "")
	var rep retention.Report
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil || w.Code != 200 || rep.Deleted != 1 || len(rep.Rules) != 1 || rep.Rules[0].ByKind["request"] != 1 {
		t.Fatalf("run-now: %d %s", w.Code, w.Body)
	}
	if e.stored(oldReq) || !e.stored(newReq) || !e.stored(oldCrud) || !e.stored(ancient) {
		t.Fatal("run-now deleted other than the policy's old events")
	}
	var p retention.Policy
	json.Unmarshal(e.do("GET", "/api/v1/retention-policies/"+id, "keeper", "").Body.Bytes(), &p)
	if p.LastRun.IsZero() || p.RecordsDeleted != 1 || p.LastError != "" {
		t.Fatalf("after run-now: %+v", p)
	}
	if w := e.do("DELETE", "/api/v1/retention-policies/"+id, "keeper", ""); w.Code != 204 {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}

	// The audit trail: create, two updates, the run's start and end,
	// delete; all of category retention, which purges keep.
	var ops []string
	for _, ev := range e.audit.all() {
		if ev.Category != activitylog.CategoryRetention || ev.Kind != activitylog.KindSystem {
			t.Errorf("audit event of category %q, kind %q", ev.Category, ev.Kind)
		}
		ops = append(ops, fmt.Sprint(ev.Extra["operation"]))
		if ev.Extra["operation"] == activitylog.PurgeStarted && (ev.Extra["started_by"] != "Kim" || ev.Extra["policy_id"] != id) {
			t.Errorf("the run's start: %v", ev.Extra)
		}
	}
	want := []string{"create", "update", "update", activitylog.PurgeStarted, activitylog.PurgeDone, "delete"}
	if !slices.Equal(ops, want) {
		t.Fatalf("audit operations %v, want %v", ops, want)
	}
	evs := e.audit.all()
	if ch, ok := evs[2].Changes["retain_days"]; !ok || ch.Old != 30 || ch.New != 20 || len(evs[2].Changes) != 1 {
		t.Fatalf("the update's changes: %+v", evs[2].Changes)
	}
	if len(evs[1].Changes) != 0 {
		t.Fatalf("a PUT of GET's answer changed %+v", evs[1].Changes)
	}
}

func TestRunNowArchive(t *testing.T) {
	t.Run("no archiver", func(t *testing.T) {
		e := newEnv(t, nil)
		id := e.create("root", `{"name": "archived", "kind": "crud", "retain_days": 30, "archive": true}`)
		old := e.event("crud", "acme", 40)
		w := e.do("POST", "/api/v1/retention-policies/"+id+"/run-now", "root", "")
		if w.Code != 409 || !strings.Contains(w.Body.String(), `"no_archiver"`) {
			t.Fatalf("run-now without an archiver: %d %s", w.Code, w.Body)
		}
		if !e.stored(old) {
			t.Fatal("deleted without an archive")
		}
		if p, _ := e.repo.Get(ctx, id); p.LastError == "" || p.LastRun.IsZero() {
			t.Fatalf("the failed run is not recorded: %+v", p)
		}
	})
	t.Run("archiver fails", func(t *testing.T) {
		e := newEnv(t, &retention.RunnerOptions{Archive: func(context.Context, activitylog.PurgeRequest) (int64, error) {
			return 0, errors.New("bucket gone")
		}})
		id := e.create("root", `{"name": "archived", "kind": "crud", "retain_days": 30, "archive": true}`)
		old := e.event("crud", "acme", 40)
		w := e.do("POST", "/api/v1/retention-policies/"+id+"/run-now", "root", "")
		if w.Code != 500 || strings.Contains(w.Body.String(), "bucket") {
			t.Fatalf("run-now with a failing archiver: %d %s", w.Code, w.Body)
		}
		if !e.stored(old) {
			t.Fatal("deleted although the archive failed")
		}
	})
}
