package httpaudit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// printWriter stands in for a store: it prints what the Recorder
// writes.
type printWriter struct{}

func (printWriter) Write(_ context.Context, events []activitylog.Event) error {
	for _, e := range events {
		fmt.Printf("%s %s %q actor=%s request_id=%s route=%q status=%d\n",
			e.Kind, e.Action, e.Message, e.Actor.Name, e.Request.RequestID, e.Request.Route, e.Response.Status)
	}
	return nil
}

func ExampleMiddleware() {
	rec := activitylog.NewRecorder(printWriter{}, &activitylog.Options{Service: "shop"})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders/{id}/pay", func(w http.ResponseWriter, r *http.Request) {
		// An event recorded with the request's context says which
		// request it came from.
		rec.Record(r.Context(), activitylog.Event{
			Kind: activitylog.KindCRUD, Action: "update", Message: "order paid",
			Object: activitylog.Object{Type: "order", ID: r.PathValue("id")},
		})
		w.WriteHeader(http.StatusNoContent)
	})

	// An authentication layer inside the middleware names the actor.
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ann := activitylog.Actor{ID: "42", Name: "Ann"}
			httpaudit.SetActor(r.Context(), ann)
			next.ServeHTTP(w, r.WithContext(activitylog.WithActor(r.Context(), ann)))
		})
	}

	h := httpaudit.Middleware(rec, &httpaudit.Options{
		Skip: func(r *http.Request) bool { return r.URL.Path == "/healthz" },
		// auth passes the mux a copy of the request, so the middleware
		// asks the mux for the route up front.
		Route: func(r *http.Request) string { _, pattern := mux.Handler(r); return pattern },
	})(auth(mux))

	r := httptest.NewRequest("POST", "/orders/7/pay", nil)
	r.Header.Set("X-Request-ID", "req-1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))

	fmt.Println("response X-Request-ID:", w.Header().Get("X-Request-ID"))
	rec.Shutdown(context.Background())
	// Output:
	// response X-Request-ID: req-1
	// crud update "order paid" actor=Ann request_id=req-1 route="POST /orders/{id}/pay" status=0
	// request POST "POST /orders/7/pay → 204" actor=Ann request_id=req-1 route="POST /orders/{id}/pay" status=204
}
