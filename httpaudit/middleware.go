package httpaudit

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
)

// Recorder is what the middleware needs. *activitylog.Recorder
// satisfies it; in its default Async mode Record only queues the event,
// so the request is not held up by the store.
//
// Record is called once per request, from the goroutine that served the
// request, after the handler has returned, with a context that carries
// the request's values but is never cancelled. It may be called from
// many goroutines at once. An error it returns goes to Options.OnError;
// the response has already been written by then and is not changed.
type Recorder interface {
	Record(ctx context.Context, e activitylog.Event) error
}

var _ Recorder = (*activitylog.Recorder)(nil)

// Options configures Middleware. The zero value, or nil, means the
// defaults written beside each field.
type Options struct {
	// RequestIDHeader names the header that carries the request id. An
	// incoming value is used when it is sane (1 to 128 visible ASCII
	// characters, no spaces); otherwise a new id is made. The id is set
	// on the response under the same name. Default: "X-Request-ID".
	RequestIDHeader string

	// Service is copied into every event. Default: "", which lets
	// *activitylog.Recorder fill in its own Options.Service.
	Service string

	// Skip, when set, is called first with every request. For a request
	// it returns true for, the middleware calls the handler with the
	// request and response writer untouched and records nothing: no
	// event, no request id, no context values. Use it for health checks
	// and metrics scrapes. Default: nil, every request is recorded.
	Skip func(*http.Request) bool

	// Route, when set, is called with every recorded request as it
	// arrives and returns its route, the pattern of the handler that
	// will serve it. The route is then known to events recorded inside
	// the handler too, and it is not lost when a layer between the
	// middleware and the router (authentication, typically) passes on a
	// copy of the request. For a ServeMux:
	//
	//	Route: func(r *http.Request) string { _, pattern := mux.Handler(r); return pattern },
	//
	// Default: nil, the route is the request's Pattern, as a ServeMux
	// outside the middleware set it, or as a ServeMux directly inside
	// it set it on the request the middleware passed on.
	Route func(*http.Request) string

	// Actor, when set, names the actor of a request from its
	// credentials as it arrives: jwtaudit.Verifier.Actor reads a JWT
	// from the Authorization header. It returns the zero Actor and a nil
	// error when the request carries no credentials; an error when they
	// are invalid (expired, malformed, badly signed), and the request is
	// then recorded with an anonymous actor and the reason
	// "token_invalid" in Extra["auth"]. An actor the host already put in
	// the context (activitylog.WithActor) wins, and Actor is not called.
	// Actor must never block for long: it runs before the handler.
	// Default: nil, no credentials are read.
	Actor func(r *http.Request) (activitylog.Actor, error)

	// Client, when set, describes the client from the request headers:
	// browser, platform, OS and device. useragent.Parser.Client parses
	// the User-Agent with a maintained library. Default: ClientHints,
	// which reads the Sec-CH-UA client hints only.
	Client func(h http.Header) Client

	// OnError, when set, is called with the error Record returned. It is
	// called from the request's goroutine after the response has been
	// written. Default: nil, the error is ignored, because
	// *activitylog.Recorder counts every event it drops or refuses and
	// records the losses in the trail itself.
	OnError func(error)
}

// Middleware returns middleware that records one activitylog.Event of
// Kind request for every request that reaches it. See the package
// documentation for what the event holds. rec must not be nil; opts may
// be.
func Middleware(rec Recorder, opts *Options) func(http.Handler) http.Handler {
	if rec == nil {
		panic("httpaudit: Middleware called with a nil Recorder")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.RequestIDHeader == "" {
		o.RequestIDHeader = "X-Request-ID"
	}
	cfg := &config{
		rec:      rec,
		idHeader: http.CanonicalHeaderKey(o.RequestIDHeader),
		service:  o.Service,
		skip:     o.Skip,
		route:    o.Route,
		onError:  o.OnError,
	}
	return func(next http.Handler) http.Handler {
		return &handler{config: cfg, next: next}
	}
}

type config struct {
	rec      Recorder
	idHeader string // canonical form, so the header map is indexed directly
	service  string
	skip     func(*http.Request) bool
	route    func(*http.Request) string
	onError  func(error)
}

type handler struct {
	*config
	next http.Handler
}

// state is everything the middleware keeps for one request, in one
// allocation: the response writer wrapper, the request body counter,
// the Request put into the context, and the holder that SetActor fills.
type state struct {
	rw    responseWriter
	body  body
	req   activitylog.Request
	actor actorHolder
	done  bool      // the handler returned normally
	idHdr [1]string // backs the request id response header
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.skip != nil && h.skip(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	s := &state{rw: responseWriter{w: w}}
	ctx := r.Context()

	ctxID := activitylog.RequestIDFrom(ctx)
	id := h.requestID(ctxID, r, start)
	if ctxID != "" && id != ctxID {
		// An outer layer set an id that was refused. Override it, so
		// that events recorded inside the handler agree with this one.
		ctx = activitylog.WithRequestID(ctx, id)
	}
	s.idHdr[0] = id
	w.Header()[h.idHeader] = s.idHdr[:]

	fillRequest(&s.req, r, id)
	if h.route != nil {
		if route := h.route(r); route != "" {
			s.req.Route = clip(route, activitylog.MaxTextField)
		}
	}
	ctx = activitylog.WithRequest(ctx, &s.req)
	ctx = context.WithValue(ctx, holderKey{}, &s.actor)
	r2 := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		s.body.rc = r.Body
		r2.Body = &s.body
	}

	defer h.finish(s, r2, start)
	h.next.ServeHTTP(&s.rw, r2)
	s.done = true
}

// finish records the event. It runs deferred, so that a handler that
// panics (or calls runtime.Goexit) is recorded too, with status 500;
// the panic then goes on unchanged.
func (h *handler) finish(s *state, r *http.Request, start time.Time) {
	p := recover()
	status := s.rw.status
	if !s.rw.wroteHeader {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	if !s.done {
		status = http.StatusInternalServerError
	}
	ctx := r.Context()
	e := activitylog.Event{
		Time:     start,
		Kind:     activitylog.KindRequest,
		Action:   s.req.Method,
		Severity: severity(status),
		Message:  message(&s.req, status),
		Tenant:   activitylog.TenantFrom(ctx),
		Service:  h.service,
		Request:  s.req,
		Response: activitylog.Response{
			Duration:      time.Since(start),
			RequestBytes:  s.body.n,
			ResponseBytes: s.rw.bytes,
		},
	}
	if status >= 100 && status <= 599 {
		e.Response.Status = status // the schema's range; the message keeps any other
	}
	// A ServeMux directly inside the middleware sets the pattern on the
	// request it was given, which is r.
	if e.Request.Route == "" && r.Pattern != "" {
		e.Request.Route = clip(r.Pattern, activitylog.MaxTextField)
	}
	if a := s.actor.load(); a != nil {
		e.Actor = *a
	} else {
		e.Actor = activitylog.ActorFrom(ctx)
	}
	if err := h.rec.Record(recordContext(ctx), e); err != nil && h.onError != nil {
		h.onError(err)
	}
	if p != nil {
		panic(p)
	}
}

// recordContext returns the context the event is recorded with: it
// carries ctx's values, but is never cancelled, so a client that goes
// away cannot cancel its own audit record.
//
// The context that context.WithoutCancel returns boxes itself anew on
// every Value call made on it directly (as of Go 1.26), and a Recorder
// makes several (actor, tenant, request, trace). A value context on top
// turns those into plain walks of the chain: one allocation instead of
// one per lookup.
func recordContext(ctx context.Context) context.Context {
	return context.WithValue(context.WithoutCancel(ctx), detachedKey{}, true)
}

type detachedKey struct{}

func severity(status int) activitylog.Severity {
	switch {
	case status >= 500:
		return activitylog.SeverityError
	case status >= 400:
		return activitylog.SeverityWarning
	}
	return activitylog.SeverityInfo
}

// message returns "GET /orders/7 → 200" in one allocation. A request
// without a path (CONNECT) shows its host instead.
func message(q *activitylog.Request, status int) string {
	target := q.Path
	if target == "" {
		target = q.Host
	}
	if len(target) > maxMessagePath {
		target = clip(target, maxMessagePath)
	}
	return q.Method + " " + target + " → " + statusString(status)
}

// maxMessagePath keeps the message within MaxTextField whatever the
// method (at most MaxShortField) and status.
const maxMessagePath = activitylog.MaxTextField - activitylog.MaxShortField - 64

// statusDigits holds "100101102…999", so that statusString does not
// allocate for any status net/http accepts.
var statusDigits = func() string {
	b := make([]byte, 0, 900*3)
	for i := 100; i <= 999; i++ {
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return string(b)
}()

func statusString(status int) string {
	if status >= 100 && status <= 999 {
		i := (status - 100) * 3
		return statusDigits[i : i+3]
	}
	return strconv.Itoa(status)
}
