package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var embedded embed.FS

// Options configures the console. The zero value, or nil, means the
// defaults written beside each field.
type Options struct {
	// Prefix is the path the console is mounted under, as the browser
	// sees it: "/audit" for a console at https://host/audit/. Default:
	// found from each request, as the part of r.RequestURI that
	// http.StripPrefix took off r.URL.Path; so a console mounted with
	// http.StripPrefix needs nothing, and one served at / gets "". Set
	// it when a proxy strips the prefix before the request arrives.
	Prefix string
	// API is where the browser finds the API's /api/v1: a path
	// ("/api/v1") or an absolute http(s) URL, whose origin is then added
	// to the Content-Security-Policy's connect-src. The API must then
	// accept the console's origin (CORS with credentials), which
	// `activitylog serve` does not: keep the API on the console's
	// origin unless you proxy both. Default: Prefix + "/api/v1", the API
	// mounted beside the console, as `activitylog serve` does.
	API string
	// FrameAncestors lists the origins ("https://app.example.com") or
	// 'self' that may show the console in a frame: the CSP's
	// frame-ancestors. Default: none; no page may frame it.
	FrameAncestors []string
	// ReadOnly hides every control that changes something (resolving
	// an event, API keys, retention). The API still enforces the
	// permissions; this is for consoles that should only be read.
	// Default: false.
	ReadOnly bool
	// Title names the console in the page title and the header.
	// Default: "activitylog".
	Title string
}

// routes are the first path segments of the console's pages; the shell
// answers them 200, and other paths 404 (the shell still renders, and
// says the page is unknown). Keep in step with the routes of app.js.
var routes = map[string]bool{
	"": true, "login": true, "events": true, "live": true, "dashboard": true,
	"integrity": true, "admin": true,
}

// handler serves the console.
type handler struct {
	opts    Options
	version string            // hash of every asset: the cache-busting path segment
	assets  map[string]*asset // by path under assets/, e.g. "app.js"
	csp     string
	index   *template.Template
}

// asset is one embedded file, ready to serve.
type asset struct {
	name  string
	ctype string
	body  []byte
	gz    []byte // gzip of body, when that is smaller; nil otherwise
	etag  string
}

// Handler returns the console: it serves the page shell for each of
// the console's routes (/, /login, /events, /events/{id}, /live,
// /dashboard, /integrity, /admin/…) and its assets under
// /assets/{version}/, answering only GET and HEAD. The console reads
// everything through the API, which must be served beside it (see
// Options.API) with the access package's sessions for sign-in.
//
// Mount it at the root of a mux, or under a prefix with
// http.StripPrefix:
//
//	mux.Handle("/audit/", http.StripPrefix("/audit", console.Handler(nil)))
//
// opts may be nil. Handler panics on Options it cannot serve (an API
// that is neither a path nor an http(s) URL, a frame ancestor that is
// not an origin), as a programming error. The handler is safe for
// concurrent use.
func Handler(opts *Options) http.Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Title == "" {
		o.Title = "activitylog"
	}
	if o.Prefix != "" {
		o.Prefix = "/" + strings.Trim(o.Prefix, "/")
		if o.Prefix == "/" {
			o.Prefix = ""
		}
		if !safePrefix(o.Prefix) {
			panic(fmt.Sprintf("console.Handler: Options.Prefix %q is not a path", o.Prefix))
		}
	}
	apiOrigin := ""
	if o.API != "" {
		o.API = strings.TrimRight(o.API, "/")
		u, err := url.Parse(o.API)
		switch {
		case err != nil:
			panic(fmt.Sprintf("console.Handler: Options.API %q: %v", o.API, err))
		case u.Scheme == "" && u.Host == "" && strings.HasPrefix(o.API, "/") && safePrefix(o.API):
		case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil:
			apiOrigin = u.Scheme + "://" + u.Host
		default:
			panic(fmt.Sprintf("console.Handler: Options.API %q is neither a path nor an http(s) URL", o.API))
		}
	}
	for _, a := range o.FrameAncestors {
		if !validAncestor(a) {
			panic(fmt.Sprintf("console.Handler: Options.FrameAncestors: %q is not an origin (https://host[:port]) nor 'self'", a))
		}
	}
	f := loadFiles()
	h := &handler{opts: o, version: f.version, assets: f.assets}
	h.csp = contentSecurityPolicy(apiOrigin, o.FrameAncestors)
	h.index = template.Must(template.New("index.html").Parse(string(h.assets["index.html"].body)))
	return h
}

// files is the embedded assets, read and hashed once, shared by every
// Handler.
type files struct {
	version string            // hash of every asset: the cache-busting path segment
	assets  map[string]*asset // by path under assets/, e.g. "app.js"
}

var loadFiles = sync.OnceValue(func() *files {
	f := &files{assets: map[string]*asset{}}
	sum := sha256.New()
	var names []string
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		panic("console: read embedded assets: " + err.Error())
	}
	sort.Strings(names)
	for _, p := range names {
		body, err := embedded.ReadFile(p)
		if err != nil {
			panic("console: read embedded assets: " + err.Error())
		}
		name := strings.TrimPrefix(p, "assets/")
		fmt.Fprintf(sum, "%s\x00%d\x00", name, len(body))
		sum.Write(body)
		one := sha256.Sum256(body)
		a := &asset{name: name, ctype: contentType(name), body: body, etag: `"` + hex.EncodeToString(one[:8]) + `"`}
		if compressible(a.ctype) && len(body) > 512 {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(body)
			zw.Close()
			if buf.Len() < len(body) {
				a.gz = buf.Bytes()
			}
		}
		f.assets[name] = a
	}
	f.version = hex.EncodeToString(sum.Sum(nil)[:6])
	return f
})

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	h.securityHeaders(hd)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "method "+clip(r.Method)+" is not allowed: the console answers GET and HEAD")
		return
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if rest, ok := strings.CutPrefix(p, "/assets/"); ok {
		h.serveAsset(w, r, rest)
		return
	}
	first, _, _ := strings.Cut(p[1:], "/")
	status := http.StatusOK
	if !routes[first] || strings.Contains(p, "/.") {
		status = http.StatusNotFound
	}
	h.serveIndex(w, r, status)
}

// securityHeaders sets the headers every answer carries.
func (h *handler) securityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if len(h.opts.FrameAncestors) == 0 {
		hd.Set("X-Frame-Options", "DENY")
	}
}

// serveAsset serves assets/{version}/{name}. A version other than the
// current one (a page loaded before an upgrade) gets the current file,
// not to be cached; an unknown name is 404.
func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	version, name, ok := strings.Cut(rest, "/")
	a := h.assets[name]
	if !ok || version == "" || name == "index.html" || a == nil {
		plain(w, http.StatusNotFound, "no such asset: "+clip(r.URL.Path))
		return
	}
	hd := w.Header()
	if version == h.version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Set("Content-Type", a.ctype)
	body, etag := a.body, a.etag
	if a.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// indexData fills index.html.
type indexData struct {
	Title    string
	Base     string // the console's root, with a final /
	Root     string // the console's root, without it ("" at /)
	API      string
	Assets   string // the URL of the assets folder, with a final /
	ReadOnly bool
	Version  string
}

// serveIndex answers the page shell with status.
func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request, status int) {
	root := h.opts.Prefix
	if root == "" {
		root = requestPrefix(r)
	}
	api := h.opts.API
	if api == "" {
		api = root + "/api/v1"
	}
	d := indexData{
		Title: h.opts.Title, Base: root + "/", Root: root, API: api,
		Assets: root + "/assets/" + h.version + "/", ReadOnly: h.opts.ReadOnly, Version: h.version,
	}
	var buf bytes.Buffer
	if err := h.index.Execute(&buf, d); err != nil {
		plain(w, http.StatusInternalServerError, "internal error")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// requestPrefix returns the prefix http.StripPrefix took off r's path:
// the escaped path of r.RequestURI less r.URL's escaped path at its end.
// It returns "" when there is none, or when what it finds is not a
// plain path (a // that a browser would read as a host).
func requestPrefix(r *http.Request) string {
	if r.RequestURI == "" {
		return ""
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	full, tail := u.EscapedPath(), r.URL.EscapedPath()
	if !strings.HasPrefix(tail, "/") {
		tail = "/" + tail
	}
	prefix, ok := strings.CutSuffix(full, tail)
	if !ok || !safePrefix(prefix) {
		return ""
	}
	return prefix
}

// safePrefix reports whether p is "" or a path like /a/b: it starts
// with one /, does not end with one, and holds nothing a browser could
// read as a host, a query or markup.
func safePrefix(p string) bool {
	if p == "" {
		return true
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasSuffix(p, "/") {
		return false
	}
	for _, c := range p {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`\"'<>?#`, c) {
			return false
		}
	}
	return path.Clean(p) == p
}

// validAncestor reports whether a may go into frame-ancestors as it
// is: 'self' or a scheme://host[:port] origin.
func validAncestor(a string) bool {
	if a == "'self'" {
		return true
	}
	u, err := url.Parse(a)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return !strings.ContainsAny(a, " ;,\t\r\n'\"")
}

// contentSecurityPolicy returns the CSP of every answer: scripts,
// styles, images and connections from this origin only (plus the API's
// origin when it is elsewhere), no inline script, no eval, no plugins,
// and frames only from frameAncestors.
func contentSecurityPolicy(apiOrigin string, frameAncestors []string) string {
	connect := "'self'"
	if apiOrigin != "" {
		connect += " " + apiOrigin
	}
	fa := "'none'"
	if len(frameAncestors) > 0 {
		fa = strings.Join(frameAncestors, " ")
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src " + connect,
		"manifest-src 'self'",
		"base-uri 'self'",
		"form-action 'self'",
		"frame-ancestors " + fa,
	}, "; ")
}

// contentType returns the Content-Type of an asset by its extension.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".woff2":
		return "font/woff2"
	case ".txt", ".md":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || ctype == "application/json" || ctype == "image/svg+xml"
}

// acceptsGzip reports whether r's Accept-Encoding takes gzip (and does
// not refuse it with q=0).
func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// plain answers a short text message.
func plain(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return strings.ToValidUTF8(s[:64], "") + "…"
}
