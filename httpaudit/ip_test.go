package httpaudit

import (
	"net/http"
	"net/netip"
	"testing"
)

func mustProxies(t testing.TB, s ...string) proxies {
	t.Helper()
	ps, err := ParseTrustedProxies(s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	lb := []string{"10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.10"}
	tests := []struct {
		name     string
		remote   string
		trusted  []string
		header   http.Header
		want     string
		viaProxy bool
	}{
		{name: "no proxies: remote addr", remote: "203.0.113.5:1234", header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}, want: "203.0.113.5"},
		{name: "untrusted peer's XFF ignored", remote: "203.0.113.5:1234", trusted: lb, header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}, want: "203.0.113.5"},
		{name: "trusted peer, XFF client", remote: "10.1.2.3:80", trusted: lb, header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}, want: "198.51.100.1", viaProxy: true},
		{name: "forged left-most entry loses", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"X-Forwarded-For": {"1.1.1.1, 198.51.100.1, 10.9.9.9"}}, want: "198.51.100.1", viaProxy: true},
		{name: "several XFF lines are one list", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7", "10.2.2.2"}}, want: "198.51.100.7", viaProxy: true},
		{name: "all hops trusted: left-most", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"X-Forwarded-For": {"10.5.5.5, 10.6.6.6"}}, want: "10.5.5.5", viaProxy: true},
		{name: "garbage ends the walk at the trusted hop", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"X-Forwarded-For": {"198.51.100.1, <script>, 10.6.6.6"}}, want: "10.6.6.6", viaProxy: true},
		{name: "garbage only", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"X-Forwarded-For": {"not-an-ip"}}, want: "10.1.2.3", viaProxy: true},
		{name: "empty entries", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"X-Forwarded-For": {" , "}}, want: "10.1.2.3", viaProxy: true},
		{name: "XFF with ports and IPv6", remote: "[2001:db8:ffff::1]:443", trusted: lb,
			header: http.Header{"X-Forwarded-For": {"[2001:db8:1::9]:5555"}}, want: "2001:db8:1::9", viaProxy: true},
		{name: "mapped IPv4 unmapped", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"X-Forwarded-For": {"::ffff:198.51.100.3"}}, want: "198.51.100.3", viaProxy: true},
		{name: "single trusted address", remote: "192.0.2.10:80", trusted: lb,
			header: http.Header{"X-Real-Ip": {"198.51.100.4"}}, want: "198.51.100.4", viaProxy: true},
		{name: "neighbour of single address is not trusted", remote: "192.0.2.11:80", trusted: lb,
			header: http.Header{"X-Real-Ip": {"198.51.100.4"}}, want: "192.0.2.11"},
		{name: "X-Real-IP garbage", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"X-Real-Ip": {"1.2.3.4.5"}}, want: "10.1.2.3", viaProxy: true},
		{name: "Forwarded wins over XFF", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"Forwarded": {`for=198.51.100.8;proto=https`}, "X-Forwarded-For": {"6.6.6.6"}}, want: "198.51.100.8", viaProxy: true},
		{name: "Forwarded chain, quoted IPv6 with port", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"Forwarded": {`for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=http, for=10.7.7.7`}}, want: "2001:db8:cafe::17", viaProxy: true},
		{name: "Forwarded unknown stops", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"Forwarded": {`for=198.51.100.1, for=unknown, for=10.7.7.7`}}, want: "10.7.7.7", viaProxy: true},
		{name: "Forwarded obfuscated stops", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"Forwarded": {`for=_hidden`}}, want: "10.1.2.3", viaProxy: true},
		{name: "Forwarded by= only is an unknown hop", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"Forwarded": {`by=10.0.0.1`}}, want: "10.1.2.3", viaProxy: true},
		{name: "Forwarded quoted comma", remote: "10.1.2.3:80", trusted: lb,
			header: http.Header{"Forwarded": {`for="198.51.100.1,10.0.0.1"`}}, want: "10.1.2.3", viaProxy: true},
		{name: "peer not an IP", remote: "@", trusted: lb, header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &http.Request{RemoteAddr: tt.remote, Header: tt.header}
			var ps proxies
			if tt.trusted != nil {
				ps = mustProxies(t, tt.trusted...)
			}
			got, via := clientIP(r, ps)
			gs := ""
			if got.IsValid() {
				gs = got.String()
			}
			if gs != tt.want || via != tt.viaProxy {
				t.Errorf("clientIP = %q, %v; want %q, %v", gs, via, tt.want, tt.viaProxy)
			}
		})
	}
}

func TestForwardedProto(t *testing.T) {
	t.Parallel()
	tests := []struct {
		h    http.Header
		want string
	}{
		{http.Header{"Forwarded": {`for=1.2.3.4;proto=HTTPS`}}, "https"},
		{http.Header{"Forwarded": {`for=1.2.3.4;proto=http, for=10.0.0.1;proto="https"`}}, "https"},
		{http.Header{"X-Forwarded-Proto": {"http, https"}}, "https"},
		{http.Header{"X-Forwarded-Proto": {"https"}}, "https"},
		{http.Header{}, ""},
	}
	for _, tt := range tests {
		if got := forwardedProto(tt.h); got != tt.want {
			t.Errorf("forwardedProto(%v) = %q, want %q", tt.h, got, tt.want)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	ps, err := ParseTrustedProxies([]string{"10.1.2.3/8", " 192.0.2.1 ", "::ffff:192.0.2.2", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.1/32", "192.0.2.2/32", "2001:db8::/32"}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, p, want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "", "1.2.3.4/x"} {
		_, err := ParseTrustedProxies([]string{"10.0.0.0/8", bad})
		if err == nil {
			t.Fatalf("ParseTrustedProxies(%q): no error", bad)
		}
		if want := `invalid trusted_proxies[1] "` + bad + `"`; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
			t.Errorf("error %q does not start with %q", err, want)
		}
	}
}

// FuzzClientIP holds that whatever the forwarding headers say, the
// client is the peer, a trusted proxy, or an address from the headers,
// and never anything that is not an IP address.
func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:80", "198.51.100.1, 10.2.2.2", `for="[2001:db8::1]:80";proto=https`, "1.2.3.4")
	f.Add("10.1.2.3:80", ",,,", `for=unknown;by=_x, for="`, "")
	f.Add("[::1]:1", "\x00\xff", `for="\"\\`, "999.1.1.1")
	f.Fuzz(func(t *testing.T, remote, xff, fwd, real string) {
		h := http.Header{}
		for k, v := range map[string]string{"X-Forwarded-For": xff, "Forwarded": fwd, "X-Real-Ip": real} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		r := &http.Request{RemoteAddr: remote, Header: h}
		ps := mustProxies(t, "10.0.0.0/8", "::1/128")
		got, _ := clientIP(r, ps)
		if !got.IsValid() {
			if _, ok := parseHostPort(remote); ok {
				t.Fatalf("no client for a valid peer %q", remote)
			}
			return
		}
		if _, err := netip.ParseAddr(got.String()); err != nil {
			t.Fatalf("client %q is not an address", got)
		}
		if peer, _ := parseHostPort(remote); !ps.trusted(peer) && got != peer {
			t.Fatalf("untrusted peer %v, but client %v from headers", peer, got)
		}
	})
}
