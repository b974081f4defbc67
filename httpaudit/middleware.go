package httpaudit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
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

	// TrustedProxies are the proxies whose forwarding headers
	// (Forwarded, X-Forwarded-For, X-Real-IP, and X-Forwarded-Proto for
	// the scheme) are believed; ParseTrustedProxies reads them from
	// strings. The client is the right-most address of the chain that
	// is not a trusted proxy. Default: none, the client is RemoteAddr
	// and those headers are ignored.
	TrustedProxies []netip.Prefix

	// Policy decides how much of each request is recorded: nothing,
	// metadata, the request body too, or both bodies (see Level and
	// NewPolicy). Default: NewPolicy(nil), every request at
	// LevelMetadata except the paths of DefaultDeny.
	Policy *Policy

	// MaxBody is how much of a request or response body is kept at the
	// levels that record bodies; the event says when a body was cut.
	// Default: DefaultMaxBody (64 KiB). At most activitylog.MaxBodyField.
	MaxBody int

	// Recover, when true (the default, NoRecover false), recovers a
	// panic in the handler: it is recorded as a critical system event
	// (category "panic") with its value, stack, function, file and
	// line, and answered with 500 if nothing was written yet.
	// http.ErrAbortHandler is never recovered. NoRecover: panics are
	// recorded and go on unchanged.
	NoRecover bool
	// Repanic, with recovery on, raises the panic again after recording
	// it, for a server that must crash or an outer recoverer.
	Repanic bool

	// SlowThreshold is the duration past which a request is also
	// recorded as a system event of action "performance". Default: 1s.
	// Negative: never.
	SlowThreshold time.Duration

	// NoSecurity turns off the detection of suspicious requests (path
	// traversal, SQL injection, XSS, command injection, scanners, probes
	// for secrets), which Detect does and which is recorded as system
	// events of action "security". Default: false, detection on.
	NoSecurity bool
	// SecurityWindow is the window of the rate limit on security
	// events: per client address and rule, the first signal in a
	// window is recorded at once, and the rest are counted and recorded
	// as one summary event when the window ends. Default: 1m.
	SecurityWindow time.Duration

	// OnError, when set, is called with the error Record returned. It is
	// called from the request's goroutine after the response has been
	// written. Default: nil, the error is ignored, because
	// *activitylog.Recorder counts every event it drops or refuses and
	// records the losses in the trail itself.
	OnError func(error)

	// FailClosed refuses a request before the handler runs when its
	// request event could not be recorded: the middleware takes a slot
	// in the Recorder's queue first (Reserve; rec must then be an
	// *activitylog.Recorder, or have its Reserve method), and when the
	// queue is full it answers with Refuse instead of calling the
	// handler. The refusal is counted by the Recorder (Stats.Refused) and
	// reported in its next audit_loss event. This is Vault's rule for a
	// service that must not act unaudited. Default: false, a request is
	// served whether or not its event can be queued.
	FailClosed bool
	// Refuse answers a request that FailClosed refused. Default: 503
	// Service Unavailable, Retry-After: 1, and a JSON error
	// {"error": {"code": "audit_unavailable", …}}.
	Refuse func(w http.ResponseWriter, r *http.Request, err error)
}

// reserver is what FailClosed needs of the Recorder.
type reserver interface {
	Reserve() (*activitylog.Reservation, error)
}

var _ reserver = (*activitylog.Recorder)(nil)

// refuse is Options.Refuse's default.
func refuse(w http.ResponseWriter, _ *http.Request, _ error) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, `{"error":{"code":"audit_unavailable","message":"the audit trail cannot take this request's record now; retry later"}}`+"\n")
}

// DefaultSlowThreshold is Options.SlowThreshold's default.
const DefaultSlowThreshold = time.Second

// Middleware returns middleware that records one activitylog.Event of
// Kind request (or cors, for a cross-origin request) for every request
// that reaches it, and system events for panics, slow requests and
// suspicious requests. See the package documentation for what the
// events hold. rec must not be nil; opts may be.
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
	if o.Policy == nil {
		o.Policy = defaultPolicy
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxBody > activitylog.MaxBodyField/2 {
		o.MaxBody = activitylog.MaxBodyField / 2
	}
	if o.SlowThreshold == 0 {
		o.SlowThreshold = DefaultSlowThreshold
	}
	if o.SecurityWindow <= 0 {
		o.SecurityWindow = time.Minute
	}
	if o.Client == nil {
		o.Client = DefaultClient
	}
	var res reserver
	if o.FailClosed {
		var ok bool
		if res, ok = rec.(reserver); !ok {
			panic("httpaudit: Options.FailClosed needs a Recorder with a Reserve method, such as *activitylog.Recorder")
		}
		if o.Refuse == nil {
			o.Refuse = refuse
		}
	}
	cfg := &config{
		rec:      rec,
		idHeader: http.CanonicalHeaderKey(o.RequestIDHeader),
		service:  o.Service,
		skip:     o.Skip,
		route:    o.Route,
		onError:  o.OnError,
		actor:    o.Actor,
		client:   o.Client,
		proxies:  proxies(o.TrustedProxies),
		policy:   o.Policy,
		maxBody:  o.MaxBody,
		recover:  !o.NoRecover,
		repanic:  o.Repanic,
		slow:     o.SlowThreshold,
		security: !o.NoSecurity,
		reserve:  res,
		refuse:   o.Refuse,
	}
	cfg.limiter = newLimiter(rec, o.SecurityWindow, o.OnError)
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
	actor    func(*http.Request) (activitylog.Actor, error)
	client   func(http.Header) Client
	proxies  proxies
	policy   *Policy
	maxBody  int
	recover  bool
	repanic  bool
	slow     time.Duration
	security bool
	limiter  *limiter
	reserve  reserver // FailClosed; nil otherwise
	refuse   func(http.ResponseWriter, *http.Request, error)
}

type handler struct {
	*config
	next http.Handler
}

// state is everything the middleware keeps for one request, in one
// allocation: the response writer wrapper, the request body counter,
// the Request put into the context, and the holder that SetActor fills.
type state struct {
	rw      responseWriter
	body    body
	req     activitylog.Request
	actor   actorHolder
	level   Level
	scheme  string
	authErr error                    // the credentials Options.Actor refused
	slot    *activitylog.Reservation // FailClosed: the request event's place in the queue
	done    bool                     // the handler returned normally
	idHdr   [1]string                // backs the request id response header
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.skip != nil && h.skip(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	route := r.Pattern
	if h.route != nil {
		route = h.route(r)
	}
	// The actor known on arrival: the host's, else the credentials'.
	actor, fromCreds, authErr := activitylog.ActorFrom(ctx), false, error(nil)
	if actor.ID == "" && actor.Name == "" && actor.Email == "" && h.actor != nil {
		a, err := h.callActor(r)
		if err != nil {
			authErr = err
		} else if a.ID != "" || a.Name != "" || a.Email != "" {
			actor, fromCreds = a, true
		}
	}
	level := h.policy.levelOf(r, route, actor.ID)
	if level == LevelNone {
		h.next.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	var slot *activitylog.Reservation
	if h.reserve != nil {
		var err error
		if slot, err = h.reserve.Reserve(); err != nil {
			h.refuse(w, r, err)
			return
		}
	}
	s := &state{rw: responseWriter{w: w}, level: level, authErr: authErr, slot: slot}

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
	s.req.Route = clip(route, activitylog.MaxTextField)
	// fillRequest set RemoteAddr's host; a trusted proxy's headers may
	// name another client.
	ip, viaProxy := clientIP(r, h.proxies)
	if viaProxy && ip.IsValid() {
		s.req.RemoteIP = ip.String()
	}
	s.scheme = "http"
	if r.TLS != nil {
		s.scheme = "https"
	}
	if viaProxy {
		if p := forwardedProto(r.Header); p == "http" || p == "https" {
			s.scheme = p
		}
	}
	if c := h.client(r.Header); c != (Client{}) {
		s.req.Browser = clip(c.Browser, activitylog.MaxShortField)
		s.req.Platform = clip(c.Platform, activitylog.MaxShortField)
		s.req.OS = clip(c.OS, activitylog.MaxShortField)
		s.req.Device = clip(c.Device, activitylog.MaxShortField)
	}
	if fromCreds {
		ctx = activitylog.WithActor(ctx, actor)
	}
	ctx = activitylog.WithRequest(ctx, &s.req)
	ctx = context.WithValue(ctx, holderKey{}, &s.actor)
	r2 := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		s.body.rc = r.Body
		if level >= LevelRequest {
			s.body.keep = h.maxBody
		}
		r2.Body = &s.body
	}
	if level >= LevelRequestResponse {
		s.rw.keep = h.maxBody
	}

	defer h.finish(s, r2, start)
	h.next.ServeHTTP(&s.rw, r2)
	s.done = true
}

// callActor runs Options.Actor, which must never break the request: a
// panic in it counts as refused credentials.
func (h *handler) callActor(r *http.Request) (a activitylog.Actor, err error) {
	defer func() {
		if p := recover(); p != nil {
			a, err = activitylog.Actor{}, fmt.Errorf("credentials: reading them panicked: %v", p)
		}
	}()
	return h.actor(r)
}

// finish records the events. It runs deferred, so that a handler that
// panics (or calls runtime.Goexit) is recorded too, with status 500.
func (h *handler) finish(s *state, r *http.Request, start time.Time) {
	p := recover()
	var pi *panicInfo
	if p != nil {
		pi = newPanicInfo(p)
	}
	recovered := p != nil && h.recover && p != http.ErrAbortHandler
	if recovered && !s.rw.wroteHeader {
		s.rw.Header().Del("Content-Length")
		http.Error(&s.rw, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
	status := s.rw.status
	if !s.rw.wroteHeader {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	if !s.done {
		status = http.StatusInternalServerError
	}
	ctx := recordContext(r.Context())
	dur := time.Since(start)
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
			Duration:      dur,
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
	if s.authErr != nil {
		e.Extra = map[string]any{"auth": "token_invalid", "auth_error": clip(s.authErr.Error(), 256)}
		if e.Actor.ID == "" && e.Actor.Name == "" && e.Actor.Email == "" {
			e.Actor.Type = activitylog.ActorAnonymous
		}
	}
	if crossOrigin(s.req.Origin, s.scheme, r.Host) {
		h.corsEvent(&e, r, s)
	}
	if s.level >= LevelRequest {
		e.Request.Headers = captureHeaders(r.Header, h.maxBody)
		e.Request.Body = bodyText(s.body.kept, header(r.Header, "Content-Type"), s.body.n, s.body.cut)
	}
	if s.level >= LevelRequestResponse {
		e.Response.Headers = captureHeaders(s.rw.Header(), h.maxBody)
		e.Response.Body = bodyText(s.rw.kept, header(s.rw.Header(), "Content-Type"), s.rw.bytes, s.rw.cut)
	}
	if s.slot != nil {
		if err := s.slot.Record(ctx, e); err != nil && h.onError != nil {
			h.onError(err)
		}
	} else {
		h.record(ctx, e)
	}
	if pi != nil {
		h.record(ctx, pi.event(&e, recovered))
	}
	if h.slow > 0 && dur > h.slow {
		h.record(ctx, slowEvent(&e, h.slow))
	}
	if h.security {
		h.detect(ctx, &e, s)
	}
	if p != nil && (!recovered || h.repanic) {
		panic(p)
	}
}

func (h *handler) record(ctx context.Context, e activitylog.Event) {
	if err := h.rec.Record(ctx, e); err != nil && h.onError != nil {
		h.onError(err)
	}
}

// corsEvent turns the request event e into a cors event.
func (h *handler) corsEvent(e *activitylog.Event, r *http.Request, s *state) {
	e.Kind = activitylog.KindCORS
	if e.Extra == nil {
		e.Extra = make(map[string]any, 4)
	}
	e.Extra["allowed"] = corsAllowed(s.rw.Header(), s.req.Origin)
	if isPreflight(r) {
		e.Action = "preflight"
		e.Extra["requested_method"] = clip(header(r.Header, "Access-Control-Request-Method"), 64)
		if v := header(r.Header, "Access-Control-Request-Headers"); v != "" {
			e.Extra["requested_headers"] = clip(v, 512)
		}
	}
	if v := header(r.Header, "X-Frontend-Url"); v != "" {
		e.Extra["page_url"] = clip(v, 2048)
		e.Extra["page_url_source"] = "client" // supplied by the client, not verified
	} else if s.req.Referer != "" {
		e.Extra["page_url"] = clip(s.req.Referer, 2048)
		e.Extra["page_url_source"] = "referer"
	}
	e.Message = clip("cross-origin "+e.Message+" from "+clip(s.req.Origin, 256), activitylog.MaxTextField)
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
