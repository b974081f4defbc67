// Package httpaudit is HTTP middleware that records every request a
// service serves as an activitylog event, and gives the events recorded
// while serving it (data changes, logins) the request they came from.
//
//	rec := activitylog.NewRecorder(store, &activitylog.Options{Service: "shop"})
//	defer rec.Shutdown(context.Background())
//
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /orders/{id}", getOrder)
//
//	audit := httpaudit.Middleware(rec, &httpaudit.Options{
//		Skip: func(r *http.Request) bool { return r.URL.Path == "/healthz" },
//	})
//	http.ListenAndServe(":8080", audit(mux))
//
// Middleware has the standard shape, func(http.Handler) http.Handler,
// so it composes with any router. Put it outside the router, so that it
// sees requests the router refuses, and outside authentication, so that
// it sees requests authentication refuses.
//
// # The request event
//
// Each request that reaches the middleware, and is not skipped, is
// recorded once, when the handler returns, as an activitylog.Event with
// Kind "request" and:
//
//   - Action: the method; Message: "GET /orders/7 → 200".
//   - Severity: info below 400, warning for 4xx, error for 5xx.
//   - Time: when the request arrived. The ID is left to the Recorder.
//   - Request: request id, method, host, path, raw query, route, remote
//     IP, user agent, referer and origin. The route is the pattern that
//     matched ("GET /orders/{id}"): from [Options].Route when set, else
//     the request's Pattern, which a ServeMux outside the middleware,
//     or directly inside it, sets. A layer in between that passes on a
//     copy of the request (r.WithContext, [http.StripPrefix]) hides the
//     Pattern from the middleware; set Options.Route then.
//     The remote IP is the host part of RemoteAddr, or empty when that
//     is not an IP address; proxy headers are not read.
//   - Response: the status; the duration; the request bytes the
//     handler read from the body; the response body bytes written.
//   - Actor: the one set with [SetActor] while the request was served,
//     else the one in the request's context ([activitylog.WithActor]).
//   - Tenant: from the request's context ([activitylog.WithTenant]).
//
// Every field is clipped to the limit [activitylog.Event.Validate] sets,
// so that a request with huge headers cannot make its own record
// invalid and so escape the trail.
//
// The status is the first final status written. It is 200 when the
// handler writes nothing, 101 after a successful Hijack (unless a final
// status was written before), and 500 when the handler panics (even if
// it had written another status; the response was cut short). A panic,
// http.ErrAbortHandler included, is recorded and then re-raised.
//
// The event is recorded with [context.WithoutCancel] of the request's
// context: it carries the request's values, but a client that goes away
// cannot cancel its own audit record.
//
// # Request ids
//
// Every recorded request gets an id: one an outer layer already set
// with [activitylog.WithRequestID], else the incoming X-Request-ID header
// ([Options].RequestIDHeader), else a new UUIDv7. An incoming id is used
// only when it is 1 to 128 visible ASCII characters; anything else is
// replaced. The id is set on the response under the same header.
//
// # Events recorded by the handler
//
// The handler's context carries an *[activitylog.Request] with the
// request id and the request fields ([activitylog.WithRequest]), so that
// an event
// the handler records with that context, a data change, say, says from
// which request, address and client it came:
//
//	func updateInvoice(w http.ResponseWriter, r *http.Request) {
//		…
//		rec.Record(r.Context(), activitylog.Event{Kind: activitylog.KindCRUD, Action: "update", …})
//	}
//
// That Request carries the route only when it is known as the request
// arrives: when Options.Route is set, or a ServeMux outside the
// middleware routed the request.
//
// # The actor
//
// Authentication usually runs inside the middleware, so the actor is
// not known when the request arrives. [SetActor] lets the layer that
// learns it name it; the request event then carries it:
//
//	func auth(next http.Handler) http.Handler {
//		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			a := activitylog.Actor{ID: "42", Name: "Ann"} // from the session or token
//			httpaudit.SetActor(r.Context(), a)
//			next.ServeHTTP(w, r.WithContext(activitylog.WithActor(r.Context(), a)))
//		})
//	}
//
// # The response writer
//
// The handler gets a wrapper of the response writer. It still offers
// [http.Flusher] and [http.Hijacker] (both report [http.ErrNotSupported],
// and Flush does nothing, when the writer underneath cannot),
// [io.ReaderFrom] (so sendfile still works) and [io.StringWriter], and
// it has an Unwrap method, so [http.ResponseController] reaches the
// writer underneath for deadlines and full duplex. Bytes a handler
// writes to a hijacked connection are not counted. [http.MaxBytesReader]
// given the wrapper cannot tell the server to close the connection when
// the limit is hit (it looks for an unexported method); the handler's
// error response is unaffected.
package httpaudit
