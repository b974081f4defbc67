package ginaudit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/ginaudit"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // no route listing on stdout
	os.Exit(m.Run())
}

// store is an activitylog.Writer that keeps what it is given.
type store struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (s *store) Write(_ context.Context, events []activitylog.Event) error {
	s.mu.Lock()
	s.events = append(s.events, events...)
	s.mu.Unlock()
	return nil
}

func (s *store) all() []activitylog.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activitylog.Event(nil), s.events...)
}

// server runs a Gin engine with the middleware behind httptest, and a
// Recorder in Sync mode, so that every event is stored by the time the
// middleware returns.
func server(t *testing.T) (*activitylog.Recorder, *store, *gin.Engine, *httptest.Server) {
	t.Helper()
	s := &store{}
	rec := activitylog.NewRecorder(s, &activitylog.Options{Mode: activitylog.Sync})
	t.Cleanup(func() { rec.Shutdown(context.Background()) })
	r := gin.New()
	r.Use(ginaudit.Middleware(rec, nil))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return rec, s, r, srv
}

// request sends one request and waits for the request event, which the
// middleware records after the response may have reached the client.
func request(t *testing.T, s *store, method, url string, want int) (*http.Response, string, []activitylog.Event) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for range 1000 {
		if evs := s.all(); len(evs) >= want && evs[len(evs)-1].Kind == activitylog.KindRequest {
			return resp, string(body), evs
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("events %+v, want %d ending in the request event", s.all(), want)
	return nil, "", nil
}

func TestRequestEvent(t *testing.T) {
	t.Parallel()
	rec, s, r, srv := server(t)
	r.POST("/orders/:id", func(c *gin.Context) {
		rec.Record(c.Request.Context(), activitylog.Event{
			Kind: activitylog.KindCRUD, Action: "update", Object: activitylog.Object{Type: "order", ID: c.Param("id")},
		})
		c.JSON(http.StatusCreated, gin.H{"id": c.Param("id")})
	})
	resp, body, evs := request(t, s, "POST", srv.URL+"/orders/7?x=1", 2)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	inner, e := evs[0], evs[1]
	if e.Kind != activitylog.KindRequest || e.Request.Method != "POST" || e.Request.Path != "/orders/7" || e.Request.Query != "x=1" {
		t.Errorf("request %+v", e.Request)
	}
	if e.Request.Route != "/orders/:id" {
		t.Errorf("route %q, want /orders/:id", e.Request.Route)
	}
	if e.Response.Status != http.StatusCreated || e.Response.ResponseBytes != int64(len(body)) || len(body) == 0 {
		t.Errorf("status %d, %d bytes; want 201, %d", e.Response.Status, e.Response.ResponseBytes, len(body))
	}
	id := resp.Header.Get("X-Request-ID")
	if id == "" || e.Request.RequestID != id {
		t.Errorf("request id %q, response header %q", e.Request.RequestID, id)
	}
	if inner.Kind != activitylog.KindCRUD || inner.Request.RequestID != id || inner.Request.Route != "/orders/:id" {
		t.Errorf("event inside the handler: request %+v", inner.Request)
	}
}

func TestStatusWithoutBody(t *testing.T) {
	t.Parallel()
	_, s, r, srv := server(t)
	r.GET("/private", func(c *gin.Context) { c.AbortWithStatus(http.StatusUnauthorized) })
	r.GET("/accepted", func(c *gin.Context) { c.Status(http.StatusAccepted) })
	tests := []struct {
		path   string
		status int
		route  string
	}{
		{"/private", 401, "/private"},
		{"/accepted", 202, "/accepted"},
		{"/nowhere", 404, ""}, // Gin's own 404: the status is counted, its body is not
	}
	for i, tt := range tests {
		resp, _, evs := request(t, s, "GET", srv.URL+tt.path, i+1)
		e := evs[len(evs)-1]
		if resp.StatusCode != tt.status || e.Response.Status != tt.status || e.Request.Route != tt.route {
			t.Errorf("%s: client saw %d, recorded %d route %q; want %d %q", tt.path, resp.StatusCode, e.Response.Status, e.Request.Route, tt.status, tt.route)
		}
	}
}

func TestStreaming(t *testing.T) {
	t.Parallel()
	_, s, r, srv := server(t)
	r.GET("/stream", func(c *gin.Context) {
		for i := range 3 {
			c.Writer.WriteString(strings.Repeat("x", i+1))
			c.Writer.Flush()
		}
	})
	_, body, evs := request(t, s, "GET", srv.URL+"/stream", 1)
	if e := evs[0]; body != "xxxxxx" || e.Response.Status != 200 || e.Response.ResponseBytes != 6 {
		t.Errorf("body %q, recorded %d, %d bytes", body, e.Response.Status, e.Response.ResponseBytes)
	}
}
