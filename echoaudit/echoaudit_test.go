package echoaudit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/echoaudit"
)

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

// server runs an Echo with the middleware behind httptest, and a
// Recorder in Sync mode, so that every event is stored by the time the
// middleware returns.
func server(t *testing.T) (*activitylog.Recorder, *store, *echo.Echo, *httptest.Server) {
	t.Helper()
	s := &store{}
	rec := activitylog.NewRecorder(s, &activitylog.Options{Mode: activitylog.Sync})
	t.Cleanup(func() { rec.Shutdown(context.Background()) })
	e := echo.New()
	e.Use(echoaudit.Middleware(rec, nil))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return rec, s, e, srv
}

// request sends one request and waits for the request event, which the
// middleware may record after the response reached the client.
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
	rec, s, e, srv := server(t)
	e.POST("/orders/:id", func(c echo.Context) error {
		rec.Record(c.Request().Context(), activitylog.Event{
			Kind: activitylog.KindCRUD, Action: "update", Object: activitylog.Object{Type: "order", ID: c.Param("id")},
		})
		return c.JSON(http.StatusCreated, map[string]string{"id": c.Param("id")})
	})
	resp, body, evs := request(t, s, "POST", srv.URL+"/orders/7?x=1", 2)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	inner, ev := evs[0], evs[1]
	if ev.Kind != activitylog.KindRequest || ev.Request.Method != "POST" || ev.Request.Path != "/orders/7" || ev.Request.Query != "x=1" {
		t.Errorf("request %+v", ev.Request)
	}
	if ev.Request.Route != "/orders/:id" {
		t.Errorf("route %q, want /orders/:id", ev.Request.Route)
	}
	if ev.Response.Status != http.StatusCreated || ev.Response.ResponseBytes != int64(len(body)) || len(body) == 0 {
		t.Errorf("status %d, %d bytes; want 201, %d", ev.Response.Status, ev.Response.ResponseBytes, len(body))
	}
	id := resp.Header.Get("X-Request-ID")
	if id == "" || ev.Request.RequestID != id {
		t.Errorf("request id %q, response header %q", ev.Request.RequestID, id)
	}
	if inner.Kind != activitylog.KindCRUD || inner.Request.RequestID != id || inner.Request.Route != "/orders/:id" {
		t.Errorf("event inside the handler: request %+v", inner.Request)
	}
}

// An error the handler returns becomes the response inside the
// middleware, so its status and body are recorded.
func TestReturnedErrors(t *testing.T) {
	t.Parallel()
	_, s, e, srv := server(t)
	e.GET("/conflict", func(c echo.Context) error { return echo.NewHTTPError(http.StatusConflict, "taken") })
	e.GET("/fail", func(c echo.Context) error { return errors.New("database down") })
	e.GET("/empty", func(c echo.Context) error { return c.NoContent(http.StatusAccepted) })
	e.GET("/items/:id", func(c echo.Context) error { return c.String(http.StatusOK, c.Param("id")) })
	tests := []struct {
		path   string
		status int
		route  string
	}{
		{"/conflict", 409, "/conflict"},
		{"/fail", 500, "/fail"},
		{"/empty", 202, "/empty"},
		{"/nowhere", 404, ""},
		{"/items/7", 200, "/items/:id"},
		{"/items", 404, ""},
	}
	for i, tt := range tests {
		resp, body, evs := request(t, s, "GET", srv.URL+tt.path, i+1)
		ev := evs[len(evs)-1]
		if resp.StatusCode != tt.status || ev.Response.Status != tt.status || ev.Response.ResponseBytes != int64(len(body)) {
			t.Errorf("%s: client saw %d (%d bytes), recorded %d (%d bytes); want %d",
				tt.path, resp.StatusCode, len(body), ev.Response.Status, ev.Response.ResponseBytes, tt.status)
		}
		if ev.Request.Path != tt.path || ev.Request.Route != tt.route {
			t.Errorf("%s: path %q route %q, want route %q", tt.path, ev.Request.Path, ev.Request.Route, tt.route)
		}
	}
}
