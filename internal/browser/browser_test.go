package browser_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/activitylog/activitylog/internal/browser"
)

// strictCSP is the kind of policy the console serves: no inline script.
const strictCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"

func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", strictCSP)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test page</title></head><body>%s</body></html>`, body)
		}
	}
	mux.HandleFunc("/good", page(`<main><h1>Accessible</h1>
		<label for="name">Name</label> <input id="name">
		<label for="note">Note</label> <textarea id="note"></textarea>
		<select id="color" aria-label="Colour"><option value="red">Red</option><option value="green">Green</option></select>
		<button id="go" type="button">Go</button>
		<p id="out">waiting</p></main>
		<script src="/good.js"></script>`))
	mux.HandleFunc("/good.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `document.getElementById("go").addEventListener("click", () => {
			document.getElementById("out").textContent = "hello " + document.getElementById("name").value + " in " + document.getElementById("color").value;
		});`)
	})
	// An image with no alternative text and a button with no name: both
	// critical for axe.
	mux.HandleFunc("/bad", page(`<main><h1>Inaccessible</h1><img src="/pixel.png"><button type="button"></button></main>`))
	mux.HandleFunc("/throws", page(`<main><h1>Broken</h1></main><script src="/throws.js"></script>`))
	mux.HandleFunc("/throws.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `console.error("boom from the page"); setTimeout(() => { throw new Error("uncaught kaboom"); }, 0);`)
	})
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/inline", page(`<main><h1>Inline</h1></main><script>document.title = "ran";</script>`))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowserSteps(t *testing.T) {
	t.Parallel()
	b := browser.New(t, nil)
	srv := testServer(t)
	b.Navigate(t, srv.URL+"/good", "#go")
	b.Type(t, "#name", "Grace")
	b.Type(t, "#name", "Ada") // typing again replaces what was typed
	b.Type(t, "#note", "a note")
	if got := browser.Eval[string](t, b, `document.getElementById("note").value`); got != "a note" {
		t.Errorf("textarea = %q", got)
	}
	b.Select(t, "#color", "green")
	b.Click(t, "#go")
	if got := b.WaitText(t, "#out", "hello"); got != "hello Ada in green" {
		t.Errorf("text after click = %q, want %q", got, "hello Ada in green")
	}
	if got := b.Text(t, "h1"); got != "Accessible" {
		t.Errorf("Text(h1) = %q", got)
	}
	if got := b.Count(t, "option"); got != 2 {
		t.Errorf("Count(option) = %d, want 2", got)
	}
	if got := b.Attr(t, "#name", "id"); got != "name" {
		t.Errorf("Attr = %q", got)
	}
	if got := browser.Eval[int](t, b, `Promise.resolve(40 + 2)`); got != 42 {
		t.Errorf("Eval = %d, want 42", got)
	}
	b.TimeZone(t, "Asia/Tokyo")
	if got := browser.Eval[string](t, b, `Intl.DateTimeFormat().resolvedOptions().timeZone`); got != "Asia/Tokyo" {
		t.Errorf("time zone %q, want Asia/Tokyo", got)
	}
	if got := b.Location(t); got != srv.URL+"/good" {
		t.Errorf("Location = %q", got)
	}
	b.NoErrors(t)
	b.AssertAxe(t)
}

func TestAxeReportsViolations(t *testing.T) {
	t.Parallel()
	b := browser.New(t, nil)
	srv := testServer(t)
	b.Navigate(t, srv.URL+"/bad", "h1")
	vs, err := browser.Axe(b.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, v := range vs {
		ids[v.ID] = true
		if v.Impact != "serious" && v.Impact != "critical" {
			t.Errorf("violation %s has impact %q; only serious and critical are returned", v.ID, v.Impact)
		}
		if len(v.Nodes) == 0 || !strings.Contains(v.String(), v.Nodes[0].HTML) {
			t.Errorf("violation %s names no element: %s", v.ID, v)
		}
	}
	for _, want := range []string{"image-alt", "button-name"} {
		if !ids[want] {
			t.Errorf("axe did not report %s; got %v", want, vs)
		}
	}
	// Limited to the heading, the page is fine.
	vs, err = browser.Axe(b.Context(), "h1")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 0 {
		t.Errorf("axe on h1 only: %v", vs)
	}
}

func TestAxeCleanPage(t *testing.T) {
	t.Parallel()
	b := browser.New(t, nil)
	srv := testServer(t)
	b.Navigate(t, srv.URL+"/good", "h1")
	vs, err := browser.Axe(b.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 0 {
		t.Errorf("violations on an accessible page: %v", vs)
	}
}

func TestConsoleErrorsCollected(t *testing.T) {
	t.Parallel()
	b := browser.New(t, nil)
	srv := testServer(t)
	b.Navigate(t, srv.URL+"/throws", "h1")
	b.WaitFor(t, `true`)
	// The exception is thrown from a timer; wait until it is reported.
	var errs []string
	for range 100 {
		errs = b.Errors()
		if len(errs) >= 2 {
			break
		}
		b.WaitFor(t, `new Promise(r => setTimeout(() => r(true), 20))`)
	}
	joined := strings.Join(errs, "\n")
	for _, want := range []string{"boom from the page", "uncaught kaboom"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors %q lack %q", errs, want)
		}
	}
	// Allowing both messages makes NoErrors pass.
	b.NoErrors(t, "boom from the page", "uncaught kaboom")

	// An inline script under a strict CSP is refused, and that refusal is an
	// error too.
	b.ClearMessages()
	b.Navigate(t, srv.URL+"/inline", "h1")
	for range 100 {
		if len(b.Errors()) > 0 {
			break
		}
		b.WaitFor(t, `new Promise(r => setTimeout(() => r(true), 20))`)
	}
	if errs := b.Errors(); len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), "Content Security Policy") {
		t.Errorf("CSP violation not reported: %q", errs)
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of acting on
// them (they end its goroutine, as the real ones do).
type recorder struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	fatal   string
	cleanup []func()
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Cleanup(f func()) { r.cleanup = append(r.cleanup, f) }
func (r *recorder) Failed() bool     { return r.fatal != "" }
func (r *recorder) Name() string     { return "recorder" }

func runNew(t *testing.T) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		browser.New(r, nil)
	}()
	<-done
	for i := len(r.cleanup) - 1; i >= 0; i-- {
		r.cleanup[i]()
	}
	return r
}

func TestSkipsWhenUnset(t *testing.T) {
	t.Setenv(browser.EnvChromium, "")
	r := runNew(t)
	if !strings.Contains(r.skipped, browser.EnvChromium) {
		t.Errorf("skip message %q does not name %s", r.skipped, browser.EnvChromium)
	}
	if r.fatal != "" {
		t.Errorf("failed instead of skipping: %s", r.fatal)
	}
}

func TestFailsWhenBrowserMissing(t *testing.T) {
	missing := t.TempDir() + "/no-such-chromium"
	t.Setenv(browser.EnvChromium, missing)
	r := runNew(t)
	if r.skipped != "" {
		t.Errorf("skipped instead of failing: %s", r.skipped)
	}
	if !strings.Contains(r.fatal, missing) {
		t.Errorf("failure %q does not name the browser path %s", r.fatal, missing)
	}
}
