package httpaudit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRemoteIP(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:192.0.2.9]:80", "192.0.2.9"},
		{"[fe80::1%eth0]:80", "fe80::1%eth0"},
		{"192.0.2.1", "192.0.2.1"}, // no port
		{"2001:db8::2", "2001:db8::2"},
		{"@", ""}, // a Unix socket
		{"", ""},
		{"example.com:80", ""},
		{"1.2.3.4.5:80", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.addr
			got, _ := serve(t, nil, http.NotFoundHandler(), r)
			if got.Request.RemoteIP != tt.want {
				t.Errorf("RemoteIP(%q) = %q, want %q", tt.addr, got.Request.RemoteIP, tt.want)
			}
		})
	}
}
