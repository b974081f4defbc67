package httpaudit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/activitylog/activitylog/httpaudit"
)

func TestRequestBytes(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("b", 10_000)
	tests := []struct {
		name string
		read func(r *http.Request)
		want int64
	}{
		{"read all", func(r *http.Request) { io.ReadAll(r.Body) }, 10_000},
		{"read part", func(r *http.Request) { io.ReadFull(r.Body, make([]byte, 100)) }, 100},
		{"not read", func(r *http.Request) {}, 0},
		{"parsed form", func(r *http.Request) { r.ParseForm() }, 10_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCollector()
			srv := httptest.NewServer(httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.read(r)
			})))
			defer srv.Close()
			resp, err := srv.Client().Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			c.wait(t)
			if got := c.one(t).Response.RequestBytes; got != tt.want {
				t.Errorf("RequestBytes %d, want %d", got, tt.want)
			}
		})
	}
}

// A request without a body keeps http.NoBody, which handlers and
// libraries compare against.
func TestNoBodyNotWrapped(t *testing.T) {
	t.Parallel()
	c := newCollector()
	srv := httptest.NewServer(httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != http.NoBody {
			t.Errorf("body %T, want http.NoBody", r.Body)
		}
	})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.wait(t)
	if got := c.one(t).Response.RequestBytes; got != 0 {
		t.Errorf("RequestBytes %d, want 0", got)
	}
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestBodyCloseDelegates(t *testing.T) {
	t.Parallel()
	b := &closeTracker{Reader: strings.NewReader("abc")}
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = b
	got, _ := serve(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == b {
			t.Error("body not wrapped")
		}
		io.ReadAll(r.Body)
		r.Body.Close()
	}), r)
	if !b.closed {
		t.Error("Close did not reach the original body")
	}
	if got.Response.RequestBytes != 3 {
		t.Errorf("RequestBytes %d, want 3", got.Response.RequestBytes)
	}
}
