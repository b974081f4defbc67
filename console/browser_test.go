package console_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/console"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/internal/browser"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// The browser tests run a real stack in-process, as `activitylog serve`
// mounts it: a SQLite store, the access service (sessions), the API at
// /api/ and the console at / (or under a prefix), on 127.0.0.1. They
// need Chromium: set ACTIVITYLOG_TEST_CHROMIUM.

const password = "correct horse battery"

// stack is the served console with its store.
type stack struct {
	url  string // the console's root, without a final /
	rec  *activitylog.Recorder
	svc  *access.Service
	seed map[string]activitylog.ID // named events
}

// newStack serves the API and the console under prefix ("" for /),
// with users admin (superuser), viewer (view_all_logs) and seeded events.
// sealed seals every event (package integrity) and serves the
// integrity API, as `activitylog serve` does with integrity on.
func newStack(t *testing.T, prefix string, sealed bool) *stack {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "console.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var w activitylog.Writer = store
	var seal *integrity.Writer
	var routes []server.Route
	var annotators []server.Annotator
	if sealed {
		pub, priv, err := integrity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if seal, err = integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: priv}); err != nil {
			t.Fatal(err)
		}
		ih, err := integrityhttp.New(store, &integrityhttp.Options{PublicKeys: []ed25519.PublicKey{pub}})
		if err != nil {
			t.Fatal(err)
		}
		w, routes, annotators = seal, ih.Routes(), []server.Annotator{ih}
	}
	rec := activitylog.NewRecorder(w, nil)
	cookiePath := "/"
	if prefix != "" {
		cookiePath = prefix
	}
	svc, err := access.New(store.Credentials(), &access.Options{
		Recorder:   rec,
		CookiePath: cookiePath,
		Argon2:     &access.Argon2Params{Time: 1, Memory: 8 << 10, Threads: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []access.NewUser{
		{ID: "u-admin", Username: "admin", Password: password, AllowSuperuser: true, Permissions: []activitylog.Permission{activitylog.Superuser}},
		{ID: "u-viewer", Username: "viewer", Password: password, Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
	} {
		if _, err := svc.CreateUser(ctx, u); err != nil {
			t.Fatalf("create user %s: %v", u.Username, err)
		}
	}
	api := server.New(store, rec, &server.Options{Authenticate: svc.Authenticate, Routes: append(svc.Routes(), routes...),
		Annotators: annotators, Audit: rec})
	inner := http.NewServeMux()
	inner.Handle("/api/", api)
	inner.Handle("/healthz", api)
	inner.Handle("/", console.Handler(nil))
	var h http.Handler = inner
	if prefix != "" {
		outer := http.NewServeMux()
		outer.Handle(prefix+"/", http.StripPrefix(prefix, inner))
		h = outer
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rec.Shutdown(sctx)
		store.Close()
	})
	s := &stack{url: srv.URL + prefix, rec: rec, svc: svc, seed: map[string]activitylog.ID{}}
	s.fill(t)
	if seal != nil {
		// A signed checkpoint over the seeded events, so that they have
		// inclusion proofs.
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := seal.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// fill records the events the tests look for: 120 requests (paging),
// data changes with a diff, sign-ins, and one event full of markup.
func (s *stack) fill(t *testing.T) {
	t.Helper()
	now := time.Now().UTC().Add(-time.Minute)
	var events []activitylog.Event
	add := func(name string, e activitylog.Event) {
		e.ID = activitylog.NewID(e.Time)
		if e.Severity == "" {
			e.Severity = activitylog.SeverityInfo
		}
		if name != "" {
			s.seed[name] = e.ID
		}
		events = append(events, e)
	}
	for i := range 120 {
		status := 200
		if i%10 == 0 {
			status = 503
		}
		path := fmt.Sprintf("/shop/items/%d", i)
		if i%3 == 0 {
			path = fmt.Sprintf("/checkout/%d", i)
		}
		add("", activitylog.Event{
			Time: now.Add(-time.Duration(i) * time.Minute), Kind: activitylog.KindRequest, Action: "GET " + path,
			Actor:    activitylog.Actor{ID: fmt.Sprintf("user-%d", i%4), Name: fmt.Sprintf("User %d", i%4), Type: activitylog.ActorUser},
			Request:  activitylog.Request{Method: "GET", Path: path, RemoteIP: fmt.Sprintf("10.0.0.%d", i%7+1)},
			Response: activitylog.Response{Status: status, Duration: time.Duration(i+1) * time.Millisecond},
		})
	}
	add("update", activitylog.Event{
		Time: now.Add(-30 * time.Second), Kind: activitylog.KindCRUD, Action: "update",
		Actor:   activitylog.Actor{ID: "user-1", Name: "User 1", Type: activitylog.ActorUser},
		Object:  activitylog.Object{Type: "order", ID: "42", Repr: "Order #42"},
		Changes: map[string]activitylog.Change{"status": {Old: "pending payment", New: "shipped to customer"}, "total": {Old: 10.5, New: 12.25}, "coupon": {Old: nil, New: "SPRING"}},
		Message: "order 42 updated",
	})
	add("", activitylog.Event{
		Time: now.Add(-40 * time.Second), Kind: activitylog.KindCRUD, Action: "create",
		Actor:  activitylog.Actor{ID: "user-1", Name: "User 1", Type: activitylog.ActorUser},
		Object: activitylog.Object{Type: "order", ID: "42", Repr: "Order #42"},
	})
	add("xss", activitylog.Event{
		Time: now.Add(-20 * time.Second), Kind: activitylog.KindCRUD, Action: "update",
		Message: `<img src=x onerror="window.__xss='message'">`,
		Actor:   activitylog.Actor{ID: `<script>window.__xss='actor'</script>`, Name: `<b onmouseover="window.__xss='name'">evil</b>`, Type: activitylog.ActorUser},
		Object:  activitylog.Object{Type: "page", ID: `"><svg onload="window.__xss='object'">`, Repr: `<iframe src="javascript:window.__xss='repr'"></iframe>`},
		Changes: map[string]activitylog.Change{`<i>title</i>`: {Old: `<script>window.__xss='old'</script>`, New: `<img src=x onerror="window.__xss='new'">`}},
		Extra:   map[string]any{"html": `<a href="javascript:window.__xss='extra'">x</a>`},
		Request: activitylog.Request{Body: `<script>window.__xss='body'</script>`, Path: `/p"><script>window.__xss='path'</script>`},
	})
	add("", activitylog.Event{
		Time: now.Add(-10 * time.Second), Kind: activitylog.KindAuth, Action: activitylog.ActionLoginFailed,
		Actor:   activitylog.Actor{Type: activitylog.ActorAnonymous},
		Request: activitylog.Request{RemoteIP: "203.0.113.9"}, Extra: map[string]any{"username": "mallory", "reason": "bad_credentials"},
		Severity: activitylog.SeverityWarning,
	})
	if err := s.rec.Commit(context.Background(), events); err != nil {
		t.Fatalf("seed events: %v", err)
	}
}

// signIn signs in through the form, from page (a console path), and
// waits for that page to show.
func signIn(t *testing.T, b *browser.Browser, s *stack, user, page, waitFor string) {
	t.Helper()
	b.Navigate(t, s.url+page, "#login-username")
	if loc := b.Location(t); !strings.Contains(loc, "/login?next=") {
		t.Fatalf("unsigned visit to %s landed on %s, want the sign-in page with next", page, loc)
	}
	b.Type(t, "#login-username", user)
	b.Type(t, "#login-password", password)
	b.Click(t, "#login-submit")
	b.WaitVisible(t, waitFor)
}

// newBrowser starts Chromium. The browser tests run one after another:
// several Chromiums at once slow each other past their step timeouts.
func newBrowser(t *testing.T) *browser.Browser {
	return browser.New(t, &browser.Options{StepTimeout: 15 * time.Second})
}

// The 401 of the first GET /api/v1/me, before sign-in, is logged by
// Chromium as a failed resource; it is expected.
// The 404 of GET …/resolution says an event is not resolved yet.
var expected401 = []string{"status of 401", "/resolution:1"}

// firstRow is the id of the list's first row, "" while there is none.
const firstRow = `((document.querySelector("#events-table tbody tr[data-id]") || {dataset: {}}).dataset.id || "")`

func TestBrowserSignIn(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "", false)

	b.Navigate(t, s.url+"/events?kind=request", "#login-username")
	u, _ := url.Parse(b.Location(t))
	if u.Path != "/login" || u.Query().Get("next") != "/events?kind=request" {
		t.Fatalf("landed on %s, want /login?next=/events?kind=request", u)
	}
	b.AssertAxe(t)
	b.Screenshot(t, "login")

	// A wrong password: the API's message, no navigation.
	b.Type(t, "#login-username", "admin")
	b.Type(t, "#login-password", "wrong password")
	b.Click(t, "#login-submit")
	if got := b.WaitText(t, "#login-error", "invalid username or password"); got == "" {
		t.Fatal("no error shown")
	}

	b.Type(t, "#login-password", password)
	b.Click(t, "#login-submit")
	b.WaitVisible(t, "#events-table tbody tr[data-id]")
	u, _ = url.Parse(b.Location(t))
	if u.Path != "/events" || u.Query().Get("kind") != "request" {
		t.Errorf("after sign-in at %s, want the page it came from", u)
	}
	if got := b.Text(t, "#whoami"); !strings.Contains(got, "admin") {
		t.Errorf("header shows %q, want the user", got)
	}
	for _, nav := range []string{"Events", "Live", "Dashboard", "Integrity", "Admin"} {
		if !strings.Contains(b.Text(t, "#nav"), nav) {
			t.Errorf("a superuser's nav lacks %s", nav)
		}
	}

	// Theme and time zone are switchable and stored.
	b.Select(t, "#theme-select", "dark")
	if got := browser.Eval[string](t, b, `document.documentElement.getAttribute("data-theme") + "/" + localStorage.getItem("activitylog.theme")`); got != "dark/dark" {
		t.Errorf("theme: %q, want dark/dark", got)
	}
	b.Select(t, "#tz-select", "local")
	b.WaitFor(t, `localStorage.getItem("activitylog.tz") === "local"`)
	b.Select(t, "#tz-select", "utc")
	b.WaitText(t, "#tz-label", "UTC")

	// Sign out: back to the sign-in page, and the API refuses the cookie.
	b.Click(t, "#sign-out")
	b.WaitVisible(t, "#login-username")
	status := browser.Eval[int](t, b, `fetch("/api/v1/me").then(r => r.status)`)
	if status != 401 {
		t.Errorf("after sign-out GET /api/v1/me is %d, want 401", status)
	}
	b.NoErrors(t, expected401...)
}

// A viewer (view_all_logs, no resolve_events, no admin) sees no control
// that changes anything, and is refused the admin pages.
func TestBrowserViewerHasNoEditControls(t *testing.T) {
	s := newStack(t, "", false)
	id := s.seed["update"].String()

	admin := newBrowser(t)
	signIn(t, admin, s, "admin", "/events/"+id, "#diff")
	admin.WaitVisible(t, "#resolve-submit")

	b := newBrowser(t)
	signIn(t, b, s, "viewer", "/events/"+id, "#diff")
	b.WaitText(t, "#resolution-state", "Not resolved")
	if n := b.Count(t, "#resolve-submit, form.resolve-form, .btn-danger"); n != 0 {
		t.Errorf("a viewer sees %d edit controls", n)
	}
	if strings.Contains(b.Text(t, "#nav"), "Admin") {
		t.Error("a viewer's nav shows Admin")
	}
	b.Navigate(t, s.url+"/admin/keys", "[data-forbidden]")
	if got := b.Text(t, "main h1"); got != "Not allowed" {
		t.Errorf("viewer on /admin/keys: %q, want Not allowed", got)
	}
	b.NoErrors(t, expected401...)
}

func TestBrowserListFilterAndPaging(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "", false)
	signIn(t, b, s, "admin", "/events?kind=request&page_size=25", "#events-table tbody tr[data-id]")

	rows := func() []string {
		return browser.Eval[[]string](t, b, `[...document.querySelectorAll("#events-table tbody tr[data-id]")].map(r => r.dataset.id)`)
	}
	first := rows()
	if len(first) != 25 {
		t.Fatalf("%d rows, want 25", len(first))
	}
	if got := b.Text(t, "#list-count"); !strings.Contains(got, "120 events match") {
		t.Errorf("count %q, want 120", got)
	}
	b.AssertAxe(t)
	b.Screenshot(t, "list")

	// Next, next, previous: keyset pages, in the URL.
	b.Click(t, "#page-next")
	b.WaitFor(t, `location.search.includes("cursor=")`)
	b.WaitFor(t, fmt.Sprintf(`%s !== "" && %s !== %q`, firstRow, firstRow, first[0]))
	second := rows()
	if len(second) != 25 || second[0] == first[0] {
		t.Fatalf("page 2: %d rows starting %s", len(second), second[0])
	}
	if !strings.Contains(b.Location(t), "page_size=25") || !strings.Contains(b.Location(t), "kind=request") {
		t.Errorf("page 2 lost the filters: %s", b.Location(t))
	}
	b.Click(t, "#page-prev")
	b.WaitFor(t, fmt.Sprintf(`%s === %q`, firstRow, first[0]))
	if got := rows(); strings.Join(got, ",") != strings.Join(first, ",") {
		t.Error("previous from page 2 is not page 1")
	}
	// Back and forward work as the browser's own.
	browser.Eval[chromedp.Void](t, b, "history.back()")
	b.WaitFor(t, fmt.Sprintf(`%s === %q`, firstRow, second[0]))

	// Filtering: status 5xx and a search, kept in the URL.
	b.Navigate(t, s.url+"/events?kind=request&page_size=25", "#f-status")
	b.Type(t, "#f-status", "5xx")
	b.Type(t, "#f-search", "checkout")
	b.Click(t, "#apply-filters")
	b.WaitFor(t, `location.search.includes("status_gte=500")`)
	u, _ := url.Parse(b.Location(t))
	q := u.Query()
	if q.Get("status_gte") != "500" || q.Get("status_lte") != "599" || q.Get("search") != "checkout" || q.Get("kind") != "request" || q.Has("cursor") {
		t.Errorf("URL after filtering: %s", u)
	}
	b.WaitText(t, "#list-count", "4 events match") // i%10==0 and i%3==0: 0, 30, 60, 90
	paths := browser.Eval[[]string](t, b, `[...document.querySelectorAll("#events-table tbody tr[data-id]")].map(r => r.innerText)`)
	if len(paths) != 4 {
		t.Fatalf("%d rows, want 4", len(paths))
	}
	for _, p := range paths {
		if !strings.Contains(p, "/checkout/") || !strings.Contains(p, "503") {
			t.Errorf("row %q does not match the filter", p)
		}
	}
	// The view is shareable: loading the URL afresh shows the same.
	b.Navigate(t, u.String(), "#events-table tbody tr[data-id]")
	b.WaitText(t, "#list-count", "4 events match")
	if got := browser.Eval[string](t, b, `document.querySelector("#f-status").value + "|" + document.querySelector("#f-search").value`); got != "5xx|checkout" {
		t.Errorf("filters shown from the URL: %q", got)
	}
	// Exports carry the same filters.
	href := b.Attr(t, `a[data-format="xlsx"]`, "href")
	eu, _ := url.Parse(href)
	if eu.Path != "/api/v1/events/export" || eu.Query().Get("format") != "xlsx" || eu.Query().Get("status_gte") != "500" ||
		eu.Query().Get("search") != "checkout" || eu.Query().Has("page_size") {
		t.Errorf("export link %s", href)
	}
	// Sorting by duration, longest first.
	b.Click(t, `button[data-sort="duration"]`)
	b.WaitFor(t, `location.search.includes("ordering=-duration")`)
	b.WaitVisible(t, `th[aria-sort="descending"] button[data-sort="duration"]`)

	// A bad filter: the API's 400, beside the field.
	b.Navigate(t, s.url+"/events?remote_ip=not-an-ip", "#f-remote_ip-error")
	if got := b.Text(t, "#f-remote_ip-error"); !strings.Contains(got, `invalid remote_ip "not-an-ip"`) {
		t.Errorf("error beside the IP filter: %q", got)
	}
	if b.Attr(t, "#f-remote_ip", "aria-invalid") != "true" {
		t.Error("the IP filter is not marked invalid")
	}

	// Keyboard: j moves to the first row, Enter opens it.
	b.Navigate(t, s.url+"/events?kind=crud", "#events-table tbody tr[data-id]")
	browser.Eval[chromedp.Void](t, b, `document.activeElement.blur(); document.dispatchEvent(new KeyboardEvent("keydown", {key: "j", bubbles: true}))`)
	if got := browser.Eval[string](t, b, `document.activeElement.className`); got != "row-link" {
		t.Errorf("after j the focus is on %q, want the first row's link", got)
	}
	b.NoErrors(t, append(expected401, "remote_ip=not-an-ip")...) // the 400 the test asked for
}

func TestBrowserEventPage(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "", true)
	id := s.seed["update"].String()
	signIn(t, b, s, "admin", "/events?kind=crud", "#events-table tbody tr[data-id]")

	b.Click(t, fmt.Sprintf(`tr[data-id=%q] a.row-link`, id))
	b.WaitVisible(t, "#diff")
	if !strings.HasSuffix(b.Location(t), "/events/"+id) {
		t.Errorf("location %s", b.Location(t))
	}
	status := b.Text(t, `#diff tr[data-field="status"]`)
	if !strings.Contains(status, "pending payment") || !strings.Contains(status, "shipped to customer") {
		t.Errorf("status row: %q", status)
	}
	del := browser.Eval[[]string](t, b, `[...document.querySelectorAll('#diff tr[data-field="status"] del')].map(e => e.textContent)`)
	ins := browser.Eval[[]string](t, b, `[...document.querySelectorAll('#diff tr[data-field="status"] ins')].map(e => e.textContent)`)
	if strings.Join(del, "") != "pending payment" || !strings.Contains(strings.Join(ins, ""), "shipped") || strings.Contains(strings.Join(ins, ""), "pending") {
		t.Errorf("status diff: removed %q, added %q", del, ins)
	}
	if got := b.Text(t, `#diff tr[data-field="coupon"]`); !strings.Contains(got, "none") || !strings.Contains(got, "SPRING") {
		t.Errorf("added field: %q", got)
	}
	// Sealed and covered by a signed checkpoint: the proof shows.
	if got := b.Text(t, "#integrity-status"); got != "checkpointed" {
		t.Errorf("integrity status %q, want checkpointed", got)
	}
	b.Click(t, "#fetch-proof")
	b.WaitText(t, "#proof", "Leaf index")
	if got := b.Text(t, "#proof"); !strings.Contains(got, "Tree size") || !strings.Contains(got, "Signed by key") {
		t.Errorf("proof shown: %q", got)
	}
	b.Screenshot(t, "event")
	b.AssertAxe(t)

	// The object's history and the actor's events.
	b.Click(t, "#object-history")
	b.WaitVisible(t, "#events-table tbody tr[data-id]")
	u, _ := url.Parse(b.Location(t))
	if u.Query().Get("object_type") != "order" || u.Query().Get("object_id") != "42" {
		t.Errorf("object history URL %s", u)
	}
	b.WaitText(t, "#list-count", "2 events match")
	browser.Eval[chromedp.Void](t, b, "history.back()")
	b.WaitVisible(t, "#actor-events")
	b.Click(t, "#actor-events")
	b.WaitFor(t, `location.search.includes("user_id=user-1")`)
	b.WaitText(t, "#list-count", "events match")

	// Resolve it, as the superuser.
	b.Navigate(t, s.url+"/events/"+id, "#resolve-submit")
	// (browser.Type cannot clear an empty textarea: set it as input does.)
	browser.Eval[chromedp.Void](t, b, `(() => { const n = document.querySelector("#resolve-note"); n.value = "checked with the customer"; n.dispatchEvent(new Event("input", {bubbles: true})); })()`)
	b.Click(t, "#resolve-submit")
	b.WaitText(t, "#resolution-state", "resolved by admin")

	// A phone's width: nothing wider than the screen but the tables'
	// own scrolling.
	b.Viewport(t, 375, 800)
	b.Navigate(t, s.url+"/events/"+id, "#diff")
	if w := browser.Eval[int](t, b, `document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("event page is %d px wide at 375", w)
	}
	b.Navigate(t, s.url+"/events", "#events-table")
	if w := browser.Eval[int](t, b, `document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("list page is %d px wide at 375", w)
	}
	b.NoErrors(t, expected401...)
}

// Markup in every field is shown as text: nothing runs, no element is
// made from it.
func TestBrowserXSS(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "", false)
	id := s.seed["xss"].String()
	signIn(t, b, s, "admin", "/events", "#events-table tbody tr[data-id]")
	b.WaitVisible(t, fmt.Sprintf(`tr[data-id=%q]`, id))
	if got := b.Text(t, fmt.Sprintf(`tr[data-id=%q]`, id)); !strings.Contains(got, `<img src=x onerror=`) {
		t.Errorf("list row shows %q, want the markup as text", got)
	}
	b.Navigate(t, s.url+"/events/"+id, "#diff")
	if got := b.Text(t, "#integrity-status"); !strings.Contains(got, "does not seal") {
		t.Errorf("integrity without sealing: %q", got)
	}
	browser.Eval[chromedp.Void](t, b, `document.querySelectorAll("details").forEach(d => d.open = true)`)
	browser.Eval[chromedp.Void](t, b, `document.querySelectorAll("main *").forEach(e => e.dispatchEvent(new MouseEvent("mouseover", {bubbles: true})))`)
	time.Sleep(200 * time.Millisecond) // an injected onerror or onload would have run by now
	if got := browser.Eval[string](t, b, `String(window.__xss)`); got != "undefined" {
		t.Fatalf("injected script ran: window.__xss = %s", got)
	}
	if n := b.Count(t, "main img, main iframe, main svg, main script, main b, main i"); n != 0 {
		t.Errorf("%d elements made from event data", n)
	}
	text := b.Text(t, "main")
	for _, want := range []string{`<script>window.__xss='actor'</script>`, `<img src=x onerror="window.__xss='new'">`, `<i>title</i>`, `<iframe src="javascript:`} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	b.NoErrors(t, expected401...)
}

// Under a prefix, with the API beside it: sign in, list, open.
func TestBrowserUnderPrefix(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "/audit", false)
	signIn(t, b, s, "admin", "/events?kind=crud", "#events-table tbody tr[data-id]")
	if u, _ := url.Parse(b.Location(t)); u.Path != "/audit/events" {
		t.Errorf("location %s, want under /audit", u)
	}
	href := b.Attr(t, "#events-table a.row-link", "href")
	if !strings.Contains(href, "/audit/events/") {
		t.Errorf("row link %s, want under /audit", href)
	}
	b.Click(t, "#events-table a.row-link")
	b.WaitVisible(t, ".event-page")
	b.NoErrors(t, expected401...)
}
