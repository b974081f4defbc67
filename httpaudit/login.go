package httpaudit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/activitylog/activitylog"
)

// LoginOptions configures Logins. The zero value, or nil, means the
// defaults written beside each field.
type LoginOptions struct {
	// Routes are the login endpoints, as http.ServeMux patterns
	// ("POST /login", "POST /api/{tenant}/session"). A pattern without
	// a method matches every method, so name one. Default:
	// {"POST /login"}.
	Routes []string

	// UsernameFields are the names of the form or JSON body fields
	// (top-level, exact case) that hold the username, tried in order.
	// A name the default redactor deems sensitive ("password",
	// "token", …) is ignored, so a password can never be read as a
	// username. Default: {"username", "email", "login", "user"}.
	UsernameFields []string

	// Outcome maps the response to an auth action: "login",
	// "login_failed", "blocked", or "" to record nothing. Default:
	// DefaultLoginOutcome. A form login that redirects on failure too
	// needs its own, reading the Location header.
	Outcome func(status int, h http.Header) string

	// Method is recorded as the login method (Extra["method"]).
	// Default: "password".
	Method string

	// MaxBody is how much of the request body is read to find the
	// username; the handler still gets the whole body. Default and
	// maximum: 64 KiB.
	MaxBody int

	// TrustedProxies are believed for the client address, as in
	// Options.TrustedProxies. Default: none, RemoteAddr.
	TrustedProxies []netip.Prefix

	// OnError, when set, is called with the error Record returned.
	// Default: nil.
	OnError func(error)
}

// DefaultLoginUsernameFields are LoginOptions.UsernameFields' default.
var DefaultLoginUsernameFields = []string{"username", "email", "login", "user"}

const maxLoginBody = 64 << 10

// DefaultLoginOutcome is LoginOptions.Outcome's default: 2xx, 302 and
// 303 are a successful login; 401 and 403 a failed one; 429 a blocked
// one; any other status (a malformed request, a server error) is not a
// login outcome and is not recorded.
func DefaultLoginOutcome(status int, _ http.Header) string {
	switch {
	case status >= 200 && status <= 299, status == http.StatusFound, status == http.StatusSeeOther:
		return activitylog.ActionLogin
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return activitylog.ActionLoginFailed
	case status == http.StatusTooManyRequests:
		return activitylog.ActionBlocked
	}
	return ""
}

// Logins returns middleware that infers login outcomes from the
// responses of the login routes, for a service that cannot call
// activitylog.LoginSucceeded and LoginFailed itself. For a request to
// one of LoginOptions.Routes it reads the username from the body (a
// form or JSON; at most MaxBody bytes, which are handed on to the
// handler with the rest of the body, unconsumed) and, once the handler
// has answered, records an auth event built by activitylog.AuthEvent:
// "login" (the actor is the user, with the id the handler passed to
// SetActor if any), "login_failed" or "blocked" (an anonymous actor,
// the username in Extra["username"]), with the client address and the
// response status. Other requests pass through untouched. Only the
// username fields are read; the body itself is never recorded.
//
// Put it inside Middleware, so that the login events share the
// request's id and context. rec must not be nil; opts may be. A route
// that is not a valid ServeMux pattern panics, as http.Handle does.
func Logins(rec Recorder, opts *LoginOptions) func(http.Handler) http.Handler {
	if rec == nil {
		panic("httpaudit: Logins called with a nil Recorder")
	}
	var o LoginOptions
	if opts != nil {
		o = *opts
	}
	routes := o.Routes
	if len(routes) == 0 {
		routes = []string{"POST /login"}
	}
	fields := o.UsernameFields
	if fields == nil {
		fields = DefaultLoginUsernameFields
	}
	red := activitylog.NewRedactor(nil)
	l := &logins{
		rec:     rec,
		mux:     http.NewServeMux(),
		outcome: o.Outcome,
		method:  o.Method,
		maxBody: o.MaxBody,
		proxies: proxies(o.TrustedProxies),
		onError: o.OnError,
	}
	for _, f := range fields {
		if f != "" && !red.Sensitive(f) {
			l.fields = append(l.fields, f)
		}
	}
	if l.outcome == nil {
		l.outcome = DefaultLoginOutcome
	}
	if l.method == "" {
		l.method = "password"
	}
	if l.maxBody <= 0 || l.maxBody > maxLoginBody {
		l.maxBody = maxLoginBody
	}
	for _, p := range routes {
		func() {
			defer func() {
				if e := recover(); e != nil {
					panic(fmt.Sprintf("httpaudit: Logins: route %q: %v", p, e))
				}
			}()
			l.mux.Handle(p, loginRoute{})
		}()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l.serve(next, w, r)
		})
	}
}

// loginRoute marks a login route in the matching mux; it never serves.
type loginRoute struct{}

func (loginRoute) ServeHTTP(http.ResponseWriter, *http.Request) {}

func isLoginRoute(h http.Handler) bool {
	_, ok := h.(loginRoute)
	return ok
}

type logins struct {
	rec     Recorder
	mux     *http.ServeMux
	fields  []string
	outcome func(int, http.Header) string
	method  string
	maxBody int
	proxies proxies
	onError func(error)
}

func (l *logins) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if h, _ := l.mux.Handler(r); !isLoginRoute(h) {
		next.ServeHTTP(w, r)
		return
	}
	username := ""
	if r.Body != nil && r.Body != http.NoBody {
		var buf []byte
		buf, r.Body = peekBody(r.Body, l.maxBody)
		username = l.username(buf, header(r.Header, "Content-Type"))
	}
	rw := &responseWriter{w: w}
	next.ServeHTTP(rw, r)
	status := rw.status
	if !rw.wroteHeader {
		status = http.StatusOK
	}
	action := l.outcome(status, rw.Header())
	if action != activitylog.ActionLogin && action != activitylog.ActionLoginFailed && action != activitylog.ActionBlocked {
		return
	}
	ctx := recordContext(r.Context())
	in := activitylog.Login{Username: username, Method: l.method}
	if ip, _ := clientIP(r, l.proxies); ip.IsValid() {
		in.IP = ip.String()
	}
	if action != activitylog.ActionLogin {
		in.Reason = failureReason(status)
	} else if h, ok := ctx.Value(holderKey{}).(*actorHolder); ok {
		if a := h.load(); a != nil {
			in.UserID = a.ID
			if in.Username == "" {
				in.Username = a.Name
			}
		}
	}
	e := activitylog.AuthEvent(action, in)
	if status >= 100 && status <= 599 {
		e.Response.Status = status
	}
	if err := l.rec.Record(ctx, e); err != nil && l.onError != nil {
		l.onError(err)
	}
}

func failureReason(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	}
	return "status_" + strconv.Itoa(status)
}

// peekBody reads up to limit bytes of rc and returns them, and a body
// that reads them again followed by the rest of rc, and closes rc.
func peekBody(rc io.ReadCloser, limit int) ([]byte, io.ReadCloser) {
	buf, _ := io.ReadAll(io.LimitReader(rc, int64(limit)))
	// A read error is met again by the handler, reading rc.
	return buf, replayBody{Reader: io.MultiReader(bytes.NewReader(buf), rc), c: rc}
}

type replayBody struct {
	io.Reader
	c io.Closer
}

func (b replayBody) Close() error { return b.c.Close() }

// username finds the first of the configured fields in a form or JSON
// body, which may have been cut short.
func (l *logins) username(buf []byte, contentType string) string {
	if len(buf) == 0 || len(l.fields) == 0 {
		return ""
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "" { // no Content-Type: guess from the first byte
		if t := bytes.TrimSpace(buf); len(t) > 0 && t[0] == '{' {
			mt = "application/json"
		} else {
			mt = "application/x-www-form-urlencoded"
		}
	}
	found := map[string]string{}
	switch {
	case mt == "application/x-www-form-urlencoded":
		vals, _ := url.ParseQuery(string(buf)) // keeps the pairs that parse
		for _, f := range l.fields {
			if v := vals.Get(f); v != "" {
				found[f] = v
			}
		}
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		jsonFields(buf, l.fields, found)
	default:
		return ""
	}
	for _, f := range l.fields {
		if v := strings.TrimSpace(found[f]); v != "" {
			return clip(v, 256)
		}
	}
	return ""
}

// jsonFields puts the string values of the wanted top-level keys of a
// JSON object into found. It stops at the first error, keeping what it
// found before it, so a cut body still yields its leading fields.
func jsonFields(buf []byte, want []string, found map[string]string) {
	dec := json.NewDecoder(bytes.NewReader(buf))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return
		}
		key, _ := t.(string)
		wanted := false
		for _, f := range want {
			if key == f {
				wanted = true
				break
			}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return
		}
		if wanted {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				if _, dup := found[key]; !dup {
					found[key] = s
				}
			}
		}
	}
}
