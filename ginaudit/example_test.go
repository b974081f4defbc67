package ginaudit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/ginaudit"
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

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(ginaudit.Middleware(rec, nil))
	r.POST("/orders/:id/pay", func(c *gin.Context) {
		// An event recorded with the request's context says which
		// request it came from.
		rec.Record(c.Request.Context(), activitylog.Event{
			Kind: activitylog.KindCRUD, Action: "update",
			Object: activitylog.Object{Type: "order", ID: c.Param("id")},
		})
		c.String(http.StatusOK, "paid")
	})

	req := httptest.NewRequest("POST", "/orders/7/pay", nil)
	req.Header.Set("X-Request-ID", "req-1")
	r.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// crud update request_id=req-1 route=/orders/:id/pay status=0 bytes=0
	// request POST request_id=req-1 route=/orders/:id/pay status=200 bytes=4
}
