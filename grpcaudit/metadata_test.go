package grpcaudit

import (
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestCodeTable(t *testing.T) {
	t.Parallel()
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if codeName(c) == "" || httpStatus(c) < 200 || httpStatus(c) > 599 {
			t.Errorf("code %v: name %q, status %d", c, codeName(c), httpStatus(c))
		}
		// The canonical name is the Go name in upper snake case, bar
		// two.
		want := strings.ToUpper(snake(c.String()))
		switch c {
		case codes.OK:
			want = "OK"
		case codes.Canceled:
			want = "CANCELLED"
		}
		if codeName(c) != want {
			t.Errorf("codeName(%v) = %q, want %q", c, codeName(c), want)
		}
	}
	if codeName(17) != "CODE_17" || httpStatus(17) != 500 {
		t.Errorf("unknown code: %q, %d", codeName(17), httpStatus(17))
	}
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestParseTraceparent(t *testing.T) {
	t.Parallel()
	const (
		tid = "4bf92f3577b34da6a3ce929d0e0e4736"
		sid = "00f067aa0ba902b7"
	)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"00-" + tid + "-" + sid + "-01", true},
		{"00-" + tid + "-" + sid + "-00", true},
		{"01-" + tid + "-" + sid + "-01-future", true}, // a later version may add fields
		{"01-" + tid + "-" + sid + "-01", true},
		{"00-" + tid + "-" + sid + "-01-extra", false}, // version 00 has exactly four
		{"01-" + tid + "-" + sid + "-01x", false},
		{"ff-" + tid + "-" + sid + "-01", false},
		{"00-" + strings.ToUpper(tid) + "-" + sid + "-01", false},
		{"00-" + strings.Repeat("0", 32) + "-" + sid + "-01", false},
		{"00-" + tid + "-" + strings.Repeat("0", 16) + "-01", false},
		{"00-" + tid + "-" + sid + "-0g", false},
		{"00-" + tid + "-" + sid, false},
		{"", false},
		{"0g-" + tid + "-" + sid + "-01", false},
	} {
		tp, ok := parseTraceparent(tc.in)
		if ok != tc.ok {
			t.Errorf("parseTraceparent(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if ok && (tp.traceID != tid || tp.spanID != sid) {
			t.Errorf("parseTraceparent(%q) = %+v", tc.in, tp)
		}
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Add("ff-")
	f.Fuzz(func(t *testing.T, s string) {
		tp, ok := parseTraceparent(s)
		if !ok {
			return
		}
		// What parses formats as version 00 and parses back the same.
		out := tp.format()
		if len(out) != 55 {
			t.Fatalf("format(%+v) = %q", tp, out)
		}
		back, ok := parseTraceparent(out)
		if !ok || back != tp {
			t.Fatalf("parse(format(%+v)) = %+v, %v", tp, back, ok)
		}
	})
}

func TestSaneRequestID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"":                       false,
		"abc-123":                true,
		"a b":                    false,
		"é":                      false,
		"\x7f":                   false,
		strings.Repeat("a", 128): true,
		strings.Repeat("a", 129): false,
	} {
		if got := saneRequestID(in); got != want {
			t.Errorf("saneRequestID(%q) = %v, want %v", in, got, want)
		}
	}
}

type strAddr string

func (a strAddr) Network() string { return "x" }
func (a strAddr) String() string  { return string(a) }

func TestRemoteIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{nil, ""},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 5}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5}, "2001:db8::1"},
		{&net.TCPAddr{}, ""},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, ""},
		{strAddr("bufconn"), ""},
		{strAddr("[2001:db8::2]:80"), "2001:db8::2"},
		{strAddr("198.51.100.7"), "198.51.100.7"},
	} {
		if got := remoteIP(tc.addr); got != tc.want {
			t.Errorf("remoteIP(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	if got := clip("héllo", 4); got != "h…" {
		t.Errorf("clip = %q", got)
	}
	if got := clip("hello", 5); got != "hello" {
		t.Errorf("clip = %q", got)
	}
	long := "/" + strings.Repeat("x", 70<<10)
	if m := message(long, "OK"); len(m) > 64<<10 {
		t.Errorf("message is %d bytes", len(m))
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"dns:///orders:443":          "orders:443",
		"dns://8.8.8.8/orders:443":   "orders:443",
		"orders:443":                 "orders:443",
		"passthrough:///127.0.0.1:5": "127.0.0.1:5",
		"unix:///tmp/grpc.sock":      "unix:///tmp/grpc.sock",
		"unix:relative.sock":         "unix:relative.sock",
		"xds:///svc":                 "svc",
		"":                           "",
	} {
		if got := endpoint(in); got != want {
			t.Errorf("endpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewSpanID(t *testing.T) {
	t.Parallel()
	a, b := newSpanID(), newSpanID()
	if !validSpanID(a) || !validSpanID(b) || a == b {
		t.Errorf("newSpanID() = %q, %q", a, b)
	}
}
