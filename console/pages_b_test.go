package console_test

// Browser tests of the live tail, the dashboard, the integrity page and
// the admin pages. Each stands up what `activitylog serve` serves (the
// SQLite store, the access service, the API with its stream and, when
// sealed, the integrity routes, and the console at /) on 127.0.0.1, and
// drives headless Chromium through internal/browser. They skip when
// ACTIVITYLOG_TEST_CHROMIUM is unset.

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/console"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/internal/browser"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// bStack is the in-process server of a test.
type bStack struct {
	URL   string
	Path  string // the SQLite file
	Store *sqlite.Store
	Rec   *activitylog.Recorder
	Svc   *access.Service
	Chain string            // the integrity chain, when sealed
	Seal  *integrity.Writer // when sealed
}

// bPassword is every test user's password.
const bPassword = "correct horse battery staple"

// newBStack starts the stack; sealed adds integrity (a Writer with a
// signing key, and the integrity API). It makes the users root
// (superuser) and viewer (view_all_logs).
func newBStack(t *testing.T, sealed bool) *bStack {
	t.Helper()
	return newBStackWith(t, sealed, nil)
}

// newBStackWith is newBStack with the console's options.
func newBStackWith(t *testing.T, sealed bool, copts *console.Options) *bStack {
	t.Helper()
	ctx := context.Background()
	st := &bStack{Path: filepath.Join(t.TempDir(), "audit.db")}
	store, err := sqlite.Open(st.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Store = store
	var w activitylog.Writer = store
	var pub ed25519.PublicKey
	var iw *integrity.Writer
	if sealed {
		var priv ed25519.PrivateKey
		if pub, priv, err = integrity.GenerateKey(); err != nil {
			t.Fatal(err)
		}
		if iw, err = integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: priv}); err != nil {
			t.Fatal(err)
		}
		st.Chain, st.Seal = iw.Chain().ID, iw
		w = iw
	}
	bc := server.NewBroadcaster(w, nil)
	st.Rec = activitylog.NewRecorder(bc, nil)
	if st.Svc, err = access.New(store.Credentials(), &access.Options{Recorder: st.Rec}); err != nil {
		t.Fatal(err)
	}
	routes, annotators := st.Svc.Routes(), []server.Annotator(nil)
	if sealed {
		ih, err := integrityhttp.New(store, &integrityhttp.Options{PublicKeys: []ed25519.PublicKey{pub}})
		if err != nil {
			t.Fatal(err)
		}
		routes, annotators = append(routes, ih.Routes()...), []server.Annotator{ih}
	}
	api := server.New(store, st.Rec, &server.Options{
		Audit:        st.Rec,
		Stream:       &server.StreamOptions{Broadcaster: bc},
		Authenticate: st.Svc.Authenticate,
		Routes:       routes,
		Annotators:   annotators,
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/readyz", api)
	mux.Handle("/", console.Handler(copts))
	srv := httptest.NewServer(mux)
	st.URL = srv.URL
	t.Cleanup(func() {
		// Streams never end by themselves: close them before the server
		// waits for its requests.
		bc.Close()
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.Rec.Shutdown(sctx); err != nil {
			t.Errorf("recorder shutdown: %v", err)
		}
		if iw != nil {
			if err := iw.Flush(sctx); err != nil {
				t.Errorf("integrity writer flush: %v", err)
			}
		}
		if err := store.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	for _, u := range []access.NewUser{
		{ID: "u_root", Username: "root", Password: bPassword, Permissions: []activitylog.Permission{activitylog.Superuser}, AllowSuperuser: true},
		{ID: "u_viewer", Username: "viewer", Password: bPassword, Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
	} {
		if _, err := st.Svc.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// record writes events through the Recorder (so the stream publishes
// them) and waits until they are stored.
func (st *bStack) record(t *testing.T, es ...activitylog.Event) {
	t.Helper()
	ctx := context.Background()
	for _, e := range es {
		if err := st.Rec.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// bLogin signs in as user through the sign-in page and opens path,
// waiting for sel.
func bLogin(t *testing.T, st *bStack, user, path, sel string) *browser.Browser {
	t.Helper()
	b := browser.New(t, nil)
	b.Navigate(t, st.URL+"/login?next="+path, "#login-username")
	b.Type(t, "#login-username", user)
	b.Type(t, "#login-password", bPassword)
	b.Click(t, "#login-submit")
	b.WaitVisible(t, sel)
	return b
}

// bNoErrors checks the console: the 401 of GET /me before sign-in is
// expected.
func bNoErrors(t *testing.T, b *browser.Browser, allow ...string) {
	t.Helper()
	b.NoErrors(t, append(allow, "/api/v1/me")...)
}

func TestLiveTail(t *testing.T) {
	t.Parallel()
	st := newBStack(t, false)
	// Sign in elsewhere and let the sign-in's own auth event (the
	// viewer's, so the tail would show it) be written before the tail
	// opens: otherwise it may arrive as a third live row.
	b := bLogin(t, st, "viewer", "/dashboard", "#chart-kinds canvas")
	if err := st.Rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Navigate(t, st.URL+"/live", "#live-state[data-state=live]")
	b.AssertAxe(t)

	// An event recorded after the page opened arrives, on top, linked
	// to its page.
	st.record(t, activitylog.Event{Kind: activitylog.KindCRUD, Action: "update", Message: "first live",
		Actor: activitylog.Actor{ID: "42", Name: "Ann"}, Object: activitylog.Object{Type: "order", ID: "o-1", Repr: "Order #1"}})
	b.WaitText(t, "#live-rows", "Order #1")
	id := b.Attr(t, "#live-rows tr:first-child", "data-id")
	if href := b.Attr(t, "#live-rows tr:first-child a", "href"); href != st.URL+"/events/"+id {
		t.Errorf("row link %q, want %s/events/%s", href, st.URL, id)
	}

	// Paused, a new event is held back and counted.
	b.Click(t, "#live-pause")
	if got := b.Attr(t, "#live-pause", "aria-pressed"); got != "true" {
		t.Errorf("pause button aria-pressed %q", got)
	}
	st.record(t, activitylog.Event{Kind: activitylog.KindCRUD, Action: "delete",
		Actor: activitylog.Actor{ID: "42", Name: "Ann"}, Object: activitylog.Object{Type: "order", ID: "o-2", Repr: "Order #2"}})
	b.WaitFor(t, `document.querySelector("#live-held").dataset.count === "1"`)
	if got := b.Text(t, "#live-held"); got != "1 new event waiting" {
		t.Errorf("held text %q", got)
	}
	if strings.Contains(b.Text(t, "#live-rows"), "Order #2") {
		t.Error("a paused tail shows a new event")
	}
	b.Screenshot(t, "paused")

	// Resumed, it goes on top.
	b.Click(t, "#live-pause")
	b.WaitText(t, "#live-rows tr:first-child", "Order #2")
	if n := b.Count(t, "#live-rows tr"); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
	b.WaitFor(t, `document.querySelector("#live-received").textContent === "2 received"`)
	b.WaitFor(t, `document.querySelector("#live-rate").textContent !== "0.0 events/s"`)

	// A filter reconnects the stream: an auth event does not match
	// kind=crud.
	b.Select(t, "#live-f-kind", "auth")
	b.Click(t, "#live-apply")
	b.WaitFor(t, `location.search === "?kind=auth"`)
	b.WaitVisible(t, "#live-state[data-state=live]")
	st.record(t,
		activitylog.Event{Kind: activitylog.KindCRUD, Action: "create", Object: activitylog.Object{Type: "order", ID: "o-3", Repr: "Order #3"}},
		activitylog.Event{Kind: activitylog.KindAuth, Action: "login_failed", Message: "bad password for mallory"})
	b.WaitText(t, "#live-rows", "login_failed")
	if txt := b.Text(t, "#live-rows"); strings.Contains(txt, "Order #3") {
		t.Errorf("kind=auth tail shows a crud event: %q", txt)
	}

	// A refused filter is named.
	b.Navigate(t, st.URL+"/live?status_gte=abc", "#live-error")
	if got := b.Text(t, "#live-error"); !strings.Contains(got, "Status from") || !strings.Contains(got, "abc") {
		t.Errorf("error %q does not name the field and value", got)
	}
	bNoErrors(t, b, "status of 400")
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	st := newBStack(t, false)
	now := time.Now().UTC()
	ann := activitylog.Actor{ID: "42", Name: "Ann"}
	var es []activitylog.Event
	for i := range 3 {
		es = append(es, activitylog.Event{Kind: activitylog.KindCRUD, Action: "update", Time: now.Add(-time.Duration(i) * time.Minute), Actor: ann,
			Object: activitylog.Object{Type: "order", ID: fmt.Sprint(i)}})
	}
	// Countries: the failed logins from NL, the requests from DE (3)
	// and FR (1) and one without; the data changes without.
	nl := activitylog.Geo{CountryCode: "NL", Country: "Netherlands"}
	for range 2 {
		es = append(es, activitylog.Event{Kind: activitylog.KindAuth, Action: activitylog.ActionLoginFailed, Time: now.Add(-2 * time.Hour),
			Object: activitylog.Object{Type: "user", ID: "mallory"}, Request: activitylog.Request{RemoteIP: "198.51.100.9", Geo: nl}})
	}
	geos := []activitylog.Geo{{CountryCode: "DE", Country: "Germany"}, {CountryCode: "DE", Country: "Germany"}, {CountryCode: "DE", Country: "Germany"},
		{CountryCode: "FR", Country: "France"}, {}}
	for i, status := range []int{200, 200, 404, 500, 200} {
		es = append(es, activitylog.Event{Kind: activitylog.KindRequest, Action: "request", Time: now.Add(-time.Duration(i) * time.Hour), Actor: ann,
			Request:  activitylog.Request{Method: "GET", Path: fmt.Sprintf("/orders/%d", i), Route: "GET /orders/{id}", RemoteIP: "203.0.113.7", Geo: geos[i]},
			Response: activitylog.Response{Status: status, Duration: time.Duration(i+1) * 10 * time.Millisecond}})
	}
	st.record(t, es...)

	b := bLogin(t, st, "viewer", "/dashboard", "#chart-kinds canvas")
	if got := b.Text(t, "#tile-requests .tile-value"); got != "5" {
		t.Errorf("requests tile %q, want 5", got)
	}
	if got := b.Text(t, "#tile-error-rate .tile-value"); got != "40 %" {
		t.Errorf("error rate tile %q, want 40 %%", got)
	}
	if got := b.Text(t, "#tile-error-rate"); !strings.Contains(got, "1 4xx, 1 5xx") {
		t.Errorf("error rate detail %q", got)
	}
	if got := b.Text(t, "#tile-failed-logins .tile-value"); got != "2" {
		t.Errorf("failed logins tile %q, want 2", got)
	}
	// p95 of 10..50 ms is the 5th of 5: 50 ms, up to 1/16 above.
	if got := b.Text(t, "#tile-latency .tile-value"); !strings.HasPrefix(got, "5") || !strings.HasSuffix(got, " ms") {
		t.Errorf("p95 tile %q, want about 50 ms", got)
	}

	// The charts: axes with units and the zone, a legend per kind, a
	// summary for screen readers, a data table.
	// (uPlot draws the axis labels on the canvas; the caption says the same.)
	for _, want := range []string{"Events per hour; time in UTC", "Data changes", "Auth", "Requests"} {
		if got := b.Text(t, "#chart-kinds"); !strings.Contains(got, want) {
			t.Errorf("events chart lacks %q:\n%s", want, got)
		}
	}
	if got := b.Attr(t, "#chart-kinds .chart-canvas", "aria-label"); !strings.Contains(got, "Requests: 5 in all") {
		t.Errorf("chart summary %q", got)
	}
	if got := b.Text(t, "#chart-requests"); !strings.Contains(got, "Requests per hour") {
		t.Errorf("requests chart: %q", got)
	}
	// The data table holds the series: 24 hourly buckets, and the
	// counts add up: requests, 4xx and 5xx in their columns.
	column := func(chart string, col int) []string {
		t.Helper()
		return browser.Eval[[]string](t, b, fmt.Sprintf(`[...document.querySelectorAll("#%s .chart-data tbody tr")].map((tr) => tr.children[%d].textContent)`, chart, col))
	}
	sumOf := func(cells []string) int {
		n := 0
		for _, c := range cells {
			var v int
			fmt.Sscan(c, &v)
			n += v
		}
		return n
	}
	for col, want := range map[int]int{1: 5, 2: 1, 3: 1} {
		if got := sumOf(column("chart-requests", col)); got != want {
			t.Errorf("column %d of the requests chart's data table adds up to %d, want %d", col, got, want)
		}
	}
	if n := b.Count(t, "#chart-requests .chart-data tbody tr"); n != 24 {
		t.Errorf("%d buckets, want 24", n)
	}
	// The error rate per hour: the hours of the 404 and the 500 at
	// 100 %, the other three with requests at 0 %, the 19 without
	// requests blank; a legend names the 4xx and 5xx series.
	rates := column("chart-error-rate", 1)
	count := func(cells []string, v string) int {
		n := 0
		for _, c := range cells {
			if c == v {
				n++
			}
		}
		return n
	}
	if len(rates) != 24 || count(rates, "100 %") != 2 || count(rates, "0 %") != 3 || count(rates, "—") != 19 {
		t.Errorf("error rate per hour: %q", rates)
	}
	for _, want := range []string{"Error rate over time", "% of the requests in each hour; time in UTC", "Error rate (4xx and 5xx)", "5xx"} {
		if got := b.Text(t, "#chart-error-rate"); !strings.Contains(got, want) {
			t.Errorf("error rate chart lacks %q:\n%s", want, got)
		}
	}
	b.WaitVisible(t, "#chart-error-rate canvas")
	// p95 latency per hour, in ms: each hour holds one request, of 10 to
	// 50 ms, read from the histogram (50 ms is in the bucket that ends
	// at 51.2 ms).
	lat := column("chart-latency", 1)
	if len(lat) != 24 || count(lat, "—") != 19 || count(lat, "51.2 ms") != 1 {
		t.Errorf("p95 latency per hour: %q", lat)
	}
	if got := b.Text(t, "#chart-latency figcaption"); !strings.Contains(got, "Milliseconds, 95th percentile of the requests in each hour; time in UTC") {
		t.Errorf("latency chart caption %q", got)
	}
	if got := b.Attr(t, "#chart-latency .chart-canvas", "aria-label"); !strings.Contains(got, "p95 latency: at most 51.2 ms") || !strings.Contains(got, "19 hours without a value") {
		t.Errorf("latency chart summary %q", got)
	}
	b.WaitVisible(t, "#chart-latency canvas")
	// Failed logins per hour: both two hours ago.
	failed := column("chart-failed-logins", 1)
	if sumOf(failed) != 2 || count(failed, "2") != 1 {
		t.Errorf("failed logins per hour: %q", failed)
	}
	if got := b.Attr(t, "#chart-failed-logins .chart-canvas", "aria-label"); !strings.Contains(got, "Failed logins: 2 in all") {
		t.Errorf("failed logins chart summary %q", got)
	}
	b.WaitVisible(t, "#chart-failed-logins canvas")
	// The countries, most first, with their share of all the events
	// (the seed's 10 and the sign-ins the stack records) and a bar; the
	// events without one.
	var total int
	fmt.Sscan(b.Text(t, "#tile-total .tile-value"), &total)
	if total < 10 {
		t.Fatalf("events tile: %d, want at least the 10 seeded", total)
	}
	share := func(n int) string { // the page's pct: 2 digits below 10 %
		p := 100 * float64(n) / float64(total)
		if p < 10 {
			return fmt.Sprintf("%.1f %%", p)
		}
		return fmt.Sprintf("%.0f %%", p)
	}
	rows := browser.Eval[[]string](t, b, `[...document.querySelectorAll("#top-countries tbody tr")].map((tr) => [...tr.children].map((td) => td.textContent).join("|"))`)
	want := []string{"Germany · DE|3|" + share(3) + "|", "Netherlands · NL|2|" + share(2) + "|", "France · FR|1|" + share(1) + "|"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("countries table:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if n := b.Count(t, "#top-countries tbody td div[aria-hidden='true']"); n != 3 {
		t.Errorf("%d bars in the countries table, want 3", n)
	}
	if got := b.Text(t, "#countries-note"); !strings.Contains(got, fmt.Sprintf("%d of %d events have no country", total-6, total)) {
		t.Errorf("countries note %q", got)
	}
	if b.Count(t, "#countries-missing") != 0 {
		t.Error(`the "not counted yet" card is still shown`)
	}
	if got := b.Text(t, "#top-routes"); !strings.Contains(got, "GET /orders/{id}") || !strings.Contains(got, "40 %") {
		t.Errorf("top routes: %q", got)
	}
	if got := b.Text(t, "#top-users"); !strings.Contains(got, "Ann") {
		t.Errorf("top users: %q", got)
	}
	if got := b.Text(t, "#error-routes"); !strings.Contains(got, "404 × 1") || !strings.Contains(got, "500 × 1") {
		t.Errorf("error routes: %q", got)
	}
	b.Screenshot(t, "24h")
	b.AssertAxe(t)

	// Another window: kept in the URL, and 6-hour buckets.
	b.Click(t, "button[data-window='7d']")
	b.WaitFor(t, `location.search === "?window=7d"`)
	b.WaitText(t, "#chart-kinds", "Events per 6 hours")
	if got := b.Attr(t, "button[data-window='7d']", "aria-pressed"); got != "true" {
		t.Errorf("7d button aria-pressed %q", got)
	}

	// The local zone is used when chosen: the buckets start 9 hours
	// later on the clock in Tokyo.
	firstBucket := `document.querySelector("#chart-kinds .chart-data tbody th").textContent` // in a closed <details>
	firstUTC := browser.Eval[string](t, b, firstBucket)
	b.TimeZone(t, "Asia/Tokyo")
	b.Select(t, "#tz-select", "local")
	b.WaitText(t, "#chart-kinds figcaption", "time in Asia/Tokyo")
	firstTokyo := browser.Eval[string](t, b, firstBucket)
	u, err1 := time.Parse(time.DateTime, firstUTC)
	k, err2 := time.Parse(time.DateTime, firstTokyo)
	if err1 != nil || err2 != nil || k.Sub(u) != 9*time.Hour {
		t.Errorf("first bucket %q in UTC, %q in Tokyo: want 9 hours apart", firstUTC, firstTokyo)
	}
	bNoErrors(t, b)
}

func TestIntegrityPage(t *testing.T) {
	t.Parallel()
	st := newBStack(t, true)
	var es []activitylog.Event
	for i := range 20 {
		es = append(es, activitylog.Event{Kind: activitylog.KindCRUD, Action: "update", Actor: activitylog.Actor{ID: "42", Name: "Ann"},
			Object: activitylog.Object{Type: "order", ID: fmt.Sprint(i)}, Message: fmt.Sprintf("order %d paid", i)})
	}
	st.record(t, es...)
	if err := st.Seal.Flush(context.Background()); err != nil { // a checkpoint over everything
		t.Fatal(err)
	}

	b := bLogin(t, st, "viewer", "/integrity", "#int-run")
	if got := b.Text(t, "#int-keys"); !strings.Contains(got, "Ed25519") {
		t.Errorf("key card: %q", got)
	}
	b.Click(t, "#int-run")
	b.WaitVisible(t, "#int-verdict")
	if got := b.Text(t, "#int-verdict"); got != "verified" {
		t.Fatalf("untouched trail: verdict %q; page:\n%s", got, b.Text(t, "#int-result"))
	}
	if got, want := b.Text(t, "#int-verified"), b.Text(t, "#int-total"); got != want || got == "0" {
		t.Errorf("verified %s of %s", got, want)
	}
	if got := b.Text(t, "#int-chains"); !strings.Contains(got, st.Chain) || !strings.Contains(got, "verified") {
		t.Errorf("chains table lacks chain %s: %q", st.Chain, got)
	}
	if got := b.Text(t, "#int-bundle"); !strings.Contains(got, "activitylog export --with-proofs") {
		t.Errorf("bundle card: %q", got)
	}
	b.AssertAxe(t)

	// Someone with write access to the file edits an event's message.
	db, err := sql.Open("sqlite", st.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id []byte
	var data []byte
	if err := db.QueryRow(`SELECT id, data FROM events WHERE chain_seq = 3`).Scan(&id, &data); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["message"] = "nothing happened"
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE events SET data = ? WHERE chain_seq = 3`, data); err != nil {
		t.Fatal(err)
	}
	eventID := activitylog.ID(id).String()

	b.Click(t, "#int-run")
	b.WaitText(t, "#int-verdict", "finding")
	if got := b.Text(t, "#int-verdict"); got != "1 finding" {
		t.Errorf("verdict %q, want 1 finding", got)
	}
	row := b.Text(t, "#int-findings tbody tr")
	for _, want := range []string{"modified", st.Chain, "3", eventID} {
		if !strings.Contains(row, want) {
			t.Errorf("finding %q lacks %q", row, want)
		}
	}
	if href := b.Attr(t, "#int-findings tbody a", "href"); href != st.URL+"/events/"+eventID {
		t.Errorf("finding links to %q", href)
	}
	b.Screenshot(t, "finding")
	b.AssertAxe(t)
	bNoErrors(t, b)
}

func TestIntegrityPageSealingOff(t *testing.T) {
	t.Parallel()
	st := newBStack(t, false)
	b := bLogin(t, st, "root", "/integrity", "#int-off")
	if got := b.Text(t, "#int-off"); !strings.Contains(got, "does not seal") || !strings.Contains(got, "--integrity-signing-key") {
		t.Errorf("sealing-off page: %q", got)
	}
	b.AssertAxe(t)
	bNoErrors(t, b, "integrity/public-key")
}

// bGetMe asks GET /api/v1/me with an API key and returns the status.
func bGetMe(t *testing.T, st *bStack, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", st.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAdminKeys(t *testing.T) {
	t.Parallel()
	st := newBStack(t, false)
	b := bLogin(t, st, "root", "/admin/keys", "#key-form")
	b.AssertAxe(t)

	// Create: the key is shown once, and works.
	b.Type(t, "#key-name", "ci ingest")
	b.Click(t, "#key-scope-ingest")
	b.Select(t, "#key-expires", "720h")
	b.Click(t, "#key-create")
	b.WaitVisible(t, "#new-key-value")
	key := b.Text(t, "#new-key-value")
	if !strings.HasPrefix(key, "alk_") {
		t.Fatalf("new key %q", key)
	}
	if got := bGetMe(t, st, key); got != http.StatusOK {
		t.Errorf("GET /me with the new key: %d", got)
	}
	b.Click(t, "#new-key-copy")
	if got := b.WaitText(t, "#new-key-copied", "."); got != "Copied." && !strings.HasPrefix(got, "Selected") {
		t.Errorf("copy status %q", got)
	}
	id := strings.Join(strings.SplitN(key, "_", 3)[:2], "_")
	row := fmt.Sprintf("#keys-table tr[data-key=%q]", id)
	b.WaitVisible(t, row+"[data-state=active]")
	if got := b.Text(t, row); !strings.Contains(got, "ci ingest") || !strings.Contains(got, "ingest") || !strings.Contains(got, "expires") {
		t.Errorf("key row %q", got)
	}
	// The secret is not in the list.
	if got := b.Text(t, "#keys-table"); strings.Contains(got, key) {
		t.Error("the key's secret is in the list")
	}
	b.Screenshot(t, "created")
	b.AssertAxe(t)

	// A bad field is named.
	b.Type(t, "#key-name", "x")
	b.Click(t, "#key-scope-view_logs")
	b.Type(t, "#key-tenant", strings.Repeat("t", 300))
	b.Click(t, "#key-create")
	b.WaitVisible(t, "#key-form-error")
	if got := b.Attr(t, "#key-tenant", "aria-invalid"); got != "true" {
		t.Errorf("tenant not marked invalid (%q); error %q", got, b.Text(t, "#key-form-error"))
	}

	// Revoke asks first: cancel keeps the key.
	b.Click(t, row+" .revoke")
	b.WaitVisible(t, "#revoke-dialog[open]")
	if got := b.Text(t, "#revoke-dialog"); !strings.Contains(got, "ci ingest") || !strings.Contains(got, id) {
		t.Errorf("dialog %q does not name the key", got)
	}
	b.Click(t, "#revoke-cancel")
	b.WaitGone(t, "#revoke-dialog[open]")
	if got := bGetMe(t, st, key); got != http.StatusOK {
		t.Errorf("after cancel, GET /me with the key: %d", got)
	}
	b.Click(t, row+" .revoke")
	b.Click(t, "#revoke-confirm")
	b.WaitVisible(t, row+"[data-state=revoked]")
	if got := bGetMe(t, st, key); got != http.StatusUnauthorized {
		t.Errorf("after revoke, GET /me with the key: %d, want 401", got)
	}
	if n := b.Count(t, row+" .revoke"); n != 0 {
		t.Error("a revoked key still has a revoke button")
	}
	bNoErrors(t, b, "status of 400", "/api/v1/me")

	// The other sections: users are managed with the command line;
	// retention and databases say why this server does not serve them.
	b.Navigate(t, st.URL+"/admin/users", "#users-cli")
	if got := b.Text(t, "#users-cli"); !strings.Contains(got, "activitylog users create") {
		t.Errorf("users page %q", got)
	}
	if got := b.Text(t, "#users-me"); !strings.Contains(got, "u_root") || !strings.Contains(got, "superuser") {
		t.Errorf("users page, you: %q", got)
	}
	b.AssertAxe(t)
	for sub, want := range map[string]string{"retention": "issue 9", "databases": "database_config_keys"} {
		b.Navigate(t, st.URL+"/admin/"+sub, "#admin-pending")
		if got := b.Text(t, "#admin-pending"); !strings.Contains(got, want) {
			t.Errorf("%s page %q", sub, got)
		}
		b.AssertAxe(t)
	}
}

func TestAdminViewerAndReadOnly(t *testing.T) {
	t.Parallel()
	st := newBStack(t, false)
	if _, _, err := st.Svc.CreateAPIKey(context.Background(), access.NewAPIKey{Name: "existing", Scopes: []activitylog.Permission{activitylog.Ingest}}); err != nil {
		t.Fatal(err)
	}

	// A viewer is refused the page and sees no button that changes a key.
	b := bLogin(t, st, "viewer", "/admin/keys", "[data-forbidden]")
	if n := b.Count(t, "#key-form, #key-create, .revoke"); n != 0 {
		t.Errorf("a viewer sees %d key controls", n)
	}
	if n := b.Count(t, `#nav a[href$="/admin"]`); n != 0 {
		t.Error("a viewer has an Admin link")
	}
	b.AssertAxe(t)
	bNoErrors(t, b)

	// In a read-only console a superuser sees the keys and no control.
	ro := newBStackWith(t, false, &console.Options{ReadOnly: true})
	if _, _, err := ro.Svc.CreateAPIKey(context.Background(), access.NewAPIKey{Name: "existing", Scopes: []activitylog.Permission{activitylog.Ingest}}); err != nil {
		t.Fatal(err)
	}
	rb := bLogin(t, ro, "root", "/admin/keys", "#keys-table")
	if n := rb.Count(t, "#key-form, #key-create, .revoke, #revoke-dialog"); n != 0 {
		t.Errorf("a read-only console shows %d key controls", n)
	}
	if got := rb.Text(t, "#keys-table"); !strings.Contains(got, "existing") {
		t.Errorf("keys table %q", got)
	}
	rb.AssertAxe(t)
	bNoErrors(t, rb)
}
