package console_test

// Browser tests of the users page (/admin/users: GET, POST and PATCH
// /api/v1/users) and of the offline bundle's download on the integrity
// page (GET /api/v1/integrity/bundle). They skip when
// ACTIVITYLOG_TEST_CHROMIUM is unset.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/console"
	"github.com/activitylog/activitylog/internal/browser"
)

// userRow is the users table's row of a username.
func userRow(name string) string {
	return `#users-table tr[data-user="` + name + `"]`
}

// meStatus is the status of GET /api/v1/me with the browser's cookie.
func meStatus(t *testing.T, b *browser.Browser) int {
	t.Helper()
	return browser.Eval[int](t, b, `fetch("/api/v1/me", {credentials: "same-origin", cache: "no-store"}).then(r => r.status)`)
}

// A superuser makes a user in the console, who signs in; disabling it
// (after a confirmation) ends its session and refuses its sign-in;
// enabling it lets it in again. The API's errors are shown beside the
// field they name, and no one is offered to disable themselves.
func TestAdminUsersLifecycle(t *testing.T) {
	s := newStack(t, "", false)
	b := newBrowser(t)
	signIn(t, b, s, "admin", "/admin/users", "#users-table")
	b.AssertAxe(t)

	// The list: both users, their fields, and a control on every row
	// but one's own.
	if got := b.Text(t, userRow("viewer")); !strings.Contains(got, "u-viewer") || !strings.Contains(got, "view_all_logs") ||
		!strings.Contains(got, "active") {
		t.Errorf("viewer's row: %q", got)
	}
	if got := b.Attr(t, userRow("admin"), "data-self"); got != "true" {
		t.Errorf("admin's own row is not marked as such (data-self %q)", got)
	}
	if n := b.Count(t, userRow("admin")+" .user-toggle"); n != 0 {
		t.Errorf("one's own row offers %d disable controls", n)
	}
	if n := b.Count(t, userRow("viewer")+` .user-toggle[data-action="disable"]`); n != 1 {
		t.Errorf("the viewer's row has %d Disable buttons, want 1", n)
	}
	// Superuser is not offered, and the form says why.
	if n := b.Count(t, "#user-perm-superuser"); n != 0 {
		t.Error("the form offers superuser")
	}
	if got := b.Text(t, "#user-form"); !strings.Contains(got, "activitylog users create --superuser") || !strings.Contains(got, "At least 8") {
		t.Errorf("the form does not explain superuser or the password's length: %q", got)
	}

	// A too-short password: the API's message, beside the password.
	b.Type(t, "#user-username", "ann")
	b.Type(t, "#user-password", "short")
	b.Click(t, "#user-perm-view_all_logs")
	b.Click(t, "#user-create")
	if got := b.WaitText(t, "#user-password-error", "at least 8"); !strings.Contains(got, "password") {
		t.Errorf("short password: %q", got)
	}
	if got := b.Attr(t, "#user-password", "aria-invalid"); got != "true" {
		t.Errorf("password not marked invalid (%q)", got)
	}
	if n := b.Count(t, "#user-username-error:not([hidden]), #user-form-error:not([hidden])"); n != 0 {
		t.Errorf("the error shows in %d other places", n)
	}
	if n := b.Count(t, userRow("ann")); n != 0 {
		t.Fatal("a user with a short password was made")
	}

	// A username that is taken: beside the username.
	b.Type(t, "#user-username", "viewer")
	b.Type(t, "#user-password", password)
	b.Click(t, "#user-create")
	b.WaitText(t, "#user-username-error", "taken")
	if got := b.Attr(t, "#user-username", "aria-invalid"); got != "true" {
		t.Errorf("username not marked invalid (%q)", got)
	}
	if n := b.Count(t, "#user-password-error:not([hidden])"); n != 0 {
		t.Error("the password's old error is still shown")
	}
	if n := b.Count(t, "#users-table tbody tr"); n != 2 {
		t.Errorf("%d users listed after two refusals, want 2", n)
	}
	b.Screenshot(t, "refused")
	b.AssertAxe(t)

	// The show/hide toggle.
	if got := b.Attr(t, "#user-password", "type"); got != "password" {
		t.Errorf("password input type %q", got)
	}
	b.Click(t, "#user-password-toggle")
	if got := b.Attr(t, "#user-password", "type"); got != "text" {
		t.Errorf("shown password input type %q, want text", got)
	}
	if got := b.Attr(t, "#user-password-toggle", "aria-pressed"); got != "true" {
		t.Errorf("toggle aria-pressed %q", got)
	}
	b.Click(t, "#user-password-toggle")
	if got := b.Attr(t, "#user-password", "type"); got != "password" {
		t.Errorf("hidden again: input type %q", got)
	}

	// Make ann, of tenant acme.
	b.Type(t, "#user-username", "ann")
	b.Type(t, "#user-tenant", "acme")
	b.Click(t, "#user-create")
	b.WaitVisible(t, userRow("ann")+`[data-state="active"]`)
	if got := b.Text(t, userRow("ann")); !strings.Contains(got, "acme") || !strings.Contains(got, "view_all_logs") {
		t.Errorf("ann's row: %q", got)
	}
	if got := b.Text(t, "#users-status"); !strings.Contains(got, "ann") {
		t.Errorf("status after create: %q", got)
	}
	if got := browser.Eval[string](t, b, `document.querySelector("#user-password").value + "|" + document.querySelector("#user-username").value`); got != "|" {
		t.Errorf("the form keeps %q after create", got)
	}
	if n := b.Count(t, "#user-form [aria-invalid], .field-error:not([hidden])"); n != 0 {
		t.Errorf("%d errors still shown after create", n)
	}
	b.Screenshot(t, "created")

	// ann signs in, in a browser of her own.
	ann := newBrowser(t)
	signIn(t, ann, s, "ann", "/events", "#whoami")
	if got := ann.WaitText(t, "#whoami", "ann"); got == "" {
		t.Fatal("ann is not signed in")
	}
	if got := meStatus(t, ann); got != 200 {
		t.Fatalf("ann's GET /me: %d", got)
	}

	// Disable asks first: Cancel changes nothing.
	b.Click(t, userRow("ann")+" .user-toggle")
	b.WaitVisible(t, "#user-dialog[open]")
	if got := b.Text(t, "#user-dialog"); !strings.Contains(got, `Disable user "ann"`) || !strings.Contains(got, "signed out") {
		t.Errorf("disable dialog: %q", got)
	}
	b.AssertAxe(t)
	b.Click(t, "#user-cancel")
	b.WaitGone(t, "#user-dialog[open]")
	b.WaitVisible(t, userRow("ann")+`[data-state="active"]`)
	if got := meStatus(t, ann); got != 200 {
		t.Errorf("after Cancel, ann's GET /me: %d, want 200", got)
	}

	// Confirmed: disabled, her session is gone and she cannot sign in.
	b.Click(t, userRow("ann")+" .user-toggle")
	b.WaitVisible(t, "#user-dialog[open]")
	b.Click(t, "#user-confirm")
	b.WaitVisible(t, userRow("ann")+`[data-state="disabled"]`)
	if got := b.Text(t, userRow("ann")); !strings.Contains(got, "disabled") || !strings.Contains(got, "Enable") {
		t.Errorf("disabled row: %q", got)
	}
	if got := meStatus(t, ann); got != 401 {
		t.Errorf("after disable, ann's GET /me: %d, want 401", got)
	}
	ann.Navigate(t, s.url+"/events", "#login-username")
	ann.Type(t, "#login-username", "ann")
	ann.Type(t, "#login-password", password)
	ann.Click(t, "#login-submit")
	ann.WaitText(t, "#login-error", "invalid")
	if loc := ann.Location(t); !strings.Contains(loc, "/login") {
		t.Errorf("a disabled user's sign-in went to %s", loc)
	}

	// Enable, after confirming: she signs in again.
	b.Click(t, userRow("ann")+` .user-toggle[data-action="enable"]`)
	b.WaitVisible(t, "#user-dialog[open]")
	if got := b.Text(t, "#user-dialog"); !strings.Contains(got, `Enable user "ann"`) {
		t.Errorf("enable dialog: %q", got)
	}
	b.Click(t, "#user-confirm")
	b.WaitVisible(t, userRow("ann")+`[data-state="active"]`)
	ann.Click(t, "#login-submit")
	ann.WaitVisible(t, "#whoami")
	if got := meStatus(t, ann); got != 200 {
		t.Errorf("after enable, ann's GET /me: %d, want 200", got)
	}

	// Each change is in the trail, as a crud event on the user (the
	// recorder writes in batches: wait for it).
	var actions []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		var events struct {
			Results []struct {
				Action string `json:"action"`
				Object struct {
					Repr string `json:"repr"`
				} `json:"object"`
			} `json:"results"`
		}
		raw := browser.Eval[string](t, b, `fetch("/api/v1/crud-events?object_type=user", {cache: "no-store"}).then(r => r.text())`)
		if err := json.Unmarshal([]byte(raw), &events); err != nil {
			t.Fatalf("events: %v: %s", err, raw)
		}
		actions = actions[:0]
		for _, e := range events.Results {
			if e.Object.Repr == "ann" {
				actions = append(actions, e.Action)
			}
		}
		if len(actions) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(actions)
	if !slices.Equal(actions, []string{"create", "update", "update"}) {
		t.Errorf("ann's changes in the trail: %v, want create and two updates", actions)
	}
	b.AssertAxe(t)

	// At a phone's width the page does not scroll sideways (the table
	// scrolls on its own).
	b.Viewport(t, 375, 800)
	b.WaitFor(t, `document.documentElement.clientWidth <= 375`)
	if w := browser.Eval[int](t, b, `document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("the users page is %d px wide at 375 px", w)
	}
	b.Screenshot(t, "phone")
	b.NoErrors(t, append(expected401, "status of 400")...)
	ann.NoErrors(t, expected401...)
}

// A viewer sees none of the users page; a read-only console shows a
// superuser the users and no control.
func TestAdminUsersViewerAndReadOnly(t *testing.T) {
	s := newStack(t, "", false)
	v := newBrowser(t)
	signIn(t, v, s, "viewer", "/admin/users", "[data-forbidden]")
	if n := v.Count(t, "#users-table, #user-form, #user-create, .user-toggle, #user-dialog"); n != 0 {
		t.Errorf("a viewer sees %d user controls", n)
	}
	if got := v.Text(t, "main h1"); got != "Not allowed" {
		t.Errorf("viewer on /admin/users: %q", got)
	}
	v.AssertAxe(t)
	v.NoErrors(t, expected401...)

	ro := newBStackWith(t, false, &console.Options{ReadOnly: true})
	if _, err := ro.Svc.CreateUser(context.Background(), access.NewUser{Username: "gone", Password: bPassword,
		Permissions: []activitylog.Permission{activitylog.ViewLogs}}); err != nil {
		t.Fatal(err)
	}
	if err := ro.Svc.SetUserDisabled(context.Background(), "gone", true, nil); err != nil {
		t.Fatal(err)
	}
	rb := bLogin(t, ro, "root", "/admin/users", "#users-table")
	if n := rb.Count(t, "#user-form, #user-create, .user-toggle, #user-dialog, #users-table th .sr-only"); n != 0 {
		t.Errorf("a read-only console shows %d user controls", n)
	}
	for name, state := range map[string]string{"root": "active", "viewer": "active", "gone": "disabled"} {
		if got := rb.Attr(t, userRow(name), "data-state"); got != state {
			t.Errorf("%s: state %q, want %s", name, got, state)
		}
	}
	if got := rb.Text(t, "#users-me"); !strings.Contains(got, "u_root") {
		t.Errorf("you: %q", got)
	}
	rb.AssertAxe(t)
	bNoErrors(t, rb)
}

// The integrity page links the offline bundle of its selection; the
// link downloads a gzip bundle with the session; a bad selection is
// named before the link is followed; a tenant-bound principal sees no
// link.
func TestIntegrityBundleDownload(t *testing.T) {
	s := newStack(t, "", true)
	b := newBrowser(t)
	signIn(t, b, s, "admin", "/integrity", "#int-bundle-link")
	if got := b.Attr(t, "#int-bundle-link", "href"); got != s.url+"/api/v1/integrity/bundle" {
		t.Errorf("whole-trail link %q", got)
	}
	if got := b.Text(t, "#int-bundle-verify"); !strings.Contains(got, "activitylog verify --bundle") || !strings.Contains(got, "--public-key") {
		t.Errorf("the check's command: %q", got)
	}
	if n := b.Count(t, "#int-bundle-link[download]"); n != 1 {
		t.Error("the link is not a download")
	}
	b.AssertAxe(t)

	// The chain, from a verification of the whole trail.
	var rep struct {
		Chains []struct {
			ID string `json:"id"`
		} `json:"chains"`
	}
	if err := json.Unmarshal([]byte(browser.Eval[string](t, b, `fetch("/api/v1/integrity/verify").then(r => r.text())`)), &rep); err != nil || len(rep.Chains) == 0 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	chain := rep.Chains[0].ID

	// A shared link's selection is the link's.
	q := url.Values{"chain": {chain}, "kind": {"crud"}, "from": {"2020-01-01T00:00:00Z"}}
	b.Navigate(t, s.url+"/integrity?"+q.Encode(), "#int-verdict")
	href := b.Attr(t, "#int-bundle-link", "href")
	u, err := url.Parse(href)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/api/v1/integrity/bundle" || u.Query().Encode() != q.Encode() {
		t.Errorf("link %q, want the bundle of %s", href, q.Encode())
	}
	// Changing the form changes the link.
	b.Select(t, "#int-kind", "auth")
	b.WaitFor(t, `document.querySelector("#int-bundle-link").href.includes("kind=auth")`)
	if got := b.Text(t, "#int-bundle-selection"); !strings.Contains(got, "kind auth") || !strings.Contains(got, chain) {
		t.Errorf("selection said: %q", got)
	}
	b.Select(t, "#int-kind", "crud")
	b.WaitFor(t, `document.querySelector("#int-bundle-link").href.includes("kind=crud")`)
	b.Screenshot(t, "bundle")

	// The link, fetched with the session cookie: a gzip bundle whose
	// first record is its header, with the selection's events (the
	// seeded data changes and the users' creation).
	var list struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal([]byte(browser.Eval[string](t, b, `fetch("/api/v1/events?"+new URLSearchParams({kind: "crud", date_from: "2020-01-01T00:00:00Z"})).then(r => r.text())`)), &list); err != nil {
		t.Fatal(err)
	}
	if list.Count < 3 {
		t.Fatalf("%d data changes listed, want the 3 seeded at least", list.Count)
	}
	type fetched struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Disp   string `json:"disp"`
		Body   string `json:"body"` // base64
	}
	var got fetched
	raw := browser.Eval[string](t, b, `(async () => {
		const r = await fetch(document.querySelector("#int-bundle-link").href, {credentials: "same-origin"});
		const bytes = new Uint8Array(await r.arrayBuffer());
		let bin = "";
		for (const c of bytes) bin += String.fromCharCode(c);
		return JSON.stringify({status: r.status, type: r.headers.get("content-type"), disp: r.headers.get("content-disposition"), body: btoa(bin)});
	})()`)
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	body, err := base64.StdEncoding.DecodeString(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != 200 || got.Type != "application/gzip" || !strings.HasPrefix(got.Disp, "attachment") {
		t.Fatalf("bundle: %d %q %q: %.200s", got.Status, got.Type, got.Disp, body)
	}
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("bundle does not start with the gzip magic: % x", body[:min(len(body), 8)])
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	first := ""
	for sc.Scan() {
		var rec struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bundle line %q: %v", sc.Text(), err)
		}
		if first == "" {
			first = rec.Type
		}
		types[rec.Type]++
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("bundle: %v", err)
	}
	if first != "header" || types["event"] != list.Count || types["chain"] != 1 || types["key"] != 1 {
		t.Errorf("bundle records: first %q, counts %v; want a header, 1 key, 1 chain and the %d data changes", first, types, list.Count)
	}

	// A bad selection is named before the link is followed.
	b.Type(t, "#int-chain", "not a chain!")
	before := b.Location(t)
	b.Click(t, "#int-bundle-link")
	if got := b.WaitText(t, "#int-bundle-error", "not a chain id"); !strings.Contains(got, "Chains") {
		t.Errorf("bad chain: %q", got)
	}
	if got := b.Attr(t, "#int-chain", "aria-invalid"); got != "true" {
		t.Errorf("chain not marked invalid (%q)", got)
	}
	if loc := b.Location(t); loc != before {
		t.Errorf("the link was followed: %s", loc)
	}
	b.AssertAxe(t)
	b.NoErrors(t, expected401...)

	// A principal bound to a tenant cannot verify, nor download.
	if _, err := s.svc.CreateUser(context.Background(), access.NewUser{ID: "u-acme", Username: "acme-viewer", Password: password,
		Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewAllLogs}}); err != nil {
		t.Fatal(err)
	}
	tb := newBrowser(t)
	signIn(t, tb, s, "acme-viewer", "/integrity", "#int-bundle-forbidden")
	if n := tb.Count(t, "#int-bundle-link, #int-form"); n != 0 {
		t.Errorf("a tenant-bound principal sees %d bundle or verify controls", n)
	}
	tb.AssertAxe(t)
	tb.NoErrors(t, expected401...)
}
