package httpaudit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

func TestEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		remoteAddr string
		header     map[string]string
		handler    http.HandlerFunc
		want       activitylog.Event
	}{
		{
			name:       "get",
			method:     "GET",
			target:     "http://shop.example/orders/7?expand=lines&x=1",
			remoteAddr: "192.0.2.1:1234",
			header:     map[string]string{"User-Agent": "curl/8.5", "Referer": "https://shop.example/", "Origin": "http://shop.example"},
			handler:    func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") },
			want: activitylog.Event{
				Kind: activitylog.KindRequest, Action: "GET", Severity: activitylog.SeverityInfo,
				Message: "GET /orders/7 → 200",
				Request: activitylog.Request{
					Method: "GET", Host: "shop.example", Path: "/orders/7", Query: "expand=lines&x=1",
					RemoteIP: "192.0.2.1", UserAgent: "curl/8.5", Referer: "https://shop.example/", Origin: "http://shop.example",
				},
				Response: activitylog.Response{Status: 200, ResponseBytes: 5},
			},
		},
		{
			name:   "post reads part of the body",
			method: "POST",
			target: "/orders",
			body:   "0123456789",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.ReadFull(r.Body, make([]byte, 4))
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte("{}"))
			},
			want: activitylog.Event{
				Kind: activitylog.KindRequest, Action: "POST", Severity: activitylog.SeverityInfo,
				Message:  "POST /orders → 201",
				Request:  activitylog.Request{Method: "POST", Host: "example.com", Path: "/orders", RemoteIP: "192.0.2.1"},
				Response: activitylog.Response{Status: 201, RequestBytes: 4, ResponseBytes: 2},
			},
		},
		{
			name:    "handler writes nothing",
			method:  "DELETE",
			target:  "/orders/7",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			want: activitylog.Event{
				Kind: activitylog.KindRequest, Action: "DELETE", Severity: activitylog.SeverityInfo,
				Message:  "DELETE /orders/7 → 200",
				Request:  activitylog.Request{Method: "DELETE", Host: "example.com", Path: "/orders/7", RemoteIP: "192.0.2.1"},
				Response: activitylog.Response{Status: 200},
			},
		},
		{
			name:    "client error",
			method:  "GET",
			target:  "/missing",
			handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			want: activitylog.Event{
				Kind: activitylog.KindRequest, Action: "GET", Severity: activitylog.SeverityWarning,
				Message:  "GET /missing → 404",
				Request:  activitylog.Request{Method: "GET", Host: "example.com", Path: "/missing", RemoteIP: "192.0.2.1"},
				Response: activitylog.Response{Status: 404, ResponseBytes: 19},
			},
		},
		{
			name:       "server error, IPv6 client",
			method:     "PUT",
			target:     "/orders/7",
			remoteAddr: "[2001:db8::1]:443",
			handler:    func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
			want: activitylog.Event{
				Kind: activitylog.KindRequest, Action: "PUT", Severity: activitylog.SeverityError,
				Message:  "PUT /orders/7 → 503",
				Request:  activitylog.Request{Method: "PUT", Host: "example.com", Path: "/orders/7", RemoteIP: "2001:db8::1"},
				Response: activitylog.Response{Status: 503},
			},
		},
		{
			name:    "CONNECT shows the host",
			method:  "CONNECT",
			target:  "db.internal:5432",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) },
			want: activitylog.Event{
				Kind: activitylog.KindRequest, Action: "CONNECT", Severity: activitylog.SeverityError,
				Message:  "CONNECT db.internal:5432 → 502",
				Request:  activitylog.Request{Method: "CONNECT", Host: "db.internal:5432", RemoteIP: "192.0.2.1"},
				Response: activitylog.Response{Status: 502},
			},
		},
		{
			name:       "remote address that is not an IP",
			method:     "GET",
			target:     "/",
			remoteAddr: "@",
			handler:    func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
			want: activitylog.Event{
				Kind: activitylog.KindRequest, Action: "GET", Severity: activitylog.SeverityInfo,
				Message:  "GET / → 204",
				Request:  activitylog.Request{Method: "GET", Host: "example.com", Path: "/"},
				Response: activitylog.Response{Status: 204},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(tt.method, tt.target, body)
			if tt.remoteAddr != "" {
				r.RemoteAddr = tt.remoteAddr
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			before := time.Now()
			got, w := serve(t, nil, tt.handler, r)
			after := time.Now()

			if got.Time.Before(before) || got.Time.After(after) {
				t.Errorf("Time = %v, want between %v and %v", got.Time, before, after)
			}
			if d := got.Response.Duration; d <= 0 || d > after.Sub(before) {
				t.Errorf("Duration = %v, want in (0, %v]", d, after.Sub(before))
			}
			if got.Request.RequestID == "" || got.Request.RequestID != w.Header().Get("X-Request-ID") {
				t.Errorf("RequestID = %q, response header %q", got.Request.RequestID, w.Header().Get("X-Request-ID"))
			}
			// Compare the rest, which is deterministic.
			got.Time, got.Response.Duration, got.Request.RequestID = time.Time{}, 0, ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("event\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	got, _ := serve(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
	}), httptest.NewRequest("GET", "/", nil))
	if d := got.Response.Duration; d < 20*time.Millisecond {
		t.Errorf("Duration = %v, want at least 20ms", d)
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	ok := func(w http.ResponseWriter, r *http.Request) {
		// The Request in the context has the route only when the
		// router ran before the middleware.
		if q := activitylog.RequestFrom(r.Context()); q == nil {
			t.Error("no Request in the handler's context")
		}
		io.WriteString(w, r.PathValue("id"))
	}
	inner := http.NewServeMux()
	inner.HandleFunc("GET /orders/{id}", ok)
	inner.HandleFunc("/assets/", ok)

	c := newCollector()
	outer := http.NewServeMux()
	outer.Handle("GET /orders/{id}", httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := activitylog.RequestFrom(r.Context()).Route; got != "GET /orders/{id}" {
			t.Errorf("context Request.Route = %q, want the outer pattern", got)
		}
		ok(w, r)
	})))

	tests := []struct {
		name      string
		h         http.Handler
		target    string
		wantRoute string
		wantCode  int
		wantBody  string
	}{
		{"mux inside", inner, "/orders/7", "GET /orders/{id}", 200, "7"},
		{"prefix pattern", inner, "/assets/app.js", "/assets/", 200, ""},
		{"no match", inner, "/nope", "", 404, "404 page not found\n"},
		{"wrong method", inner, "/orders/7?m=post", "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := "GET"
			if strings.HasSuffix(tt.target, "m=post") {
				method = "POST"
			}
			got, w := serve(t, nil, tt.h, httptest.NewRequest(method, tt.target, nil))
			if got.Request.Route != tt.wantRoute || got.Response.Status != tt.wantCode {
				t.Errorf("route %q status %d, want %q %d", got.Request.Route, got.Response.Status, tt.wantRoute, tt.wantCode)
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", w.Body.String(), tt.wantBody)
			}
		})
	}
	t.Run("mux outside", func(t *testing.T) {
		t.Parallel()
		w := httptest.NewRecorder()
		outer.ServeHTTP(w, httptest.NewRequest("GET", "/orders/9", nil))
		got := c.one(t)
		if got.Request.Route != "GET /orders/{id}" || w.Body.String() != "9" {
			t.Errorf("route %q body %q, want GET /orders/{id} and 9", got.Request.Route, w.Body.String())
		}
	})
}

// A layer between the middleware and the mux that passes on a copy of
// the request (as authentication does) hides the pattern the mux sets;
// Options.Route finds it up front, for the event and for the context.
func TestRouteOption(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	var inside string
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		inside = activitylog.RequestFrom(r.Context()).Route
	})
	copying := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(activitylog.WithTenant(r.Context(), "acme")))
		})
	}
	route := func(r *http.Request) string { _, p := mux.Handler(r); return p }

	got, _ := serve(t, nil, copying(mux), httptest.NewRequest("GET", "/orders/7", nil))
	if got.Request.Route != "" {
		t.Errorf("without Route: route %q; the copy should have hidden it", got.Request.Route)
	}
	got, _ = serve(t, &httpaudit.Options{Route: route}, copying(mux), httptest.NewRequest("GET", "/orders/7", nil))
	if got.Request.Route != "GET /orders/{id}" || inside != "GET /orders/{id}" {
		t.Errorf("with Route: event route %q, context route %q; want GET /orders/{id}", got.Request.Route, inside)
	}
	got, _ = serve(t, &httpaudit.Options{Route: route}, copying(mux), httptest.NewRequest("GET", "/nope", nil))
	if got.Request.Route != "" || got.Response.Status != 404 {
		t.Errorf("with Route, no match: route %q status %d", got.Request.Route, got.Response.Status)
	}
}

func TestServiceAndTenant(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(activitylog.WithTenant(r.Context(), "acme"))
	got, _ := serve(t, &httpaudit.Options{Service: "shop"}, http.NotFoundHandler(), r)
	if got.Service != "shop" || got.Tenant != "acme" {
		t.Errorf("service %q tenant %q, want shop acme", got.Service, got.Tenant)
	}
}

func TestSkip(t *testing.T) {
	t.Parallel()
	c := newCollector()
	var sawWriter http.ResponseWriter
	h := httpaudit.Middleware(c, &httpaudit.Options{
		Skip: func(r *http.Request) bool { return r.URL.Path == "/healthz" },
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			return
		}
		sawWriter = w
		if activitylog.RequestFrom(r.Context()) != nil {
			t.Error("skipped request has a Request in its context")
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if len(c.events) != 0 {
		t.Errorf("recorded %d events for a skipped request", len(c.events))
	}
	if sawWriter != w {
		t.Error("skipped request's handler got a wrapped response writer")
	}
	if got := w.Header().Get("X-Request-ID"); got != "" {
		t.Errorf("skipped request got request id %q", got)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders", nil))
	if got := c.one(t); got.Request.Path != "/orders" {
		t.Errorf("recorded %q, want /orders", got.Request.Path)
	}
}

func TestOnError(t *testing.T) {
	t.Parallel()
	errFull := errors.New("queue full")
	c := newCollector()
	c.err = errFull
	var got []error
	h := httpaudit.Middleware(c, &httpaudit.Options{OnError: func(err error) { got = append(got, err) }})(http.NotFoundHandler())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if len(got) != 1 || got[0] != errFull {
		t.Errorf("OnError got %v, want [%v]", got, errFull)
	}
	if w.Code != 404 {
		t.Errorf("status %d, want the handler's 404 unchanged", w.Code)
	}

	// Without OnError the error is ignored.
	httpaudit.Middleware(c, nil)(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestNilRecorderPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Middleware(nil, nil) did not panic")
		}
	}()
	httpaudit.Middleware(nil, nil)
}

func TestPanic(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		handler http.HandlerFunc
		value   any
	}{
		{"before writing", func(w http.ResponseWriter, r *http.Request) { panic(errBoom) }, errBoom},
		{"after writing", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("partial"))
			panic(errBoom)
		}, errBoom},
		{"abort handler", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }, http.ErrAbortHandler},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCollector()
			h := httpaudit.Middleware(c, &httpaudit.Options{NoRecover: true})(tt.handler)
			func() {
				defer func() {
					if p := recover(); p != tt.value {
						t.Errorf("recovered %v, want the handler's panic %v", p, tt.value)
					}
				}()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
				t.Error("ServeHTTP returned normally")
			}()
			reqs, sys := c.byKind(activitylog.KindRequest), c.byKind(activitylog.KindSystem)
			if len(reqs) != 1 || len(sys) != 1 {
				t.Fatalf("%d request and %d system events, want 1 each", len(reqs), len(sys))
			}
			got := reqs[0]
			if got.Response.Status != 500 || got.Severity != activitylog.SeverityError || got.Message != "GET /x → 500" {
				t.Errorf("status %d severity %s message %q, want 500 error", got.Response.Status, got.Severity, got.Message)
			}
			if sys[0].Category != "panic" || sys[0].Extra["recovered"] != false {
				t.Errorf("panic event %s %v", sys[0].Category, sys[0].Extra["recovered"])
			}
		})
	}
}

// A handler that calls runtime.Goexit (t.FailNow in a test server, say)
// is recorded as a 500 too, and the goroutine still exits.
func TestGoexit(t *testing.T) {
	t.Parallel()
	c := newCollector()
	h := httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runtime.Goexit() }))
	var wg sync.WaitGroup
	wg.Add(1)
	returned := false
	go func() {
		defer wg.Done()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		returned = true
	}()
	wg.Wait()
	if returned {
		t.Error("ServeHTTP returned normally after Goexit")
	}
	if got := c.one(t); got.Response.Status != 500 {
		t.Errorf("status %d, want 500", got.Response.Status)
	}
}

// A client that goes away cancels the request's context, but not the
// context the event is recorded with.
func TestClientCancelDoesNotCancelRecord(t *testing.T) {
	t.Parallel()
	c := newCollector()
	handlerSawCancel := make(chan bool, 1)
	inHandler := make(chan struct{})
	srv := httptest.NewServer(httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		select {
		case <-r.Context().Done():
			handlerSawCancel <- true
		case <-time.After(10 * time.Second):
			handlerSawCancel <- false
		}
	})))
	defer srv.Close()

	ctx, cancel := context.WithCancel(activitylog.WithTenant(context.Background(), "ignored: client side"))
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow", nil)
	req.Header.Set("X-Request-ID", "req-cancel")
	go func() { <-inHandler; cancel() }()
	if _, err := srv.Client().Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want context.Canceled", err)
	}
	if !<-handlerSawCancel {
		t.Fatal("the handler's context was not cancelled")
	}
	c.wait(t)
	got, rctx := c.oneCtx(t)
	if rctx.Err() != nil || rctx.Done() != nil {
		t.Errorf("record context: Err %v, Done %v; want a context that is never cancelled", rctx.Err(), rctx.Done())
	}
	if id := activitylog.RequestIDFrom(rctx); id != "req-cancel" {
		t.Errorf("record context carries request id %q, want req-cancel", id)
	}
	if got.Request.RequestID != "req-cancel" || got.Request.Path != "/slow" {
		t.Errorf("event request %+v", got.Request)
	}
}

// Events the handler records with the request's context carry the
// request: same id, path, client. This runs the real Recorder.
func TestEventsInsideHandlerCarryRequest(t *testing.T) {
	t.Parallel()
	rec, store := syncRecorder(t)
	h := httpaudit.Middleware(rec, &httpaudit.Options{OnError: func(err error) { t.Errorf("Record: %v", err) }})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := activitylog.RequestFrom(r.Context())
			if q == nil {
				t.Fatal("no Request in the handler's context")
			}
			if id := activitylog.RequestIDFrom(r.Context()); id != q.RequestID || id != w.Header().Get("X-Request-ID") {
				t.Errorf("RequestIDFrom %q, Request.RequestID %q, response header %q", id, q.RequestID, w.Header().Get("X-Request-ID"))
			}
			err := rec.Record(r.Context(), activitylog.Event{
				Kind: activitylog.KindCRUD, Action: "update",
				Object: activitylog.Object{Type: "invoice", ID: "INV-7"},
			})
			if err != nil {
				t.Errorf("Record inside handler: %v", err)
			}
		}))
	r := httptest.NewRequest("PATCH", "/invoices/INV-7", nil)
	r.Header.Set("User-Agent", "test-agent")
	h.ServeHTTP(httptest.NewRecorder(), r)

	events := store.all()
	if len(events) != 2 {
		t.Fatalf("stored %d events, want the update and the request", len(events))
	}
	update, request := events[0], events[1]
	if update.Kind != activitylog.KindCRUD || request.Kind != activitylog.KindRequest {
		t.Fatalf("stored kinds %s, %s; want crud then request", update.Kind, request.Kind)
	}
	if update.Request.RequestID == "" || update.Request.RequestID != request.Request.RequestID {
		t.Errorf("update request id %q, request event %q", update.Request.RequestID, request.Request.RequestID)
	}
	if update.Request.Path != "/invoices/INV-7" || update.Request.Method != "PATCH" ||
		update.Request.RemoteIP != "192.0.2.1" || update.Request.UserAgent != "test-agent" {
		t.Errorf("update event's request = %+v", update.Request)
	}
	if _, err := activitylog.ParseID(request.Request.RequestID); err != nil {
		t.Errorf("generated request id %q is not a UUID: %v", request.Request.RequestID, err)
	}
}

// However large a request's fields, its event is valid, so a client
// cannot keep itself out of the trail with an oversized header.
func TestOversizedFieldsStillRecorded(t *testing.T) {
	t.Parallel()
	rec, store := syncRecorder(t)
	h := httpaudit.Middleware(rec, &httpaudit.Options{OnError: func(err error) { t.Errorf("Record: %v", err) }})(http.NotFoundHandler())

	huge := strings.Repeat("é", activitylog.MaxTextField) // 2 bytes a rune: a cut lands mid-rune
	r := httptest.NewRequest("GET", "/", nil)
	r.Method = strings.Repeat("M", 2*activitylog.MaxShortField)
	r.Host = strings.Repeat("h", 2*activitylog.MaxShortField)
	r.URL.Path = "/" + huge
	r.URL.RawQuery = "q=" + huge
	r.Pattern = huge
	for _, k := range []string{"User-Agent", "Referer"} {
		r.Header.Set(k, huge)
	}
	r.Header.Set("X-Request-ID", strings.Repeat("x", activitylog.MaxShortField+1))
	h.ServeHTTP(httptest.NewRecorder(), r)
	// A huge Origin makes a cross-origin event, just as valid.
	r.Header.Set("Origin", "https://"+huge)
	h.ServeHTTP(httptest.NewRecorder(), r)

	events := store.all()
	if len(events) != 2 {
		t.Fatalf("stored %d events, want 2", len(events))
	}
	if err := events[1].Validate(); err != nil || events[1].Kind != activitylog.KindCORS {
		t.Fatalf("cross-origin event %s: %v", events[1].Kind, err)
	}
	e := events[0]
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(e.Message, "… → 404") || !utf8ValidString(e.Message) {
		t.Errorf("message not clipped: ...%q", e.Message[max(0, len(e.Message)-16):])
	}
	for name, v := range map[string]string{"path": e.Request.Path, "query": e.Request.Query, "user agent": e.Request.UserAgent, "route": e.Request.Route} {
		if !strings.HasSuffix(v, "…") || !utf8ValidString(v) {
			t.Errorf("%s not clipped at a rune boundary with an ellipsis: ...%q", name, v[max(0, len(v)-8):])
		}
	}
}
