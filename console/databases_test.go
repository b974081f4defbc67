package console_test

// Browser tests of the databases page (/admin/databases): the database
// configurations (GET/POST /api/v1/database-configs, GET/PUT/DELETE
// /api/v1/database-configs/{id}), their connection tests and health
// checks, against the routes `activitylog serve` mounts (dbconfighttp
// over the SQLite store's repository, with the default check,
// dbconfig.DialCheck). They skip when ACTIVITYLOG_TEST_CHROMIUM is
// unset.

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/console"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/dbconfig/dbconfighttp"
	"github.com/activitylog/activitylog/internal/browser"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// dbStack is a served console with the database-config routes.
type dbStack struct{ *adminStack }

// newDBStack serves the API with the database-config routes and the
// console (copts), with the users admin (superuser), viewer
// (view_all_logs), dba (manage_database_config, no tenant) and
// tenant-dba (manage_database_config in tenant acme).
func newDBStack(t *testing.T, copts *console.Options) *dbStack {
	t.Helper()
	k, err := dbconfig.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := dbconfig.NewKeyring([]dbconfig.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	return &dbStack{newAdminStack(t, copts, func(store *sqlite.Store, rec *activitylog.Recorder) []server.Route {
		// No Check: dbconfig.DialCheck, a TCP dial (a stat for SQLite).
		h, err := dbconfighttp.New(store.DatabaseConfigs(), keys, &dbconfighttp.Options{Audit: rec})
		if err != nil {
			t.Fatal(err)
		}
		return h.Routes()
	},
		access.NewUser{ID: "u-admin", Username: "admin", Password: password, AllowSuperuser: true, Permissions: []activitylog.Permission{activitylog.Superuser}},
		access.NewUser{ID: "u-viewer", Username: "viewer", Password: password, Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
		access.NewUser{ID: "u-dba", Username: "dba", Password: password, Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ManageDatabaseConfig}},
		access.NewUser{ID: "u-tenant-dba", Username: "tenant-dba", Password: password, Tenant: "acme",
			Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ManageDatabaseConfig}},
	)}
}

// seed stores configs through the repository, as the command line
// does (no password).
func (s *dbStack) seed(t *testing.T, cs ...dbconfig.Config) {
	t.Helper()
	now := time.Now().UTC()
	for _, c := range cs {
		c.ID, c.CreatedAt, c.UpdatedAt = dbconfig.NewID(), now, now
		if err := s.store.DatabaseConfigs().Create(context.Background(), c); err != nil {
			t.Fatalf("seed %s: %v", c.Name, err)
		}
	}
}

// dbSignIn signs user in through the form and opens /admin/databases,
// waiting for sel.
func dbSignIn(t *testing.T, s *dbStack, user, sel string) *browser.Browser {
	t.Helper()
	return s.signInAt(t, "/admin/databases", user, sel)
}

// dbRow is the table's row of the config named name.
func dbRow(name string) string {
	return `#db-table tr[data-name="` + name + `"]`
}

// setValue sets a field's value as typing would (also to "", which
// browser.Type cannot type, and in a textarea).
func setValue(t *testing.T, b *browser.Browser, sel, value string) {
	t.Helper()
	q, _ := json.Marshal(sel)
	v, _ := json.Marshal(value)
	browser.Eval[chromedp.Void](t, b, `(() => { const e = document.querySelector(`+string(q)+`); e.value = `+string(v)+
		`; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`)
}

// dbCells returns the text of the row's cells by data-col.
func dbCells(t *testing.T, b *browser.Browser, name string) map[string]string {
	t.Helper()
	q, _ := json.Marshal(dbRow(name) + ` td[data-col]`)
	return browser.Eval[map[string]string](t, b, `Object.fromEntries([...document.querySelectorAll(`+string(q)+
		`)].map(td => [td.dataset.col, td.innerText.trim()]))`)
}

// wantCells reports the cells of the row named name that differ from want.
func wantCells(t *testing.T, b *browser.Browser, name string, want map[string]string) {
	t.Helper()
	got := dbCells(t, b, name)
	for col, w := range want {
		if got[col] != w {
			t.Errorf("%s: %s is %q, want %q", name, col, got[col], w)
		}
	}
}

// apiConfigs is GET /api/v1/database-configs with the browser's
// session: the raw answer and its configs.
func apiConfigs(t *testing.T, b *browser.Browser) (string, []map[string]any) {
	t.Helper()
	raw := browser.Eval[string](t, b, `fetch("/api/v1/database-configs", {cache: "no-store"}).then(r => r.text())`)
	var ans struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(raw), &ans); err != nil {
		t.Fatalf("list database configs: %v: %s", err, raw)
	}
	return raw, ans.Results
}

// runCheck clicks a row's check button (.db-test or .db-health) and
// waits for a new answer in #db-check and for the row's health cell.
func runCheck(t *testing.T, b *browser.Browser, name, button, health string) {
	t.Helper()
	// The previous answer goes, so that the one waited for is new.
	browser.Eval[chromedp.Void](t, b, `document.querySelector("#db-check") && document.querySelector("#db-check").remove()`)
	b.Click(t, dbRow(name)+" "+button)
	b.WaitVisible(t, "#db-check")
	b.WaitText(t, dbRow(name)+` td[data-col="health"]`, health)
	if got := b.Text(t, "#db-check-title"); !strings.Contains(got, name) {
		t.Errorf("%s %s: the answer's title %q does not name it", name, button, got)
	}
}

// The form's values: the text fields, then primary, active, read-only
// and route_for.
const dbFormValues = `["#db-name", "#db-host", "#db-port", "#db-database", "#db-user", "#db-password", "#db-options", "#db-tenant"]
	.map(s => document.querySelector(s).value).join("|") + "|" +
	["#db-primary", "#db-active", "#db-read-only"].map(s => document.querySelector(s).checked).join("|") + "|" +
	document.querySelector("#db-route-for").value`

// The new config's defaults, as dbFormValues shows them.
const dbFormDefaults = "||||||||true|true|false|all"

const pgSecret = "pw-secret-1"

// A superuser makes a SQLite and a PostgreSQL config (the API's
// refusals beside the field they name), tests both connections, edits
// one (its password kept, a move refused without it), and deletes the
// other; the password is never shown nor answered.
func TestDatabasesPageLifecycle(t *testing.T) {
	s := newDBStack(t, nil)
	// The file the SQLite config names, which its check finds.
	file := filepath.Join(t.TempDir(), "acme.db")
	tenantDB, err := sqlite.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tenantDB.Close(); err != nil {
		t.Fatal(err)
	}

	b := dbSignIn(t, s, "admin", "#db-form")
	b.WaitVisible(t, "#db-empty")
	if got := b.Text(t, "#db-intro"); strings.TrimSpace(got) == "" {
		t.Error("no introduction")
	}
	if got := b.Attr(t, "#db-status", "role"); got != "status" {
		t.Errorf("#db-status role %q, want status", got)
	}
	if got := b.Attr(t, "#db-error", "role"); got != "alert" {
		t.Errorf("#db-error role %q, want alert", got)
	}
	if browser.Eval[bool](t, b, `document.querySelector("#db-error").offsetParent !== null`) {
		t.Errorf("#db-error shows with nothing to say: %q", b.Text(t, "#db-error"))
	}
	if got := b.Text(t, "#db-form-title"); got != "New database configuration" {
		t.Errorf("form title %q", got)
	}
	if got := browser.Eval[string](t, b, dbFormValues); got != dbFormDefaults {
		t.Errorf("a new config's form: %q, want %q", got, dbFormDefaults)
	}
	if got := b.Attr(t, "#db-password", "type"); got != "password" {
		t.Errorf("password input of type %q", got)
	}
	if got := browser.Eval[[]string](t, b, `[...document.querySelectorAll("#db-engine option")].map(o => o.value)`); strings.Join(got, ",") !=
		"sqlite,postgres,mysql,clickhouse,mongodb" {
		t.Errorf("engines offered: %q", got)
	}
	if got := browser.Eval[[]string](t, b, `[...document.querySelectorAll("#db-route-for option")].map(o => o.value)`); strings.Join(got, ",") !=
		"all,crud,auth,request,cors,external,system,export,custom" {
		t.Errorf("routes offered: %q", got)
	}
	b.AssertAxe(t)

	// A SQLite config of tenant acme, every kind.
	b.Type(t, "#db-name", "acme-local")
	b.Select(t, "#db-engine", "sqlite")
	b.Type(t, "#db-database", file)
	b.Select(t, "#db-route-for", "all")
	b.Type(t, "#db-tenant", "acme")
	b.Click(t, "#db-submit")
	b.WaitVisible(t, dbRow("acme-local"))
	wantCells(t, b, "acme-local", map[string]string{"engine": "sqlite", "location": file, "route_for": "all kinds", "tenant": "acme",
		"primary": "yes", "active": "yes", "read_only": "no", "password": "none", "health": "not checked"})
	if id := b.Attr(t, dbRow("acme-local"), "data-config"); !strings.HasPrefix(id, "dbc_") {
		t.Errorf("row's data-config %q, want the config's id", id)
	}
	if got := b.Text(t, "#db-status"); !strings.Contains(got, "acme-local") {
		t.Errorf("status after create: %q", got)
	}
	if got := browser.Eval[string](t, b, dbFormValues); got != dbFormDefaults {
		t.Errorf("the form after create: %q, want %q", got, dbFormDefaults)
	}
	if n := b.Count(t, "#db-form[data-editing], #db-empty"); n != 0 {
		t.Errorf("after create: %d of editing or empty list", n)
	}
	if _, cs := apiConfigs(t, b); len(cs) != 1 || cs[0]["tenant"] != "acme" || cs[0]["route_for"] != "all" || cs[0]["database"] != file {
		t.Errorf("stored after create: %v", cs)
	}
	b.Screenshot(t, "created")

	// An option SQLite does not take: the API's 400, beside the options.
	b.Type(t, "#db-name", "acme-local-2")
	b.Select(t, "#db-engine", "sqlite")
	b.Type(t, "#db-database", file)
	b.Type(t, "#db-tenant", "globex")
	setValue(t, b, "#db-options", "sslmode=require")
	b.Click(t, "#db-submit")
	if got := b.WaitText(t, "#db-options-error", "sslmode"); !strings.Contains(got, "sqlite") {
		t.Errorf("sslmode on sqlite: %q", got)
	}
	if got := b.Attr(t, "#db-options", "aria-invalid"); got != "true" {
		t.Errorf("options not marked invalid (%q)", got)
	}
	if n := b.Count(t, "#db-name-error:not([hidden]), #db-database-error:not([hidden]), #db-form-error:not([hidden])"); n != 0 {
		t.Errorf("the options error shows in %d other places", n)
	}
	if n := b.Count(t, "#db-table tbody tr"); n != 1 {
		t.Errorf("%d configs after the refusal, want 1", n)
	}
	b.AssertAxe(t)

	// A name taken (in another case): beside the name, the options'
	// error gone.
	b.Type(t, "#db-name", "ACME-LOCAL")
	setValue(t, b, "#db-options", "")
	b.Click(t, "#db-submit")
	if got := b.WaitText(t, "#db-name-error", "taken"); !strings.Contains(got, "name") {
		t.Errorf("name taken: %q", got)
	}
	if got := b.Attr(t, "#db-name", "aria-invalid"); got != "true" {
		t.Errorf("name not marked invalid (%q)", got)
	}
	if got := b.Attr(t, "#db-options", "aria-invalid"); got == "true" {
		t.Error("options still marked invalid")
	}
	if n := b.Count(t, "#db-options-error:not([hidden])"); n != 0 && strings.TrimSpace(b.Text(t, "#db-options-error")) != "" {
		t.Errorf("the options error still shows: %q", b.Text(t, "#db-options-error"))
	}
	if n := b.Count(t, "#db-table tbody tr"); n != 1 {
		t.Errorf("%d configs after the conflict, want 1", n)
	}

	// The SQLite file is there: the test and the health check say ok.
	runCheck(t, b, "acme-local", ".db-test", "ok")
	for field, want := range map[string]string{"ok": "yes", "error": "none"} {
		if got := b.Text(t, `#db-check [data-field="`+field+`"]`); got != want {
			t.Errorf("sqlite test %s: %q, want %q", field, got, want)
		}
	}
	if got := b.Text(t, `#db-check [data-field="latency_ms"]`); strings.IndexAny(got, "0123456789") < 0 {
		t.Errorf("sqlite test latency: %q", got)
	}
	runCheck(t, b, "acme-local", ".db-health", "ok")
	if got := b.Text(t, `#db-check [data-field="ok"]`); got != "yes" {
		t.Errorf("sqlite health ok: %q", got)
	}
	b.AssertAxe(t)

	// A PostgreSQL config with a password, where nothing listens.
	b.Type(t, "#db-name", "acme-pg")
	b.Select(t, "#db-engine", "postgres")
	b.Type(t, "#db-host", "127.0.0.1")
	b.Type(t, "#db-port", "1")
	b.Type(t, "#db-database", "audit")
	b.Type(t, "#db-user", "auditor")
	b.Type(t, "#db-password", pgSecret)
	setValue(t, b, "#db-options", "connect_timeout=2")
	b.Select(t, "#db-route-for", "request")
	b.Type(t, "#db-tenant", "acme")
	b.Click(t, "#db-submit")
	b.WaitVisible(t, dbRow("acme-pg"))
	pg := dbRow("acme-pg")
	wantCells(t, b, "acme-pg", map[string]string{"engine": "postgres", "location": "127.0.0.1:1/audit", "route_for": "request",
		"tenant": "acme", "primary": "yes", "active": "yes", "read_only": "no", "password": "set", "health": "not checked"})
	if got := b.Text(t, "#db-status"); !strings.Contains(got, "acme-pg") {
		t.Errorf("status after the second create: %q", got)
	}
	if got := browser.Eval[string](t, b, dbFormValues); got != dbFormDefaults {
		t.Errorf("the form after the second create: %q, want %q", got, dbFormDefaults)
	}
	pgID := b.Attr(t, pg, "data-config")

	runCheck(t, b, "acme-pg", ".db-test", "failing")
	if got := b.Text(t, `#db-check [data-field="ok"]`); got != "no" {
		t.Errorf("postgres test ok: %q", got)
	}
	if got := b.Text(t, `#db-check [data-field="error"]`); got == "none" || !strings.Contains(got, "127.0.0.1:1") {
		t.Errorf("postgres test error (a superuser's detail): %q", got)
	}
	b.AssertAxe(t)
	b.Screenshot(t, "checked")

	// The password is never on the page nor in an answer.
	noSecret := func(when string) {
		t.Helper()
		if browser.Eval[bool](t, b, `document.body.innerText.includes("`+pgSecret+`") || document.documentElement.outerHTML.includes("`+pgSecret+
			`") || [...document.querySelectorAll("input, textarea")].some(e => e.value.includes("`+pgSecret+`"))`) {
			t.Errorf("%s: the page holds the password", when)
		}
		raw, cs := apiConfigs(t, b)
		if strings.Contains(raw, pgSecret) {
			t.Errorf("%s: the list answers the password", when)
		}
		one := browser.Eval[string](t, b, `fetch("/api/v1/database-configs/`+pgID+`", {cache: "no-store"}).then(r => r.text())`)
		if strings.Contains(one, pgSecret) {
			t.Errorf("%s: the config's GET answers the password", when)
		}
		for _, c := range cs {
			if c["name"] == "acme-pg" && c["has_password"] != true {
				t.Errorf("%s: acme-pg has_password %v", when, c["has_password"])
			}
		}
	}
	noSecret("after create")

	// Edit: the form holds its values, never the password.
	b.Click(t, pg+" .db-edit")
	b.WaitVisible(t, `#db-form[data-editing="`+pgID+`"]`)
	if got := b.Text(t, "#db-form-title"); !strings.HasPrefix(got, "Edit") || !strings.Contains(got, "acme-pg") {
		t.Errorf("form title while editing: %q", got)
	}
	if got := browser.Eval[string](t, b, `document.querySelector("#db-engine").value + "|" + `+dbFormValues); got !=
		"postgres|acme-pg|127.0.0.1|1|audit|auditor||connect_timeout=2|acme|true|true|false|request" {
		t.Errorf("the edit form holds %q", got)
	}
	if !browser.Eval[bool](t, b, `document.querySelector("#db-password-clear").offsetParent !== null`) {
		t.Error("no way to remove the stored password while editing a config that has one")
	}
	if browser.Eval[bool](t, b, `document.querySelector("#db-password-clear").checked`) {
		t.Error("remove the stored password is ticked by default")
	}
	if !browser.Eval[bool](t, b, `document.querySelector("#db-cancel-edit").offsetParent !== null`) {
		t.Error("no Cancel editing while editing")
	}
	noSecret("while editing")
	b.Select(t, "#db-route-for", "crud")
	b.Click(t, "#db-submit")
	b.WaitText(t, pg+` td[data-col="route_for"]`, "crud")
	wantCells(t, b, "acme-pg", map[string]string{"route_for": "crud", "password": "set", "location": "127.0.0.1:1/audit", "tenant": "acme"})
	if got := b.Text(t, "#db-status"); !strings.Contains(got, "acme-pg") {
		t.Errorf("status after save: %q", got)
	}
	if n := b.Count(t, "#db-form[data-editing]"); n != 0 {
		t.Error("the form still edits after saving")
	}
	if got := browser.Eval[string](t, b, dbFormValues); got != dbFormDefaults {
		t.Errorf("the form after save: %q, want %q", got, dbFormDefaults)
	}
	if got := b.Text(t, "#db-form-title"); got != "New database configuration" {
		t.Errorf("form title after save: %q", got)
	}
	noSecret("after save")

	// Moving it without its password: the API's 400, beside the password.
	b.Click(t, pg+" .db-edit")
	b.WaitVisible(t, `#db-form[data-editing="`+pgID+`"]`)
	b.Type(t, "#db-host", "127.0.0.2")
	b.Click(t, "#db-submit")
	if got := b.WaitText(t, "#db-password-error", "password"); !strings.Contains(got, "host") {
		t.Errorf("a move without the password: %q", got)
	}
	if got := b.Attr(t, "#db-password", "aria-invalid"); got != "true" {
		t.Errorf("password not marked invalid (%q)", got)
	}
	if n := b.Count(t, "#db-host-error:not([hidden]), #db-form-error:not([hidden])"); n != 0 {
		t.Errorf("the password error shows in %d other places", n)
	}
	if n := b.Count(t, `#db-form[data-editing="`+pgID+`"]`); n != 1 {
		t.Error("a refused save stopped editing")
	}
	if got := b.Text(t, pg+` td[data-col="location"]`); got != "127.0.0.1:1/audit" {
		t.Errorf("the refused move shows %q", got)
	}
	b.AssertAxe(t)

	// Cancel editing: back to a new config, the error gone.
	b.Click(t, "#db-cancel-edit")
	b.WaitGone(t, "#db-form[data-editing]")
	if got := b.Text(t, "#db-form-title"); got != "New database configuration" {
		t.Errorf("form title after Cancel editing: %q", got)
	}
	if got := browser.Eval[string](t, b, dbFormValues); got != dbFormDefaults {
		t.Errorf("the form after Cancel editing: %q, want %q", got, dbFormDefaults)
	}
	if got := b.Attr(t, "#db-password", "aria-invalid"); got == "true" {
		t.Error("password still marked invalid after Cancel editing")
	}
	if _, cs := apiConfigs(t, b); len(cs) != 2 {
		t.Errorf("%d configs stored, want 2", len(cs))
	} else {
		for _, c := range cs {
			if c["name"] == "acme-pg" && (c["host"] != "127.0.0.1" || c["route_for"] != "crud") {
				t.Errorf("acme-pg stored as %v", c)
			}
		}
	}

	// Delete asks first: Cancel keeps it, Delete removes it.
	b.Click(t, dbRow("acme-local")+" .db-delete")
	b.WaitVisible(t, "#db-delete-dialog[open]")
	if got := b.Text(t, "#db-delete-title"); !strings.Contains(got, "acme-local") {
		t.Errorf("delete dialog title: %q", got)
	}
	if got := b.Text(t, "#db-delete-text"); strings.TrimSpace(got) == "" {
		t.Error("delete dialog says nothing")
	}
	b.AssertAxe(t)
	b.Click(t, "#db-delete-cancel")
	b.WaitGone(t, "#db-delete-dialog[open]")
	if n := b.Count(t, dbRow("acme-local")); n != 1 {
		t.Fatal("Cancel deleted the config")
	}
	if _, cs := apiConfigs(t, b); len(cs) != 2 {
		t.Errorf("after Cancel %d configs stored, want 2", len(cs))
	}
	b.Click(t, dbRow("acme-local")+" .db-delete")
	b.WaitVisible(t, "#db-delete-dialog[open]")
	b.Click(t, "#db-delete-confirm")
	b.WaitGone(t, dbRow("acme-local"))
	if n := b.Count(t, "#db-table tbody tr"); n != 1 || b.Count(t, pg) != 1 {
		t.Errorf("after the delete %d rows, want acme-pg only", n)
	}
	if _, cs := apiConfigs(t, b); len(cs) != 1 || cs[0]["name"] != "acme-pg" {
		t.Errorf("stored after the delete: %v", cs)
	}
	noSecret("at the end")
	b.AssertAxe(t)
	b.NoErrors(t, append(expected401, "status of 400", "status of 409")...)
}

// Without manage_database_config the page says so; a principal of a
// tenant sees and makes its tenant's configs only; one without a tenant
// cannot make a SQLite config; a read-only console lists the configs
// and checks their health, with no control that changes them.
func TestDatabasesPagePermissions(t *testing.T) {
	s := newDBStack(t, nil)
	pgConfig := func(name, tenant string) dbconfig.Config {
		return dbconfig.Config{Name: name, Engine: dbconfig.Postgres, Host: "127.0.0.1", Port: 1, Database: "audit",
			RouteFor: dbconfig.RouteAll, Tenant: tenant, Primary: true, Active: true}
	}
	s.seed(t, pgConfig("acme-pg", "acme"), pgConfig("globex-pg", "globex"), pgConfig("shared-pg", ""))
	controls := "#db-form, #db-table, .db-test, .db-health, .db-edit, .db-delete, #db-delete-dialog"

	// A viewer is refused.
	v := dbSignIn(t, s, "viewer", "[data-forbidden]")
	if got := v.Text(t, "[data-forbidden]"); strings.TrimSpace(got) == "" {
		t.Error("the viewer's notice says nothing")
	}
	if n := v.Count(t, controls); n != 0 {
		t.Errorf("a viewer sees %d database controls", n)
	}
	v.AssertAxe(t)
	v.NoErrors(t, expected401...)

	// tenant-dba, of tenant acme: acme's configs only, and new ones are
	// acme's, the tenant shown, not asked.
	k := dbSignIn(t, s, "tenant-dba", "#db-form")
	k.WaitVisible(t, dbRow("acme-pg"))
	if n := k.Count(t, "#db-table tbody tr"); n != 1 {
		t.Errorf("tenant-dba sees %d configs, want acme-pg only", n)
	}
	if n := k.Count(t, `#db-form input#db-tenant, #db-form select#db-tenant, #db-form textarea#db-tenant, #db-form [name="tenant"]:is(input, select, textarea)`); n != 0 {
		t.Errorf("tenant-dba is offered %d tenant inputs", n)
	}
	if got := k.Text(t, "#db-form"); !strings.Contains(got, "acme") {
		t.Errorf("tenant-dba's form does not show its tenant: %q", got)
	}
	wantCells(t, k, "acme-pg", map[string]string{"tenant": "acme", "password": "none", "health": "not checked"})
	k.AssertAxe(t)
	k.Type(t, "#db-name", "acme-requests")
	k.Select(t, "#db-engine", "postgres")
	k.Type(t, "#db-host", "127.0.0.1")
	k.Type(t, "#db-port", "1")
	k.Type(t, "#db-database", "requests")
	k.Select(t, "#db-route-for", "request")
	k.Click(t, "#db-submit")
	k.WaitVisible(t, dbRow("acme-requests"))
	wantCells(t, k, "acme-requests", map[string]string{"tenant": "acme", "route_for": "request", "engine": "postgres"})
	if n := k.Count(t, "#db-table tbody tr"); n != 2 {
		t.Errorf("tenant-dba sees %d configs after create, want 2", n)
	}
	k.NoErrors(t, expected401...)

	// dba, without a tenant: the configs without one; SQLite is refused
	// beside the engine; a check's error is the generic one.
	d := dbSignIn(t, s, "dba", "#db-form")
	d.WaitVisible(t, dbRow("shared-pg"))
	if n := d.Count(t, "#db-table tbody tr"); n != 1 {
		t.Errorf("dba sees %d configs, want shared-pg only", n)
	}
	wantCells(t, d, "shared-pg", map[string]string{"tenant": "no tenant"})
	d.Type(t, "#db-name", "dba-local")
	d.Select(t, "#db-engine", "sqlite")
	d.Type(t, "#db-database", filepath.Join(t.TempDir(), "dba.db"))
	d.Click(t, "#db-submit")
	if got := d.WaitText(t, "#db-engine-error", "sqlite"); !strings.Contains(got, "superuser") {
		t.Errorf("dba's sqlite config: %q", got)
	}
	if got := d.Attr(t, "#db-engine", "aria-invalid"); got != "true" {
		t.Errorf("engine not marked invalid (%q)", got)
	}
	if n := d.Count(t, "#db-table tbody tr"); n != 1 {
		t.Errorf("%d configs after the refusal, want 1", n)
	}
	runCheck(t, d, "shared-pg", ".db-test", "failing")
	if got := d.Text(t, `#db-check [data-field="error"]`); got != "could not connect" {
		t.Errorf("dba's test error: %q, want the generic one", got)
	}
	d.AssertAxe(t)
	d.NoErrors(t, append(expected401, "status of 403")...)

	// A read-only console: the list and the health check, no change.
	ro := newDBStack(t, &console.Options{ReadOnly: true})
	ro.seed(t, pgConfig("shared-pg", ""))
	r := dbSignIn(t, ro, "admin", "#db-table")
	r.WaitVisible(t, dbRow("shared-pg"))
	if n := r.Count(t, "#db-form, #db-submit, .db-edit, .db-delete, .db-test"); n != 0 {
		t.Errorf("a read-only console shows %d database controls", n)
	}
	if n := r.Count(t, dbRow("shared-pg")+" .db-health"); n != 1 {
		t.Errorf("a read-only console shows %d health checks, want 1", n)
	}
	wantCells(t, r, "shared-pg", map[string]string{"engine": "postgres", "location": "127.0.0.1:1/audit", "tenant": "no tenant", "health": "not checked"})
	runCheck(t, r, "shared-pg", ".db-health", "failing")
	if got := r.Text(t, `#db-check [data-field="ok"]`); got != "no" {
		t.Errorf("read-only health ok: %q", got)
	}
	r.AssertAxe(t)
	r.NoErrors(t, expected401...)
}
