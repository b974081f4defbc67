// Package echoaudit runs httpaudit.Middleware inside Echo, so that an
// Echo application records one activitylog event per request, with the
// route Echo matched ("/orders/:id"), and gives events recorded by its
// handlers the request they came from.
//
//	e := echo.New()
//	e.Use(echoaudit.Middleware(rec, nil))
//	e.GET("/orders/:id", func(c echo.Context) error {
//		rec.Record(c.Request().Context(), activitylog.Event{…})
//		…
//	})
package echoaudit

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/activitylog/activitylog/httpaudit"
)

// Middleware returns Echo middleware that records each request as
// httpaudit.Middleware does (see its package documentation); opts may
// be nil. Register it with Echo.Use, not Echo.Pre: Echo routes a
// request between the two, and the route is known only after.
//
// The route (c.Path()) is passed on as the request's Pattern, which
// httpaudit takes as the route unless Options.Route is set. A request
// that matches no route has none. The rest of the chain gets the
// request whose context carries the request id and the
// activitylog.Request, and c.Response().Writer is httpaudit's response
// writer, so that the status and the bytes written are counted.
//
// An error returned by the handler is given to Echo's HTTP error
// handler (c.Error) inside the middleware, so that the status and body
// it writes are recorded, and then returned, as Echo's RequestLogger
// does with HandleError: the default error handler does nothing for a
// response already committed.
func Middleware(rec httpaudit.Recorder, opts *httpaudit.Options) echo.MiddlewareFunc {
	audit := httpaudit.Middleware(rec, opts)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req, res := c.Request(), c.Response()
			w := res.Writer
			defer func() { c.SetRequest(req); res.Writer = w }()
			r := req
			if route := c.Path(); route != "" {
				r2 := *req
				r2.Pattern = route
				r = &r2
			}
			var err error
			audit(http.HandlerFunc(func(aw http.ResponseWriter, ar *http.Request) {
				res.Writer = aw
				c.SetRequest(ar)
				if err = next(c); err != nil {
					c.Error(err)
				}
			})).ServeHTTP(w, r)
			return err
		}
	}
}
