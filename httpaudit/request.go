package httpaudit

import (
	"net"
	"net/http"
	"net/netip"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// fillRequest describes r in q. Every field is clipped to the limit
// activitylog.Event.Validate holds it to, so that no request, however
// large its headers, makes its own audit record invalid.
func fillRequest(q *activitylog.Request, r *http.Request, id string) {
	method := r.Method
	if method == "" {
		method = http.MethodGet // as net/http reads an empty method
	}
	q.RequestID = id
	q.Method = clip(method, activitylog.MaxShortField)
	q.Host = clip(r.Host, activitylog.MaxShortField)
	if r.URL != nil {
		q.Path = clip(r.URL.Path, activitylog.MaxTextField)
		q.Query = clip(r.URL.RawQuery, activitylog.MaxTextField)
	}
	// Set when a ServeMux outside the middleware routed the request.
	q.Route = clip(r.Pattern, activitylog.MaxTextField)
	q.RemoteIP = remoteIP(r.RemoteAddr)
	q.UserAgent = clip(header(r.Header, "User-Agent"), activitylog.MaxTextField)
	q.Referer = clip(header(r.Header, "Referer"), activitylog.MaxTextField)
	q.Origin = clip(header(r.Header, "Origin"), activitylog.MaxTextField)
}

// header is Header.Get for a key already in canonical form.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// remoteIP returns the host part of addr (a RemoteAddr, "ip:port") when
// it is an IP address, and "" otherwise (a Unix socket's "@", say). An
// IPv4 address mapped into IPv6 is given in its IPv4 form.
func remoteIP(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	if ip.Is4In6() {
		return ip.Unmap().String()
	}
	return host
}

// clip returns s cut to at most max bytes, at a rune boundary and ending
// in "…" when it was cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	i := max - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}
