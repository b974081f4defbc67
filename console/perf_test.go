package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/console"
	"github.com/activitylog/activitylog/internal/browser"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// consoleDBEnv names a SQLite store to time the list page over, such as
// the 1,000,000-event trail that sqlite's BenchmarkVerifyStore keeps
// (ACTIVITYLOG_BENCH_1M=1 ACTIVITYLOG_BENCH_SEALED_DIR=DIR, then
// DIR/verify-1000000.db). The test works on a copy.
const consoleDBEnv = "ACTIVITYLOG_BENCH_CONSOLE_DB"

// TestBrowserListTiming measures the list page over a big store, as
// BENCHMARKS.md reports it: for each view, the time from the page's
// API request to its rows in the page (server time included), and
// from the start of the page's navigation to the same moment (a full
// page load). It asserts what was shown, never how fast:
//
//	ACTIVITYLOG_TEST_CHROMIUM=/usr/bin/chromium ACTIVITYLOG_BENCH_CONSOLE_DB=DIR/verify-1000000.db \
//	  go test -run TestBrowserListTiming -v ./console/
func TestBrowserListTiming(t *testing.T) {
	src := os.Getenv(consoleDBEnv)
	if src == "" {
		t.Skip("set " + consoleDBEnv + " to a big SQLite store to time the list page over it")
	}
	b := newBrowser(t)
	path := filepath.Join(t.TempDir(), "big.db")
	copyFile(t, src, path)
	store, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rec := activitylog.NewRecorder(store, nil)
	defer rec.Shutdown(context.Background())
	svc, err := access.New(store.Credentials(), &access.Options{Recorder: rec, Argon2: &access.Argon2Params{Time: 1, Memory: 8 << 10, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(context.Background(), access.NewUser{Username: "admin", Password: password, AllowSuperuser: true,
		Permissions: []activitylog.Permission{activitylog.Superuser}}); err != nil {
		t.Fatal(err)
	}
	key, _, err := svc.CreateAPIKey(context.Background(), access.NewAPIKey{Name: "timing", AllowSuperuser: true,
		Scopes: []activitylog.Permission{activitylog.Superuser}})
	if err != nil {
		t.Fatal(err)
	}
	api := server.New(store, rec, &server.Options{Authenticate: svc.Authenticate, Routes: svc.Routes()})
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/", console.Handler(nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := &stack{url: srv.URL}

	total, err := store.Count(context.Background(), activitylog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	signIn(t, b, s, "admin", "/events", ".list-page[data-render-ms]")
	// The oldest event, to look for by user, IP, path and time.
	probe := browser.Eval[map[string]string](t, b, `(async () => {
		const r = await fetch("api/v1/events?page_size=1&ordering=time").then(r => r.json());
		const e = r.results[0];
		const t = Date.parse(e.time);
		return {user: e.actor.id || "", ip: (e.request || {}).remote_ip || "", path: (e.request || {}).path || "",
			from: new Date(t - 3600e3).toISOString(), to: new Date(t + 3600e3).toISOString()};
	})()`)
	views := []struct{ name, query string }{
		{"newest 50", "/events"},
		{"requests, newest 50", "/events?kind=request"},
		{"by user", "/events?user_id=" + probe["user"]},
		{"by IP", "/events?remote_ip=" + probe["ip"]},
		{"by time range", "/events?date_from=" + probe["from"] + "&date_to=" + probe["to"]},
		{"search", "/events?search=" + probe["path"]},
		{"page 2 of newest", ""}, // filled in below from the first view's next link
	}
	const rounds = 7
	for i := range views {
		v := &views[i]
		if v.query == "" {
			b.Navigate(t, s.url+"/events", ".list-page[data-render-ms]")
			next := b.Attr(t, "#page-next", "href")
			if next == "" {
				t.Fatal("the newest page has no next link")
			}
			v.query = next[len(srv.URL):]
		}
		// Rounds alternate the browser's page and the API call alone (a
		// Go client on loopback: the baseline, server time and JSON).
		var render, load, bare []float64
		rows := 0
		apiURL := srv.URL + "/api/v1/events?" + strings.SplitN(v.query+"?", "?", 3)[1]
		for range rounds {
			b.Navigate(t, s.url+v.query, ".list-page[data-render-ms]")
			render = append(render, attrMs(t, b, "data-render-ms"))
			load = append(load, attrMs(t, b, "data-rendered-at-ms"))
			rows = b.Count(t, "#events-table tbody tr[data-id]")
			bare = append(bare, apiMs(t, apiURL, key))
		}
		if rows == 0 || (v.name == "newest 50" && rows != 50) {
			t.Errorf("%s: %d rows", v.name, rows)
		}
		t.Logf("%-20s rows %2d | API alone ms %4.0f | API+render ms %4.0f (min %3.0f max %3.0f), %.1fx the API alone | full page load ms %4.0f (min %3.0f max %3.0f), %.1fx",
			v.name, rows, median(bare), median(render), slices.Min(render), slices.Max(render), median(render)/median(bare),
			median(load), slices.Min(load), slices.Max(load), median(load)/median(bare))
	}
	t.Logf("store: %s, %d events (the count API's figure)", src, total)
}

// apiMs times one GET of url with the API key, body read.
func apiMs(t *testing.T, url, key string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return float64(time.Since(start).Microseconds()) / 1000
}

func attrMs(t *testing.T, b *browser.Browser, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(b.Attr(t, ".list-page", name), 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("copied %s in %v", src, time.Since(start).Round(time.Millisecond))
}
