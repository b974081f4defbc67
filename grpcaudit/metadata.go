package grpcaudit

import (
	"net"
	"net/netip"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// Metadata keys the interceptors read and write. gRPC metadata keys are
// lowercase.
const (
	requestIDKey   = "x-request-id"
	traceparentKey = "traceparent"
	userAgentKey   = "user-agent"
	authorityKey   = ":authority"
)

// maxRequestIDLen is the longest incoming request id that is used.
const maxRequestIDLen = 128

// saneRequestID reports whether s may be used as a request id: 1 to
// maxRequestIDLen visible ASCII characters. That keeps control
// characters, spaces and non-ASCII out of logs and metadata, and keeps a
// client from filling the store through its ids.
func saneRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// traceparent is a parsed W3C traceparent header
// (https://www.w3.org/TR/trace-context/): "00-<trace id>-<parent id>-<flags>".
type traceparent struct {
	traceID, spanID, flags string
}

// parseTraceparent parses v. It accepts version 00 exactly and, as the
// specification asks, a later version's first four fields; it refuses
// version ff, ids that are not lowercase hex or are all zeros.
func parseTraceparent(v string) (traceparent, bool) {
	const n = 55 // 2+1+32+1+16+1+2
	if len(v) < n || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return traceparent{}, false
	}
	version := v[0:2]
	if !isHex(version) || version == "ff" {
		return traceparent{}, false
	}
	if len(v) > n && (version == "00" || v[n] != '-') {
		return traceparent{}, false
	}
	tp := traceparent{traceID: v[3:35], spanID: v[36:52], flags: v[53:55]}
	if !validTraceID(tp.traceID) || !validSpanID(tp.spanID) || !isHex(tp.flags) {
		return traceparent{}, false
	}
	return tp, true
}

// format returns the version 00 header for tp.
func (tp traceparent) format() string {
	flags := tp.flags
	if flags == "" {
		flags = "00"
	}
	return "00-" + tp.traceID + "-" + tp.spanID + "-" + flags
}

func validTraceID(s string) bool { return len(s) == 32 && isHex(s) && !allZeros(s) }
func validSpanID(s string) bool  { return len(s) == 16 && isHex(s) && !allZeros(s) }

// isHex reports whether s is lowercase hex, as trace context requires.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZeros(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// remoteIP returns the IP address of a peer's address, or "" when it
// has none (a Unix socket, an in-memory listener). An IPv4 address
// mapped into IPv6 is given in its IPv4 form.
func remoteIP(addr net.Addr) string {
	switch a := addr.(type) {
	case nil:
		return ""
	case *net.TCPAddr:
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap().String()
		}
		return ""
	}
	host := addr.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return ip.Unmap().String()
}

// first returns the first of vs, or "".
func first(vs []string) string {
	if len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// message returns "/pkg.Service/Method → NOT_FOUND", the method clipped
// so that the whole stays within activitylog.MaxTextField.
func message(method, code string) string {
	return clip(method, activitylog.MaxTextField-64) + " → " + code
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
