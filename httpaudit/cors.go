package httpaudit

import (
	"net/http"
	"strings"
)

// crossOrigin reports whether origin (the Origin header) names another
// origin than the request's own, scheme://host, where the scheme is
// https for a TLS connection or what a trusted proxy said. "null" (a
// sandboxed or file: page) is always cross-origin. Default ports are
// ignored in the comparison.
func crossOrigin(origin, scheme, host string) bool {
	if origin == "" {
		return false
	}
	if origin == "null" {
		return true
	}
	os, oh, ok := strings.Cut(origin, "://")
	if !ok {
		return true
	}
	return !strings.EqualFold(os, scheme) || !strings.EqualFold(stripDefaultPort(oh, os), stripDefaultPort(host, scheme))
}

func stripDefaultPort(host, scheme string) string {
	switch {
	case strings.EqualFold(scheme, "http") && strings.HasSuffix(host, ":80"):
		return host[:len(host)-3]
	case strings.EqualFold(scheme, "https") && strings.HasSuffix(host, ":443"):
		return host[:len(host)-4]
	}
	return host
}

// isPreflight reports whether r is a CORS preflight: an OPTIONS request
// with Origin and Access-Control-Request-Method.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && len(r.Header["Access-Control-Request-Method"]) > 0
}

// corsAllowed reads the response's Access-Control-Allow-Origin: the
// cross-origin request was allowed when it is "*" or the origin itself.
func corsAllowed(h http.Header, origin string) bool {
	v := header(h, "Access-Control-Allow-Origin")
	return v == "*" || (v != "" && v == origin)
}
