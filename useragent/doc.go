// Package useragent describes the client of an HTTP request (browser,
// platform, OS, device) from its User-Agent Client Hints and its
// User-Agent header, with github.com/medama-io/go-useragent doing the
// User-Agent matching. It plugs into the HTTP middleware:
//
//	ua := useragent.New(nil)
//	audit := httpaudit.Middleware(rec, &httpaudit.Options{Client: ua.Client})
//
// Without it the middleware reads the client hints only
// (httpaudit.ClientHints), which Firefox, Safari and scripts do not send.
//
// # What a client is
//
// Parser.Client gives an httpaudit.Client: "Chrome 131", "macOS",
// "macOS 14.5", "desktop". The hints come first; the User-Agent fills in
// what they leave out. Versions that browsers freeze in the User-Agent
// (Windows NT 10.0, Mac OS X 10_15_7, Chrome's "Android 10; K") are not
// reported, since they would be wrong for most clients that send them.
//
// # Bots
//
// Device "bot" covers crawlers (Googlebot, bingbot), security scanners
// (sqlmap, Nikto, Nmap, masscan), headless browsers, and HTTP libraries
// and command-line tools (curl, Wget, python-requests, Go-http-client):
// every client that is not a person's browser or app. Its Browser is the
// bot's name and version, "curl 8.5". A User-Agent is whatever the
// client chose to send, so "not a bot" only means "does not say so".
//
// # Cost
//
// A Parser keeps a bounded cache of parsed User-Agents
// ([Options].CacheSize), since a service sees the same few over and
// over. A cached User-Agent costs a map lookup and no allocation.
package useragent
