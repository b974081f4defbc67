package echoaudit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/echoaudit"
)

// printStore stands in for a store: it prints what the Recorder writes.
type printStore struct{}

func (printStore) Write(_ context.Context, events []activitylog.Event) error {
	for _, e := range events {
		fmt.Printf("%s %s request_id=%s route=%s status=%d bytes=%d\n",
			e.Kind, e.Action, e.Request.RequestID, e.Request.Route, e.Response.Status, e.Response.ResponseBytes)
	}
	return nil
}

func ExampleMiddleware() {
	rec := activitylog.NewRecorder(printStore{}, &activitylog.Options{Service: "shop", Mode: activitylog.Sync})
	defer rec.Shutdown(context.Background())

	e := echo.New()
	e.Use(echoaudit.Middleware(rec, nil))
	e.POST("/orders/:id/pay", func(c echo.Context) error {
		// An event recorded with the request's context says which
		// request it came from.
		rec.Record(c.Request().Context(), activitylog.Event{
			Kind: activitylog.KindCRUD, Action: "update",
			Object: activitylog.Object{Type: "order", ID: c.Param("id")},
		})
		return c.String(http.StatusOK, "paid")
	})

	req := httptest.NewRequest("POST", "/orders/7/pay", nil)
	req.Header.Set("X-Request-ID", "req-1")
	e.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// crud update request_id=req-1 route=/orders/:id/pay status=0 bytes=0
	// request POST request_id=req-1 route=/orders/:id/pay status=200 bytes=4
}
