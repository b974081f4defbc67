// Package console is the web console of activitylog: a single-page
// application in plain JavaScript modules, HTML and CSS, embedded in
// the binary with go:embed, with no build step and no request to any
// other host. It reads everything through the JSON API of package
// server (signing in with the session of package access), so that the
// API alone enforces permissions and tenants: whatever the console
// shows, a script can read through the API too.
//
//	api := server.New(store, rec, &server.Options{Authenticate: svc.Authenticate, Routes: svc.Routes()})
//	mux.Handle("/api/", api)
//	mux.Handle("/", console.Handler(nil))
//
// # Under a prefix
//
// A host application mounts both under one prefix with
// http.StripPrefix; the console finds the prefix from the request, and
// looks for the API at <prefix>/api/v1 (Options.API says otherwise):
//
//	mux.Handle("/audit/", http.StripPrefix("/audit", both))
//
// where both routes /api/ to the API and the rest to the console. The
// session cookie's path (access.Options.CookiePath) should then be the
// prefix.
//
// # What it serves
//
// Every console route (/, /login, /events, /events/{id}, /live,
// /dashboard, /integrity, /admin/…) answers the page shell index.html,
// never cached, and the browser routes from there (History API). Other
// paths answer the shell with 404. Assets live under
// /assets/{version}/, where version is a hash of all of them, so that
// they are cached for good (immutable) and a new build is fetched
// afresh. Only GET and HEAD are answered; anything else is 405.
//
// # Security
//
// Every answer carries a strict Content-Security-Policy: scripts,
// styles, images and connections from the console's origin only, no
// inline script, no eval, no framing unless Options.FrameAncestors
// allows it; and X-Content-Type-Options nosniff, Referrer-Policy
// same-origin, Cross-Origin-Opener-Policy same-origin. The scripts
// never put data from the API into the page as HTML: text is text.
//
// # Leaving it out
//
// `go build -tags noconsole ./cmd/activitylog` builds the command
// without the console; `activitylog serve` then answers the API only.
package console
