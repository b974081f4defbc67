// Package ginaudit runs httpaudit.Middleware inside Gin, so that a Gin
// application records one activitylog event per request, with the
// route Gin matched ("/orders/:id"), and gives events recorded by its
// handlers the request they came from.
//
//	r := gin.New()
//	r.Use(ginaudit.Middleware(rec, nil))
//	r.GET("/orders/:id", func(c *gin.Context) {
//		rec.Record(c.Request.Context(), activitylog.Event{…})
//	})
//
// Handlers read the audit context from c.Request.Context(): a
// *gin.Context itself only falls back to it when the engine's
// ContextWithFallback is set.
package ginaudit

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/activitylog/activitylog/httpaudit"
)

// Middleware returns Gin middleware that records each request as
// httpaudit.Middleware does (see its package documentation); opts may
// be nil. Register it with Engine.Use, ahead of the middleware whose
// refusals should be recorded too (authentication, say).
//
// Gin routes a request before its middleware runs, so the route is
// known on arrival: the middleware passes it on as the request's
// Pattern, which httpaudit takes as the route unless Options.Route is
// set. A request that matches no route has none.
//
// The rest of the chain gets the request whose context carries the
// request id and the activitylog.Request, and a c.Writer that writes
// through httpaudit's response writer, so that the status and the bytes
// written are counted. A status set without a body (c.Status,
// including the 404 that Gin sets for an unknown route) is recorded as
// the response's. The body of Gin's own 404 and 405 responses is
// written after the chain returns, and so is not counted.
func Middleware(rec httpaudit.Recorder, opts *httpaudit.Options) gin.HandlerFunc {
	audit := httpaudit.Middleware(rec, opts)
	return func(c *gin.Context) {
		req, gw := c.Request, c.Writer
		defer func() { c.Request, c.Writer = req, gw }()
		r := req
		if route := c.FullPath(); route != "" {
			r2 := *req
			r2.Pattern = route
			r = &r2
		}
		audit(http.HandlerFunc(func(w http.ResponseWriter, ar *http.Request) {
			c.Request = ar
			c.Writer = &writer{ResponseWriter: gw, w: w}
			c.Next()
			if !gw.Written() {
				// Gin sends the status it holds after the chain; let
				// httpaudit see it now. Gin's WriteHeader only notes it.
				w.WriteHeader(gw.Status())
			}
		})).ServeHTTP(gw, r)
	}
}

// writer is the c.Writer the rest of the chain writes to. Writes go
// through w, httpaudit's wrapper, which passes them on to Gin's own
// writer; Gin's questions (Status, Size, Written) go to Gin's writer.
type writer struct {
	gin.ResponseWriter                     // Gin's own
	w                  http.ResponseWriter // httpaudit's, around Gin's own
}

var _ gin.ResponseWriter = (*writer)(nil)

func (w *writer) WriteHeader(code int)              { w.w.WriteHeader(code) }
func (w *writer) Write(p []byte) (int, error)       { return w.w.Write(p) }
func (w *writer) WriteString(s string) (int, error) { return io.WriteString(w.w, s) }

// Flush flushes through httpaudit's writer, which notes the implicit
// 200 a flush sends.
func (w *writer) Flush() { _ = http.NewResponseController(w.w).Flush() }

// Hijack hijacks through httpaudit's writer, which records 101 Switching
// Protocols.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.w).Hijack()
}

// Unwrap lets http.ResponseController reach the writers underneath.
func (w *writer) Unwrap() http.ResponseWriter { return w.w }
