package httpaudit_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

func utf8ValidString(s string) bool { return utf8.ValidString(s) }

var everything = func() *httpaudit.Policy {
	p, err := httpaudit.NewPolicy(&httpaudit.PolicyOptions{Deny: []string{}})
	if err != nil {
		panic(err)
	}
	return p
}()

// FuzzEventValid holds that whatever a client sends, the request event
// passes activitylog.Event.Validate (once the Recorder gives it an id),
// and that the request id on the response is sane.
func FuzzEventValid(f *testing.F) {
	f.Add("GET", "example.com", "/orders/7", "a=1", "192.0.2.1:1234", "curl/8", "req-1", 200)
	f.Add("", "", "", "", "@", "", "", 0)
	f.Add("PATCH", "[::1]:80", "/é", "%zz", "[fe80::1%eth0]:1", "\x00\xff", "a b", 999)
	f.Add("X", "h", "/", "", "::ffff:10.0.0.1", "", "\x7f", 101)
	f.Fuzz(func(t *testing.T, method, host, path, query, remote, ua, reqID string, status int) {
		r := &http.Request{
			Method:     method,
			Host:       host,
			URL:        &url.URL{Path: path, RawQuery: query},
			RemoteAddr: remote,
			Header:     http.Header{"User-Agent": {ua}, "X-Request-Id": {reqID}},
		}
		r = r.WithContext(t.Context())
		c := newCollector()
		w := httptest.NewRecorder()
		// Record every path, /healthz too, and no security events: one
		// event per request.
		httpaudit.Middleware(c, &httpaudit.Options{Policy: everything, NoSecurity: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status >= 100 && status <= 999 {
				w.WriteHeader(status)
			}
		})).ServeHTTP(w, r)
		e := c.one(t)
		e.ID = activitylog.NewID(e.Time)
		if err := e.Validate(); err != nil {
			t.Fatalf("event invalid: %v\n%+v", err, e)
		}
		id := w.Header().Get("X-Request-ID")
		if id == "" || len(id) > 128 || id != e.Request.RequestID {
			t.Fatalf("response request id %q, event %q", id, e.Request.RequestID)
		}
		for i := 0; i < len(id); i++ {
			if id[i] <= ' ' || id[i] > '~' {
				t.Fatalf("request id %q has byte %#x", id, id[i])
			}
		}
	})
}
