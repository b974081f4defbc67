package httpaudit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/activitylog/activitylog"
)

// ParseTrustedProxies parses CIDRs ("10.0.0.0/8", "2001:db8::/32") and
// single addresses ("192.0.2.1", taken as /32 or /128) for
// Options.TrustedProxies. An entry that is neither is refused with an
// *activitylog.FieldError naming "trusted_proxies[i]" and the entry.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for i, s := range entries {
		s = strings.TrimSpace(s)
		field := "trusted_proxies[" + itoa(i) + "]"
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, activitylog.Invalid(field, clip(s, 64), "is not a CIDR prefix like 10.0.0.0/8")
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, activitylog.Invalid(field, clip(s, 64), "is not an IP address or a CIDR prefix")
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// proxies is a set of trusted proxy prefixes.
type proxies []netip.Prefix

func (ps proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP returns the address of the client that sent r, and whether
// the connection came through a trusted proxy (whose headers may then
// also be believed for the scheme).
//
// The peer (RemoteAddr) is the client unless it is a trusted proxy. If
// it is, the forwarding chain is walked from the right, the hop nearest
// this server, past every trusted proxy: the first address that is not
// one is the client. A client can write anything at the left of the
// chain, so a forged left-most entry never wins. The chain is taken
// from Forwarded (RFC 7239) when present, else X-Forwarded-For, else
// X-Real-IP. An entry that is not an IP address ("unknown", an
// obfuscated node, garbage) ends the walk: nothing to its left can be
// believed, and the client is the trusted hop that passed it on.
func clientIP(r *http.Request, ps proxies) (ip netip.Addr, viaProxy bool) {
	peer, ok := parseHostPort(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if len(ps) == 0 || !ps.trusted(peer) {
		return peer, false
	}
	client := peer
	walk := func(a netip.Addr, ok bool) bool { // false: stop
		if !ok {
			return false
		}
		client = a
		return ps.trusted(a)
	}
	switch {
	case len(r.Header["Forwarded"]) > 0:
		forwardedFor(r.Header["Forwarded"], walk)
	case len(r.Header["X-Forwarded-For"]) > 0:
		listFromRight(r.Header["X-Forwarded-For"], walk)
	case len(r.Header["X-Real-Ip"]) > 0:
		vs := r.Header["X-Real-Ip"]
		walk(parseHostPort(strings.TrimSpace(vs[len(vs)-1])))
	}
	return client, true
}

// listFromRight calls f with each comma-separated entry of the header
// lines vs, from the last to the first, until f returns false.
func listFromRight(vs []string, f func(netip.Addr, bool) bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		for {
			j := strings.LastIndexByte(v, ',')
			if !f(parseHostPort(strings.TrimSpace(v[j+1:]))) {
				return
			}
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
}

// forwardedFor walks the for= parameters of Forwarded header lines from
// the right. An element without for= counts as an unknown hop.
func forwardedFor(vs []string, f func(netip.Addr, bool) bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		elems := splitQuoted(vs[i], ',')
		for j := len(elems) - 1; j >= 0; j-- {
			a, ok := netip.Addr{}, false
			for _, pair := range splitQuoted(elems[j], ';') {
				k, v, found := strings.Cut(strings.TrimSpace(pair), "=")
				if found && strings.EqualFold(strings.TrimSpace(k), "for") {
					a, ok = parseNode(strings.TrimSpace(v))
					break
				}
			}
			if !f(a, ok) {
				return
			}
		}
	}
}

// forwardedProto returns the proto= of the right-most Forwarded element,
// or X-Forwarded-Proto, for a request that came through a trusted
// proxy; "" when neither is given.
func forwardedProto(h http.Header) string {
	if vs := h["Forwarded"]; len(vs) > 0 {
		elems := splitQuoted(vs[len(vs)-1], ',')
		for _, pair := range splitQuoted(elems[len(elems)-1], ';') {
			k, v, found := strings.Cut(strings.TrimSpace(pair), "=")
			if found && strings.EqualFold(strings.TrimSpace(k), "proto") {
				return strings.ToLower(strings.Trim(strings.TrimSpace(v), `"`))
			}
		}
		return ""
	}
	if vs := h["X-Forwarded-Proto"]; len(vs) > 0 {
		v := vs[len(vs)-1]
		if i := strings.LastIndexByte(v, ','); i >= 0 {
			v = v[i+1:]
		}
		return strings.ToLower(strings.TrimSpace(v))
	}
	return ""
}

// splitQuoted splits s at sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// parseNode parses an RFC 7239 node: an IPv4 address, a quoted
// "[IPv6]" with an optional port, or a quoted "IPv4:port". "unknown"
// and obfuscated identifiers ("_hidden") are not addresses.
func parseNode(v string) (netip.Addr, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return parseHostPort(v)
}

// parseHostPort parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port". A
// zone ("fe80::1%eth0") is kept. Anything else that is not an address
// is refused. IPv4-mapped IPv6 addresses are unmapped.
func parseHostPort(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		host = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
