// Package browser drives a headless Chromium from Go tests, through
// github.com/chromedp/chromedp.
//
// The path of the browser comes from the environment variable
// ACTIVITYLOG_TEST_CHROMIUM (for example /usr/bin/chromium). When it is
// unset, [New] skips the test with a message naming the variable; when it is
// set and the browser cannot start, the test fails. CI sets it, so there the
// browser tests always run.
//
// A [Browser] is one Chromium process with its own temporary profile, so two
// browsers in one test have separate cookies (a superuser and a viewer, say).
// Its methods take the test and fail it on error, so a test reads as a list of
// steps:
//
//	b := browser.New(t, nil)
//	b.Navigate(t, srv.URL+"/login", "form")
//	b.Type(t, "#username", "admin")
//	b.Click(t, "button[type=submit]")
//	b.WaitVisible(t, "table")
//	b.NoErrors(t)
//	b.AssertAxe(t)
//
// Every step has its own timeout ([Options.StepTimeout]), so a page that never
// shows an element fails with the selector's name instead of hanging. Browser
// console errors and uncaught exceptions are collected from the start; [Browser.NoErrors]
// fails the test when there are any. [Axe] runs the vendored axe-core
// accessibility engine on the page and returns the serious and critical
// violations.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// EnvChromium names the environment variable holding the path of the
// Chromium binary. Browser tests skip when it is unset.
const EnvChromium = "ACTIVITYLOG_TEST_CHROMIUM"

// EnvScreenshots names the environment variable holding the folder that
// [Browser.Screenshot] writes to. When it is unset, screenshots are not
// written. CI sets it to a folder it keeps.
const EnvScreenshots = "ACTIVITYLOG_TEST_SCREENSHOTS"

// Options configures a [Browser]. The zero value, and a nil pointer, mean the
// defaults.
type Options struct {
	// Timeout bounds the whole life of the browser. Default: 3 minutes,
	// and 9 in a build with the race detector.
	Timeout time.Duration
	// StepTimeout bounds each step (navigate, wait, click, …). Default:
	// 20 s, and 60 s in a build with the race detector.
	StepTimeout time.Duration
	// Width and Height are the window size. Default: 1280×900.
	Width, Height int
}

// Browser is one headless Chromium with one tab. Its methods are safe to call
// from one goroutine at a time (a test's), except [Browser.Messages] and
// [Browser.Errors], which may be called from any goroutine.
type Browser struct {
	ctx  context.Context
	step time.Duration
	name string

	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// New starts Chromium from $ACTIVITYLOG_TEST_CHROMIUM, headless, with a fresh
// profile, and returns it with one open tab. It skips the test when the
// variable is unset and fails it when the browser cannot start. The browser
// is stopped, and its profile removed, when the test ends; if the test failed
// and $ACTIVITYLOG_TEST_SCREENSHOTS is set, a screenshot of the page is kept
// first.
func New(t testing.TB, opts *Options) *Browser {
	t.Helper()
	path := os.Getenv(EnvChromium)
	if path == "" {
		t.Skipf("browser test skipped: set %s to the path of a Chromium binary (for example %s=/usr/bin/chromium) to run it", EnvChromium, EnvChromium)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
		if raceBuild {
			o.Timeout *= 3
		}
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 20 * time.Second
		if raceBuild {
			o.StepTimeout *= 3
		}
	}
	if o.Width <= 0 {
		o.Width = 1280
	}
	if o.Height <= 0 {
		o.Height = 900
	}

	profile := t.TempDir()
	output := &syncBuffer{}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.CombinedOutput(output),
	)
	base, cancelBase := context.WithTimeout(context.Background(), o.Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, allocOpts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the process to exit, before TempDir removes the profile
		cancelBase()
	})

	b := &Browser{ctx: ctx, step: o.StepTimeout, name: t.Name()}
	// The first run starts the browser and binds it to the context it is
	// given, so it must be the tab's context and not a shorter-lived one;
	// Options.Timeout bounds it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s (from %s): %v\nbrowser output:\n%s", path, EnvChromium, err, output.String())
	}
	// Subscribe to the console now: the subscription buffers, and the
	// goroutine ends when the tab's context ends.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() && os.Getenv(EnvScreenshots) != "" && ctx.Err() == nil {
			b.screenshot(t, "FAILED")
		}
	})
	return b
}

// Context returns the tab's chromedp context, for chromedp actions the
// helpers do not cover. Derive a timeout from it with context.WithTimeout.
func (b *Browser) Context() context.Context { return b.ctx }

// do runs actions with the step timeout and fails the test on error.
func (b *Browser) do(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v%s", what, err, b.errorSuffix())
	}
}

// run runs one action returning a value with the step timeout.
func run[T any](t testing.TB, b *Browser, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.step)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v%s", what, err, b.errorSuffix())
	}
	return v
}

// errorSuffix lists the browser errors seen so far, to explain a failed step.
func (b *Browser) errorSuffix() string {
	errs := b.Errors()
	if len(errs) == 0 {
		return ""
	}
	return "\nbrowser errors so far:\n  " + strings.Join(errs, "\n  ")
}

// Navigate loads url and, when waitSelector is not empty, waits until an
// element matching that CSS selector is visible.
func (b *Browser) Navigate(t testing.TB, url, waitSelector string) {
	t.Helper()
	b.do(t, "navigate to "+url, chromedp.Navigate(url))
	if waitSelector != "" {
		b.WaitVisible(t, waitSelector)
	}
}

// WaitVisible waits until an element matching the CSS selector is visible.
func (b *Browser) WaitVisible(t testing.TB, selector string) {
	t.Helper()
	b.do(t, "wait for "+selector+" to be visible", chromedp.WaitVisible(chromedp.CSS(selector)))
}

// WaitGone waits until no element matches the CSS selector.
func (b *Browser) WaitGone(t testing.TB, selector string) {
	t.Helper()
	b.do(t, "wait for "+selector+" to go", chromedp.WaitNotPresent(chromedp.CSS(selector)))
}

// WaitFor waits until the JavaScript expression is truthy.
func (b *Browser) WaitFor(t testing.TB, expression string) {
	t.Helper()
	run(t, b, "wait for "+expression, chromedp.Poll[chromedp.Void](expression,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(b.step)))
}

// WaitText waits until the text of the first element matching the CSS
// selector contains want, and returns the whole text.
func (b *Browser) WaitText(t testing.TB, selector, want string) string {
	t.Helper()
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e && e.innerText.includes(%s) ? e.innerText : ""; })()`, jsString(selector), jsString(want))
	return run(t, b, fmt.Sprintf("wait for %s to contain %q", selector, want), chromedp.Poll[string](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(b.step)))
}

// Text returns the visible text (innerText) of the first element matching the
// CSS selector, waiting for it to exist.
func (b *Browser) Text(t testing.TB, selector string) string {
	t.Helper()
	b.do(t, "wait for "+selector, chromedp.WaitReady(chromedp.CSS(selector)))
	return Eval[string](t, b, fmt.Sprintf(`document.querySelector(%s).innerText`, jsString(selector)))
}

// Count returns how many elements match the CSS selector now (no waiting).
func (b *Browser) Count(t testing.TB, selector string) int {
	t.Helper()
	return Eval[int](t, b, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(selector)))
}

// Attr returns an attribute of the first element matching the CSS selector,
// and "" when it has none.
func (b *Browser) Attr(t testing.TB, selector, name string) string {
	t.Helper()
	b.do(t, "wait for "+selector, chromedp.WaitReady(chromedp.CSS(selector)))
	return Eval[string](t, b, fmt.Sprintf(`document.querySelector(%s).getAttribute(%s) || ""`, jsString(selector), jsString(name)))
}

// Click clicks the first visible element matching the CSS selector, as a
// user's mouse would.
func (b *Browser) Click(t testing.TB, selector string) {
	t.Helper()
	b.do(t, "click "+selector, chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible))
}

// Type focuses the first visible element matching the CSS selector, clears
// it, and types text into it key by key.
func (b *Browser) Type(t testing.TB, selector, text string) {
	t.Helper()
	// Not chromedp.Clear: it resets the value attribute, which a field
	// that was typed into ignores (and it fails on an empty textarea).
	b.do(t, "wait for "+selector, chromedp.WaitVisible(chromedp.CSS(selector)))
	Eval[chromedp.Void](t, b, fmt.Sprintf(`document.querySelector(%s).value = ""`, strconv.Quote(selector)))
	b.do(t, "type into "+selector, chromedp.SendKeys(chromedp.CSS(selector), text))
}

// Select sets the value of a <select> (or any form field) and fires the input
// and change events, as a user's choice would.
func (b *Browser) Select(t testing.TB, selector, value string) {
	t.Helper()
	b.do(t, "wait for "+selector, chromedp.WaitVisible(chromedp.CSS(selector)))
	Eval[chromedp.Void](t, b, fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		e.value = %s;
		if (e.value !== %s) throw new Error("no option " + %s + " in " + %s);
		e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true}));
	})()`, jsString(selector), jsString(value), jsString(value), jsString(value), jsString(selector)))
}

// Eval evaluates a JavaScript expression in the page and returns its value
// decoded into T (use chromedp.Void to ignore it). A promise is awaited.
func Eval[T any](t testing.TB, b *Browser, expression string) T {
	t.Helper()
	return run(t, b, "evaluate "+short(expression), chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
}

// Location returns the URL of the page.
func (b *Browser) Location(t testing.TB) string {
	t.Helper()
	return run(t, b, "read location", chromedp.Location())
}

// Viewport sets the size of the page's viewport, for example 390×844 for a
// phone.
func (b *Browser) Viewport(t testing.TB, width, height int) {
	t.Helper()
	b.do(t, "set viewport", chromedp.EmulateViewport(int64(width), int64(height)))
}

// TimeZone makes the page's local time zone the IANA zone id (for example
// "Asia/Tokyo") whatever the machine's, so that tests of local times do
// not depend on where they run.
func (b *Browser) TimeZone(t testing.TB, id string) {
	t.Helper()
	b.do(t, "set time zone "+id, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: id})
		return chromedp.Void{}, err
	})
}

// Screenshot saves a PNG of the whole page as
// $ACTIVITYLOG_TEST_SCREENSHOTS/<test name>-<name>.png and returns its path.
// When the variable is unset it writes nothing and returns "".
func (b *Browser) Screenshot(t testing.TB, name string) string {
	t.Helper()
	if os.Getenv(EnvScreenshots) == "" {
		return ""
	}
	return b.screenshot(t, name)
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (b *Browser) screenshot(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(EnvScreenshots)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("screenshot folder: %v", err)
		return ""
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.step)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	file := filepath.Join(dir, unsafeFileChars.ReplaceAllString(b.name+"-"+name, "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot: %s", file)
	return file
}

// Messages returns every console message seen so far: console API calls,
// uncaught exceptions and browser log entries.
func (b *Browser) Messages() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.msgs...)
}

// Errors returns, as text, the console errors (console.error, browser log
// entries of level error such as failed requests and Content-Security-Policy
// violations) and uncaught exceptions seen so far.
func (b *Browser) Errors() []string {
	var out []string
	for _, m := range b.Messages() {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
			continue
		}
		s := string(m.Type) + ": " + m.Text
		if m.Source != "" {
			s += " [" + m.Source + "]"
		}
		if m.URL != "" {
			s += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
		}
		out = append(out, s)
	}
	return out
}

// NoErrors fails the test when the page logged a console error or threw an
// uncaught exception, except for messages containing one of the allow
// substrings (for example "status of 401" on a page that expects it).
func (b *Browser) NoErrors(t testing.TB, allow ...string) {
	t.Helper()
	var bad []string
next:
	for _, e := range b.Errors() {
		for _, a := range allow {
			if strings.Contains(e, a) {
				continue next
			}
		}
		bad = append(bad, e)
	}
	if len(bad) > 0 {
		t.Errorf("browser console errors:\n  %s", strings.Join(bad, "\n  "))
	}
}

// ClearMessages forgets the console messages seen so far.
func (b *Browser) ClearMessages() {
	b.mu.Lock()
	b.msgs = nil
	b.mu.Unlock()
}

// AssertAxe runs [Axe] on the page and fails the test when it reports a
// serious or critical violation.
func (b *Browser) AssertAxe(t testing.TB, include ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*b.step)
	defer cancel()
	vs, err := Axe(ctx, include...)
	if err != nil {
		t.Fatalf("axe: %v", err)
	}
	for _, v := range vs {
		t.Errorf("accessibility: %s", v)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 64<<10 {
		return len(p), nil // keep the start; it says why the browser failed
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
