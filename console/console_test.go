package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get serves one request to h and returns the recorded answer.
func serve(h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func assetURL(name string) string { return "/assets/" + loadFiles().version + "/" + name }

func TestHandler(t *testing.T) {
	t.Parallel()
	h := Handler(nil)
	v := loadFiles().version
	for _, tc := range []struct {
		name, method, target string
		status               int
		ctype                string // prefix
		body                 string // substring
		cache                string
	}{
		{"root", "GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/assets/` + v + `/app.js">`, "no-store"},
		{"login", "GET", "/login", 200, "text/html", `<base href="/">`, "no-store"},
		{"events", "GET", "/events?kind=auth&last_hours=24", 200, "text/html", `content="/api/v1"`, "no-store"},
		{"event", "GET", "/events/0190a0a0-0000-7000-8000-000000000001", 200, "text/html", "<main", "no-store"},
		{"live", "GET", "/live", 200, "text/html", "", "no-store"},
		{"dashboard", "GET", "/dashboard", 200, "text/html", "", "no-store"},
		{"integrity", "GET", "/integrity", 200, "text/html", "", "no-store"},
		{"admin", "GET", "/admin/keys", 200, "text/html", "", "no-store"},
		{"unknown page", "GET", "/nowhere", 404, "text/html", "<main", "no-store"},
		{"hidden path", "GET", "/events/.git", 404, "text/html", "", "no-store"},
		{"app.js", "GET", assetURL("app.js"), 200, "text/javascript; charset=utf-8", "export", "public, max-age=31536000, immutable"},
		{"page module", "GET", assetURL("pages/list.js"), 200, "text/javascript; charset=utf-8", "export async function render", "public, max-age=31536000, immutable"},
		{"lib module", "GET", assetURL("lib/dom.js"), 200, "text/javascript; charset=utf-8", "export function h", "public, max-age=31536000, immutable"},
		{"css", "GET", assetURL("style.css"), 200, "text/css; charset=utf-8", "--bg", "public, max-age=31536000, immutable"},
		{"svg", "GET", assetURL("favicon.svg"), 200, "image/svg+xml", "<svg", "public, max-age=31536000, immutable"},
		{"old version", "GET", "/assets/000000000000/app.js", 200, "text/javascript", "export", "no-cache"},
		{"unknown asset", "GET", assetURL("nope.js"), 404, "text/plain", "no such asset", "no-store"},
		{"asset without version", "GET", "/assets/app.js", 404, "text/plain", "no such asset", "no-store"},
		{"index as asset", "GET", assetURL("index.html"), 404, "text/plain", "", "no-store"},
		{"directory", "GET", assetURL("pages"), 404, "text/plain", "", "no-store"},
		{"dot-dot", "GET", "/assets/" + v + "/../console.go", 404, "text/plain", "", "no-store"},
		{"HEAD shell", "HEAD", "/events", 200, "text/html", "", "no-store"},
		{"HEAD asset", "HEAD", assetURL("app.js"), 200, "text/javascript", "", "public, max-age=31536000, immutable"},
		{"POST refused", "POST", "/events", 405, "text/plain", "GET and HEAD", "no-store"},
		{"PUT asset refused", "PUT", assetURL("app.js"), 405, "text/plain", "", "no-store"},
		{"DELETE refused", "DELETE", "/", 405, "text/plain", "", "no-store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.method, tc.target, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tc.status, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			if !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("body lacks %q:\n%.400s", tc.body, w.Body.String())
			}
			if got := w.Header().Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if tc.method == "HEAD" && w.Body.Len() != 0 {
				t.Errorf("HEAD answered a body of %d bytes", w.Body.Len())
			}
			if tc.status == 405 && w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q, want GET, HEAD", w.Header().Get("Allow"))
			}
			checkSecurityHeaders(t, w.Header())
		})
	}
}

// checkSecurityHeaders wants the headers every answer carries.
func checkSecurityHeaders(t *testing.T, hd http.Header) {
	t.Helper()
	csp := hd.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"frame-ancestors 'none'", "base-uri 'self'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
		"X-Frame-Options":        "DENY",
	} {
		if got := hd.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
}

// Under a prefix, by http.StripPrefix: the shell's base, assets and API
// are under it, found from the request alone.
func TestPrefixMount(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/audit/", http.StripPrefix("/audit", Handler(nil)))
	v := loadFiles().version
	for _, tc := range []struct {
		target string
		status int
		want   []string
	}{
		{"/audit/", 200, []string{`<base href="/audit/">`, `content="/audit/api/v1"`, `src="/audit/assets/` + v + `/app.js"`, `content="/audit"`}},
		{"/audit/events/123", 200, []string{`<base href="/audit/">`}},
		{"/audit/assets/" + v + "/app.js", 200, []string{"export"}},
		{"/audit/nowhere", 404, []string{`<base href="/audit/">`}},
		{"/elsewhere", 404, nil},
	} {
		w := serve(mux, "GET", tc.target, nil)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.target, w.Code, tc.status)
		}
		for _, s := range tc.want {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("%s: body lacks %q", tc.target, s)
			}
		}
	}

	// A prefix given in Options wins (a proxy stripped it before).
	h := Handler(&Options{Prefix: "/logs/", API: "/backend/api/v1", ReadOnly: true, Title: "Audit <trail>"})
	w := serve(h, "GET", "/events", nil)
	for _, s := range []string{`<base href="/logs/">`, `content="/backend/api/v1"`, `src="/logs/assets/` + v + `/app.js"`,
		`name="activitylog-read-only" content="true"`, `<title>Audit &lt;trail&gt;</title>`} {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("with Options: body lacks %q:\n%s", s, w.Body.String())
		}
	}
}

// A request path that would make the base a host (//evil) is not taken
// as a prefix.
func TestRequestPrefixRefusesHosts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ uri, path, want string }{
		{"/audit/events", "/events", "/audit"},
		{"/events", "/events", ""},
		{"//evil.example/events", "/events", ""},
		{"/a%2Fb/events", "/events", "/a%2Fb"}, // as the browser asked for it
		{"/x/events?q=1", "/events", "/x"},
		{"/x/y/", "/y/", "/x"},
		{"/nope", "/events", ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RequestURI = tc.uri
		r.URL.Path = tc.path
		r.URL.RawPath = ""
		if got := requestPrefix(r); got != tc.want {
			t.Errorf("requestPrefix(%q, %q) = %q, want %q", tc.uri, tc.path, got, tc.want)
		}
	}
}

func TestFrameAncestorsAndAPIOrigin(t *testing.T) {
	t.Parallel()
	h := Handler(&Options{FrameAncestors: []string{"https://app.example.com", "'self'"}, API: "https://api.example.com/api/v1"})
	w := serve(h, "GET", "/", nil)
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors https://app.example.com 'self'", "connect-src 'self' https://api.example.com"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if w.Header().Get("X-Frame-Options") != "" {
		t.Error("X-Frame-Options set although frame ancestors are allowed")
	}
	for _, bad := range []*Options{
		{FrameAncestors: []string{"https://a.example; script-src *"}},
		{FrameAncestors: []string{"*"}},
		{FrameAncestors: []string{"https://a.example/path"}},
		{API: "javascript:alert(1)"},
		{API: "//evil.example/api"},
		{Prefix: "/a b"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handler(%+v) did not panic", *bad)
				}
			}()
			Handler(bad)
		}()
	}
}

// Assets are served gzipped to clients that take it, with their own
// ETag, and answer 304 to a matching If-None-Match.
func TestAssetEncodingAndETag(t *testing.T) {
	t.Parallel()
	h := Handler(nil)
	plainW := serve(h, "GET", assetURL("app.js"), nil)
	gzW := serve(h, "GET", assetURL("app.js"), map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if gzW.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", gzW.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(gzW.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plainW.Body.Bytes()) {
		t.Error("gzipped app.js does not unzip to app.js")
	}
	if !strings.Contains(gzW.Header().Get("Vary"), "Accept-Encoding") {
		t.Error("no Vary: Accept-Encoding")
	}
	if e1, e2 := plainW.Header().Get("ETag"), gzW.Header().Get("ETag"); e1 == "" || e1 == e2 {
		t.Errorf("ETags %q and %q: want two different ones", e1, e2)
	}
	if w := serve(h, "GET", assetURL("app.js"), map[string]string{"Accept-Encoding": "gzip;q=0"}); w.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it with q=0")
	}
	w := serve(h, "GET", assetURL("app.js"), map[string]string{"If-None-Match": plainW.Header().Get("ETag")})
	if w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", w.Code)
	}
}

// The scripts never hand API data to the HTML parser, and the page has
// no inline script or style for the CSP to refuse.
func TestAssetsHaveNoInlineCodeOrHTMLSinks(t *testing.T) {
	t.Parallel()
	remote := regexp.MustCompile(`(?i)(?:\bfrom\s*['"]|import\(\s*['"]|fetch\(\s*['"]|url\(\s*['"]?|\bsrc\s*=\s*['"]?|\bhref\s*=\s*['"]?|EventSource\(\s*['"]|WebSocket\(\s*['"])(?:https?:|wss?:)?//`)
	sinks := regexp.MustCompile(`\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setAttribute\(\s*['"]on|setAttribute\(\s*['"]style`)
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := embedded.ReadFile(p)
		vendored := strings.HasPrefix(p, "assets/vendor/") // third-party code, which never sees API data
		if strings.HasSuffix(p, ".js") {
			if m := sinks.Find(b); m != nil && !vendored {
				t.Errorf("%s uses %q", p, m)
			}
			// Every module must be reachable from its URL: no bare
			// specifiers and no http(s) imports.
			for _, m := range regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`).FindAllSubmatch(b, -1) {
				if spec := string(m[1]); !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
					t.Errorf("%s imports %q: only relative imports load under the CSP", p, spec)
				}
			}
		}
		// Nothing is loaded from another host (links in comments are
		// fine; the CSP would refuse the loads anyway).
		if m := remote.Find(b); m != nil {
			t.Errorf("%s loads %q: the console loads nothing from other hosts", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	index := string(loadFiles().assets["index.html"].body)
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(index) || strings.Contains(index, "<style") || strings.Contains(index, " style=") || strings.Contains(index, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(index) {
		t.Error("index.html has inline script, style or an event handler attribute")
	}
}

// The Go route table and app.js route the same first segments.
func TestRoutesMatchApp(t *testing.T) {
	t.Parallel()
	app := string(loadFiles().assets["app.js"].body)
	for r := range routes {
		if r == "" {
			continue
		}
		if !strings.Contains(app, "case '"+r+"':") {
			t.Errorf("route %q is served by Go but not routed by app.js", r)
		}
	}
}
