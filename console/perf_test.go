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
	// One event to look for by user, IP and object.
	probe := browser.Eval[map[string]string](t, b, `(async () => {
		const r = await fetch("api/v1/events?page_size=1&ordering=time").then(r => r.json());
		const e = r.results[0];
		return {user: e.actor.id || "", ip: (e.request || {}).remote_ip || "", path: (e.request || {}).path || ""};
	})()`)
	views := []struct{ name, query string }{
		{"newest 50", "/events"},
		{"requests, newest 50", "/events?kind=request"},
		{"by user", "/events?user_id=" + probe["user"]},
		{"by IP", "/events?remote_ip=" + probe["ip"]},
		{"by time, last 24 h", "/events?last_hours=24"},
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
		var render, load []float64
		rows := 0
		for range rounds {
			b.Navigate(t, s.url+v.query, ".list-page[data-render-ms]")
			render = append(render, attrMs(t, b, "data-render-ms"))
			load = append(load, attrMs(t, b, "data-rendered-at-ms"))
			rows = b.Count(t, "#events-table tbody tr[data-id]")
		}
		if rows == 0 || (v.name == "newest 50" && rows != 50) {
			t.Errorf("%s: %d rows", v.name, rows)
		}
		t.Logf("%-22s rows %2d  API+render ms: median %5.0f (min %4.0f max %4.0f)  full load ms: median %5.0f (min %4.0f max %4.0f)",
			v.name, rows, median(render), slices.Min(render), slices.Max(render), median(load), slices.Min(load), slices.Max(load))
	}
	t.Logf("store: %s, %d events (the count API's figure)", src, total)
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
