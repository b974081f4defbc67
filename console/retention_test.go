package console_test

// Browser tests of the retention page (/admin/retention): the policies
// (GET/POST/PUT/DELETE /api/v1/retention-policies), the dry runs and a
// run now, against the routes `activitylog serve` mounts
// (retentionhttp over a retention.Runner over the SQLite store). They
// skip when ACTIVITYLOG_TEST_CHROMIUM is unset.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/console"
	"github.com/activitylog/activitylog/internal/browser"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/retention/retentionhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// retStack is a served console with the retention routes.
type retStack struct{ *adminStack }

// The seeded events: 5 crud and 3 request events 40 days old, which a
// 30-day policy deletes, and recent ones of each kind, which it keeps.
const (
	oldCRUD, oldRequests       = 5, 3
	recentCRUD, recentRequests = 2, 4
)

// newRetStack serves the API with the retention routes and the console
// (copts), with the users admin (superuser), viewer (view_all_logs),
// dba (manage_database_config: an admin page, not this one) and keeper
// (manage_retention in tenant acme), and the seeded events.
func newRetStack(t *testing.T, copts *console.Options) *retStack {
	t.Helper()
	ctx := context.Background()
	s := &retStack{newAdminStack(t, copts, func(store *sqlite.Store, rec *activitylog.Recorder) []server.Route {
		// As cmd/activitylog's setupRetention wires it.
		runner, err := retention.NewRunner(store.RetentionPolicies(), store.Purge, &retention.RunnerOptions{Audit: rec, Count: store})
		if err != nil {
			t.Fatal(err)
		}
		rh, err := retentionhttp.New(store.RetentionPolicies(), runner, &retentionhttp.Options{Audit: rec})
		if err != nil {
			t.Fatal(err)
		}
		return rh.Routes()
	},
		access.NewUser{ID: "u-admin", Username: "admin", Password: password, AllowSuperuser: true, Permissions: []activitylog.Permission{activitylog.Superuser}},
		access.NewUser{ID: "u-viewer", Username: "viewer", Password: password, Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
		access.NewUser{ID: "u-dba", Username: "dba", Password: password, Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ManageDatabaseConfig}},
		access.NewUser{ID: "u-keeper", Username: "keeper", Password: password, Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ManageRetention}},
	)}
	now := time.Now().UTC()
	var events []activitylog.Event
	add := func(n int, kind activitylog.Kind, age time.Duration) {
		for i := range n {
			at := now.Add(-age - time.Duration(i)*time.Minute)
			e := activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: kind, Action: "update", Severity: activitylog.SeverityInfo,
				Actor: activitylog.Actor{ID: "user-1", Type: activitylog.ActorUser}, Object: activitylog.Object{Type: "order", ID: fmt.Sprint(i)}}
			if kind == activitylog.KindRequest {
				e.Action = "GET /orders"
				e.Request = activitylog.Request{Method: "GET", Path: "/orders"}
				e.Response = activitylog.Response{Status: 200}
			}
			events = append(events, e)
		}
	}
	add(oldCRUD, activitylog.KindCRUD, 40*24*time.Hour)
	add(oldRequests, activitylog.KindRequest, 40*24*time.Hour)
	add(recentCRUD, activitylog.KindCRUD, time.Hour)
	add(recentRequests, activitylog.KindRequest, time.Hour)
	if err := s.rec.Commit(ctx, events); err != nil {
		t.Fatalf("seed events: %v", err)
	}
	return s
}

// retSignIn signs user in through the form and opens /admin/retention,
// waiting for sel.
func retSignIn(t *testing.T, s *retStack, user, sel string) *browser.Browser {
	t.Helper()
	return s.signInAt(t, "/admin/retention", user, sel)
}

// policyRow is the table's row of the policy named name.
func policyRow(name string) string {
	return `#ret-table tr[data-name="` + name + `"]`
}

// eventCount is the count of the seeded events of a kind (GET
// /api/v1/events?object_type=order&kind=kind), with the
// browser's session.
func eventCount(t *testing.T, b *browser.Browser, kind string) int {
	t.Helper()
	raw := browser.Eval[string](t, b, `fetch("/api/v1/events?object_type=order&kind=`+kind+`", {cache: "no-store"}).then(r => r.text())`)
	var ans struct {
		Count *int `json:"count"`
	}
	if err := json.Unmarshal([]byte(raw), &ans); err != nil || ans.Count == nil {
		t.Fatalf("events of kind %s: %v: %s", kind, err, raw)
	}
	return *ans.Count
}

// A superuser makes a policy (the API's refusals beside the field they
// name), sees what a run would delete, runs it now, and sees the events
// gone and the table updated; then edits and deletes it.
func TestRetentionPageLifecycle(t *testing.T) {
	s := newRetStack(t, nil)
	b := retSignIn(t, s, "admin", "#ret-form")
	b.WaitVisible(t, "#ret-empty")
	if got := b.Text(t, "#ret-rules"); !strings.Contains(got, "whole days in UTC") || !strings.Contains(got, "default_retention_days") ||
		!strings.Contains(got, "one kind beats") {
		t.Errorf("the explanation: %q", got)
	}
	if n := b.Count(t, "#purge-form"); n != 1 {
		t.Errorf("%d purge forms, want 1", n)
	}
	b.AssertAxe(t)

	// retain_days 0: the API's 400, beside the days.
	b.Type(t, "#ret-name", "old events")
	b.Type(t, "#ret-days", "0")
	b.Click(t, "#ret-submit")
	if got := b.WaitText(t, "#ret-retain_days-error", "between 1 and"); !strings.Contains(got, "retain_days") {
		t.Errorf("retain_days 0: %q", got)
	}
	if got := b.Attr(t, "#ret-days", "aria-invalid"); got != "true" {
		t.Errorf("days not marked invalid (%q)", got)
	}
	if n := b.Count(t, "#ret-name-error:not([hidden]), #ret-form-error:not([hidden])"); n != 0 {
		t.Errorf("the error shows in %d other places", n)
	}
	if n := b.Count(t, "#ret-table"); n != 0 {
		t.Fatal("a policy of 0 days was made")
	}
	b.AssertAxe(t)

	// 30 days, every kind, every tenant.
	b.Type(t, "#ret-days", "30")
	b.Click(t, "#ret-submit")
	b.WaitVisible(t, policyRow("old events"))
	row := policyRow("old events")
	for col, want := range map[string]string{"kind": "all kinds", "tenant": "every tenant", "retain_days": "30", "active": "active",
		"archive": "no", "last_run": "never", "records_deleted": "0", "last_error": "none"} {
		if got := b.Text(t, row+` td[data-col="`+col+`"]`); got != want {
			t.Errorf("new policy's %s: %q, want %q", col, got, want)
		}
	}
	if n := b.Count(t, "#ret-form [aria-invalid], #ret-form .field-error:not([hidden])"); n != 0 {
		t.Errorf("%d errors still shown after create", n)
	}
	if got := b.Text(t, "#ret-status"); !strings.Contains(got, "old events") {
		t.Errorf("status after create: %q", got)
	}
	// The form is back to a new policy's defaults.
	if got := browser.Eval[string](t, b, `["#ret-name", "#ret-days"].map(s => document.querySelector(s).value).join("|") + "|" +
		["#ret-every-tenant", "#ret-active", "#ret-archive"].map(s => document.querySelector(s).checked).join("|")`); got != "||true|true|false" {
		t.Errorf("the form after create: %q, want empty, every tenant, active, no archive", got)
	}
	if n := b.Count(t, "#ret-cancel-edit:not([hidden])"); n != 0 || browser.Eval[bool](t, b, `document.querySelector("#ret-cancel-edit").offsetParent !== null`) {
		t.Error("Cancel editing shows on a new policy")
	}

	// A name taken (without regard to case): the 409, beside the name.
	b.Type(t, "#ret-name", "OLD EVENTS")
	b.Type(t, "#ret-days", "90")
	b.Click(t, "#ret-submit")
	b.WaitText(t, "#ret-name-error", "name")
	if got := b.Attr(t, "#ret-name", "aria-invalid"); got != "true" {
		t.Errorf("name not marked invalid (%q)", got)
	}
	if n := b.Count(t, "#ret-table tbody tr"); n != 1 {
		t.Errorf("%d policies after the conflict, want 1", n)
	}

	// The dry run: the exact counts, and nothing deleted.
	b.Click(t, "#ret-dry-run")
	b.WaitVisible(t, "#ret-plan-kinds")
	for kind, want := range map[string]int{"crud": oldCRUD, "request": oldRequests} {
		if got := b.Text(t, `#ret-plan-kinds tr[data-kind="`+kind+`"] td`); got != fmt.Sprint(want) {
			t.Errorf("dry run: %s %q, want %d", kind, got, want)
		}
	}
	if n := b.Count(t, "#ret-plan-kinds tbody tr"); n != 2 {
		t.Errorf("dry run lists %d kinds, want crud and request", n)
	}
	if got := b.Text(t, "#ret-plan-total"); !strings.Contains(got, fmt.Sprintf("would delete %d events", oldCRUD+oldRequests)) {
		t.Errorf("dry run total: %q", got)
	}
	if got := b.Text(t, "#ret-plan-rules"); !strings.Contains(got, "old events") {
		t.Errorf("dry run rules: %q", got)
	}
	if got := eventCount(t, b, "crud"); got != oldCRUD+recentCRUD {
		t.Errorf("after the dry run %d crud events, want %d", got, oldCRUD+recentCRUD)
	}
	b.AssertAxe(t)
	b.Screenshot(t, "dry-run")

	// Run now asks first, with the count; Cancel runs nothing.
	b.Click(t, row+" .ret-run")
	b.WaitVisible(t, "#ret-run-dialog[open]")
	if got := b.Text(t, "#ret-run-text"); !strings.Contains(got, fmt.Sprintf("deletes %d events", oldCRUD+oldRequests)) {
		t.Errorf("run dialog: %q", got)
	}
	b.AssertAxe(t)
	b.Click(t, "#ret-run-cancel")
	b.WaitGone(t, "#ret-run-dialog[open]")
	if got := eventCount(t, b, "request"); got != oldRequests+recentRequests {
		t.Errorf("after Cancel %d request events, want %d", got, oldRequests+recentRequests)
	}

	// Confirmed: the report, the events gone, the table updated.
	b.Click(t, row+" .ret-run")
	b.WaitVisible(t, "#ret-run-dialog[open]")
	b.Click(t, "#ret-run-confirm")
	b.WaitVisible(t, "#ret-report-kinds")
	for kind, want := range map[string]int{"crud": oldCRUD, "request": oldRequests} {
		if got := b.Text(t, `#ret-report-kinds tr[data-kind="`+kind+`"] td`); got != fmt.Sprint(want) {
			t.Errorf("report: %s %q, want %d", kind, got, want)
		}
	}
	if got := b.Text(t, "#ret-report-total"); !strings.Contains(got, fmt.Sprintf("%d events deleted", oldCRUD+oldRequests)) {
		t.Errorf("report total: %q", got)
	}
	if got := b.Text(t, `#ret-report-detail [data-field="kept_sealed"]`); got != "0" {
		t.Errorf("kept sealed: %q", got)
	}
	if got := b.Text(t, `#ret-report-detail [data-field="errors"]`); got != "none" {
		t.Errorf("errors: %q", got)
	}
	b.WaitText(t, row+` td[data-col="records_deleted"]`, fmt.Sprint(oldCRUD+oldRequests))
	if got := b.Text(t, row+` td[data-col="last_run"]`); got == "never" || got == "" {
		t.Errorf("last run after the run: %q", got)
	}
	if got := eventCount(t, b, "crud"); got != recentCRUD {
		t.Errorf("after the run %d crud events, want the %d recent ones", got, recentCRUD)
	}
	if got := eventCount(t, b, "request"); got != recentRequests {
		t.Errorf("after the run %d request events, want the %d recent ones", got, recentRequests)
	}
	b.AssertAxe(t)
	b.Screenshot(t, "ran")

	// Edit: the form holds the policy; the change shows in the table.
	b.Click(t, row+" .ret-edit")
	b.WaitVisible(t, `#ret-form[data-editing]`)
	if got := browser.Eval[string](t, b, `document.querySelector("#ret-name").value + "|" + document.querySelector("#ret-days").value`); got != "old events|30" {
		t.Errorf("edit form holds %q", got)
	}
	b.Select(t, "#ret-kind", "request")
	b.Type(t, "#ret-days", "60")
	b.Click(t, "#ret-submit")
	b.WaitText(t, row+` td[data-col="retain_days"]`, "60")
	if got := b.Text(t, row+` td[data-col="kind"]`); got != "request" {
		t.Errorf("kind after edit: %q", got)
	}
	if got := b.Text(t, row+` td[data-col="records_deleted"]`); got != fmt.Sprint(oldCRUD+oldRequests) {
		t.Errorf("an edit changed records deleted to %q", got)
	}
	if n := b.Count(t, "#ret-form[data-editing]"); n != 0 {
		t.Error("the form still edits after saving")
	}

	// Delete asks first: Cancel keeps it, Delete removes it.
	b.Click(t, row+" .ret-delete")
	b.WaitVisible(t, "#ret-delete-dialog[open]")
	if got := b.Text(t, "#ret-delete-dialog"); !strings.Contains(got, `Delete policy "old events"?`) {
		t.Errorf("delete dialog: %q", got)
	}
	b.Click(t, "#ret-delete-cancel")
	b.WaitGone(t, "#ret-delete-dialog[open]")
	if n := b.Count(t, row); n != 1 {
		t.Fatal("Cancel deleted the policy")
	}
	b.Click(t, row+" .ret-delete")
	b.WaitVisible(t, "#ret-delete-dialog[open]")
	b.Click(t, "#ret-delete-confirm")
	b.WaitVisible(t, "#ret-empty")

	// A policy that archives, on a server without archive_dir: the run
	// fails, says why, and the table shows its last error.
	b.Type(t, "#ret-name", "archived")
	b.Type(t, "#ret-days", "1")
	b.Click(t, "#ret-archive")
	b.Click(t, "#ret-submit")
	b.WaitVisible(t, policyRow("archived"))
	b.Click(t, policyRow("archived")+" .ret-run")
	b.WaitVisible(t, "#ret-run-dialog[open]")
	b.Click(t, "#ret-run-confirm")
	if got := b.WaitText(t, "#ret-error", "archive_dir"); !strings.Contains(got, "no archiver") {
		t.Errorf("a run without an archiver: %q", got)
	}
	b.WaitText(t, policyRow("archived")+` td[data-col="last_error"]`, "archiver")
	if got := b.Text(t, policyRow("archived")+` td[data-col="last_run"]`); got == "never" {
		t.Errorf("the failed run left last run %q", got)
	}
	if got := eventCount(t, b, "crud"); got != recentCRUD {
		t.Errorf("after the failed run %d crud events, want %d", got, recentCRUD)
	}
	b.AssertAxe(t)

	// At a phone's width the page does not scroll sideways.
	b.Viewport(t, 375, 800)
	b.WaitFor(t, `document.documentElement.clientWidth <= 375`)
	if w := browser.Eval[int](t, b, `document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("the retention page is %d px wide at 375 px", w)
	}
	b.NoErrors(t, append(expected401, "status of 400", "status of 409")...)
}

// Without manage_retention the page says so and shows no control; a
// read-only console lists the policies with no control that changes
// them; a principal of a tenant sees and makes its tenant's policies.
func TestRetentionPagePermissions(t *testing.T) {
	s := newRetStack(t, nil)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, p := range []retention.Policy{
		{ID: retention.NewID(), Name: "everyone 90", Kind: "all", RetainDays: 90, Active: true, AllTenants: true, CreatedAt: now, UpdatedAt: now},
		{ID: retention.NewID(), Name: "acme logins", Kind: "auth", RetainDays: 7, Active: true, Tenant: "acme", CreatedAt: now, UpdatedAt: now},
	} {
		if err := s.store.RetentionPolicies().Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	controls := "#ret-form, #ret-table, #ret-dry-run, .ret-run, .ret-edit, .ret-delete, .ret-dry, #ret-delete-dialog, #ret-run-dialog, #purge-form"

	// dba reaches the admin pages, not this one.
	d := retSignIn(t, s, "dba", "[data-forbidden]")
	if got := d.Text(t, "[data-forbidden]"); !strings.Contains(got, "manage_retention") {
		t.Errorf("dba on /admin/retention: %q", got)
	}
	if n := d.Count(t, controls); n != 0 {
		t.Errorf("a user without manage_retention sees %d retention controls", n)
	}
	d.AssertAxe(t)
	d.NoErrors(t, expected401...)

	// A viewer is refused the admin pages altogether.
	v := retSignIn(t, s, "viewer", "[data-forbidden]")
	if n := v.Count(t, controls); n != 0 {
		t.Errorf("a viewer sees %d retention controls", n)
	}
	v.NoErrors(t, expected401...)

	// keeper, of tenant acme: acme's policy only, and new ones are acme's.
	k := retSignIn(t, s, "keeper", "#ret-table")
	if n := k.Count(t, "#ret-table tbody tr"); n != 1 || k.Count(t, policyRow("acme logins")) != 1 {
		t.Errorf("keeper sees %d policies, want acme logins only", n)
	}
	if n := k.Count(t, "#ret-every-tenant, #ret-tenant"); n != 0 {
		t.Errorf("keeper is offered %d tenant choices", n)
	}
	k.Type(t, "#ret-name", "acme requests")
	k.Select(t, "#ret-kind", "request")
	k.Type(t, "#ret-days", "14")
	k.Click(t, "#ret-submit")
	k.WaitVisible(t, policyRow("acme requests"))
	if got := k.Text(t, policyRow("acme requests")+` td[data-col="tenant"]`); got != "acme" {
		t.Errorf("keeper's new policy is for %q, want acme", got)
	}
	k.Click(t, "#ret-dry-run")
	k.WaitVisible(t, "#ret-plan")
	if got := k.Text(t, "#ret-plan-rules"); strings.Contains(got, "everyone 90") || !strings.Contains(got, "acme logins") {
		t.Errorf("keeper's dry run shows another tenant's rules: %q", got)
	}
	k.AssertAxe(t)
	k.NoErrors(t, expected401...)

	// A read-only console: the policies and the dry run, no change.
	ro := newRetStack(t, &console.Options{ReadOnly: true})
	if err := ro.store.RetentionPolicies().Create(ctx, retention.Policy{ID: retention.NewID(), Name: "everyone 90", Kind: "all",
		RetainDays: 90, Active: true, AllTenants: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	r := retSignIn(t, ro, "admin", "#ret-table")
	if n := r.Count(t, "#ret-form, .ret-run, .ret-edit, .ret-delete, #ret-delete-dialog, #ret-run-dialog, #purge-form"); n != 0 {
		t.Errorf("a read-only console shows %d retention controls", n)
	}
	if got := r.Text(t, policyRow("everyone 90")+` td[data-col="retain_days"]`); got != "90" {
		t.Errorf("read-only row: %q", got)
	}
	r.Click(t, "#ret-dry-run")
	r.WaitVisible(t, "#ret-plan-kinds")
	if got := r.Text(t, "#ret-plan-total"); !strings.Contains(got, "would delete 0 events") {
		t.Errorf("read-only dry run (nothing older than 90 days): %q", got)
	}
	r.AssertAxe(t)
	r.NoErrors(t, expected401...)
}
