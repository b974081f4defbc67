package httpaudit

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
)

// TransportOptions configures NewTransport. The zero value, or nil,
// means the defaults written beside each field.
type TransportOptions struct {
	// Service names the called service, recorded in Extra["service"].
	// Default: the host the request is sent to, port included when
	// given ("api.stripe.com", "127.0.0.1:8080").
	Service string

	// Bodies records the request and response bodies, up to MaxBody
	// bytes each, as bodyText describes: JSON stays JSON, so that the
	// Recorder's Redactor masks secrets in it by key. Default: false.
	Bodies bool

	// MaxBody is the most bytes of each body kept when Bodies is set;
	// the rest is counted, not kept. Default: DefaultMaxBody. At most
	// activitylog.MaxBodyField.
	MaxBody int

	// Headers records the request headers as sent and the response
	// headers, each value clipped to 4 KiB. SensitiveHeaders are
	// recorded as activitylog.DefaultMask whatever the Recorder's
	// redaction. Default: false.
	Headers bool

	// NoPropagate stops the transport from adding trace and request id
	// headers to outgoing requests. Default: false, they are added (see
	// NewTransport).
	NoPropagate bool

	// RequestIDHeader names the header that carries the request id to
	// the called service. Default: "X-Request-ID".
	RequestIDHeader string

	// OnError, when set, is called with the error Record returned.
	// Default: nil, the error is ignored (*activitylog.Recorder counts
	// what it drops).
	OnError func(error)
}

// NewTransport returns an http.RoundTripper that sends each request
// through base (http.DefaultTransport when nil) and records it as an
// activitylog.Event of Kind external. rec must not be nil; opts may be.
// It is safe for concurrent use, as base must be.
//
// The event has Action and Request.Method set to the method, Tool
// "http", Extra["service"] the called service, Request.Host, Path and
// Query the URL called (the Recorder's Redactor masks secret query
// parameters; a password in the URL's user info is never recorded),
// Response.Status, Duration, RequestBytes (the request body bytes base
// read) and ResponseBytes (the response body bytes the caller read).
// Severity is error for a transport error or a 5xx status, warning for
// a 4xx status, info otherwise. An error is recorded, clipped, in
// Extra["error"] and in the Message. The actor, tenant and the incoming
// request the call was made for come from the request's context, as
// for any event the Recorder records.
//
// # When the event is recorded
//
// An error from base is recorded at once. A response without a body
// (HEAD, 204, 304, Content-Length 0, 101 Switching Protocols) is
// recorded when RoundTrip returns. Any other response is recorded when
// its body first reaches EOF, fails, or is closed, whichever comes
// first, so that Duration and ResponseBytes cover the whole exchange;
// the body still streams, and nothing is read ahead. A body the caller
// drops without closing (which also leaks the connection) is recorded
// when the garbage collector finds it unreachable, with
// Extra["unclosed"] true. The event is recorded with a context that
// keeps the request context's values but is never cancelled, so a
// timed-out call is still recorded. With http.Client, each redirect
// hop is a RoundTrip of its own, and so an event of its own.
//
// # Propagation
//
// Unless NoPropagate is set, a request without a traceparent header is
// sent with a W3C traceparent "00-<trace id>-<new span id>-01" when its
// context carries a trace id (activitylog.WithTrace, or the Request the
// middleware put there); with no trace id, none is added. The event's
// Request.TraceID and SpanID are those of the traceparent sent (the
// caller's own, when it set one), so the called service's records can
// be joined to this one. A request without the request id header gets
// the context's request id (activitylog.RequestIDFrom), when it has a
// sane one. The caller's request is never changed: a copy is sent.
func NewTransport(rec Recorder, base http.RoundTripper, opts *TransportOptions) http.RoundTripper {
	if rec == nil {
		panic("httpaudit: NewTransport called with a nil Recorder")
	}
	var o TransportOptions
	if opts != nil {
		o = *opts
	}
	if base == nil {
		base = http.DefaultTransport
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	o.MaxBody = min(o.MaxBody, activitylog.MaxBodyField)
	if o.RequestIDHeader == "" {
		o.RequestIDHeader = "X-Request-ID"
	}
	return &auditTransport{
		rec:       rec,
		base:      base,
		service:   o.Service,
		bodies:    o.Bodies,
		maxBody:   o.MaxBody,
		headers:   o.Headers,
		propagate: !o.NoPropagate,
		idHeader:  http.CanonicalHeaderKey(o.RequestIDHeader),
		onError:   o.OnError,
	}
}

type auditTransport struct {
	rec       Recorder
	base      http.RoundTripper
	service   string
	bodies    bool
	maxBody   int
	headers   bool
	propagate bool
	idHeader  string // canonical
	onError   func(error)
}

var _ http.RoundTripper = (*auditTransport)(nil)

// CloseIdleConnections passes the call on to base, so that
// http.Client.CloseIdleConnections still reaches it.
func (t *auditTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// outCall is one request sent and its response: what the event needs, in
// one allocation. mu guards the fields below it, done excepted: the
// request body may be read on the transport's goroutine, the response
// body on any, and the garbage collector may record the call on its own.
type outCall struct {
	t     *auditTransport
	ctx   context.Context
	start time.Time
	sent  sentBody // the request body wrapper, when there is a body

	mu                        sync.Mutex
	method, host, path, query string
	service, traceID, spanID  string
	userinfo                  string // the URL's user info, to keep out of error messages
	reqCT, respCT             string
	reqHeaders, respHeaders   map[string]string
	status                    int
	reqBuf, respBuf           bodyBuf
	cleanup                   runtime.Cleanup
	done                      atomic.Bool
}

func (t *auditTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := &outCall{t: t, ctx: req.Context(), start: time.Now()}
	c.mu.Lock()
	c.describe(req)

	// Send a copy when headers are added or the body is counted: a
	// RoundTripper must not change the caller's request.
	out := req
	var add [2][2]string // headers to add: name, value
	nadd := 0
	if tp := req.Header["Traceparent"]; len(tp) > 0 {
		c.traceID, c.spanID, _ = parseTraceparent(tp[0])
	} else if t.propagate {
		if tid := contextTraceID(c.ctx); tid != "" {
			var tp string
			tp, c.traceID, c.spanID = newTraceparent(tid)
			add[nadd] = [2]string{"Traceparent", tp}
			nadd++
		}
	}
	if t.propagate && len(req.Header[t.idHeader]) == 0 {
		if id := activitylog.RequestIDFrom(c.ctx); saneRequestID(id) {
			add[nadd] = [2]string{t.idHeader, id}
			nadd++
		}
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if nadd > 0 || hasBody {
		r2 := new(http.Request)
		*r2 = *req
		if nadd > 0 {
			// A new map, sharing the caller's value slices: neither this
			// transport nor base (by the RoundTripper contract) changes
			// them.
			h := make(http.Header, len(req.Header)+nadd)
			for k, v := range req.Header {
				h[k] = v
			}
			vals := make([]string, nadd)
			for i, kv := range add[:nadd] {
				vals[i] = kv[1]
				h[kv[0]] = vals[i : i+1 : i+1]
			}
			r2.Header = h
		}
		if hasBody {
			if t.bodies {
				c.reqBuf.max = t.maxBody
			}
			c.sent = sentBody{rc: req.Body, c: c}
			r2.Body = &c.sent
			if get := req.GetBody; get != nil {
				// The transport rewinds the body through GetBody to
				// retry on a new connection: count the retry afresh.
				r2.GetBody = func() (io.ReadCloser, error) {
					rc, err := get()
					if err != nil {
						return nil, err
					}
					c.mu.Lock()
					c.reqBuf.reset()
					c.mu.Unlock()
					return &sentBody{rc: rc, c: c}, nil
				}
			}
		}
		out = r2
	}
	if t.headers {
		c.reqHeaders = captureHeaders(out.Header, 0)
	}
	if t.bodies {
		c.reqCT = header(out.Header, "Content-Type")
		c.respBuf.max = t.maxBody
	}
	c.mu.Unlock()

	resp, err := t.base.RoundTrip(out)
	if err != nil || resp == nil {
		if err == nil {
			err = errNilResponse
		}
		c.finish(err, false)
		return resp, err
	}
	if resp.Request == out {
		resp.Request = req
	}

	c.mu.Lock()
	c.status = resp.StatusCode
	if t.headers {
		c.respHeaders = captureHeaders(resp.Header, 0)
	}
	if t.bodies {
		c.respCT = header(resp.Header, "Content-Type")
	}
	bodyless := resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols
	if !bodyless {
		rb := &recvBody{rc: resp.Body, c: c}
		c.cleanup = runtime.AddCleanup(rb, recordUnclosed, c)
		resp.Body = rb
	}
	c.mu.Unlock()
	if bodyless {
		// A 101's body is the connection itself, which the caller
		// writes to as well: it is handed over unwrapped.
		c.finish(nil, false)
	}
	return resp, nil
}

var errNilResponse = errors.New("httpaudit: base RoundTripper returned neither a response nor an error")

// describe fills in what the event says of the request.
func (c *outCall) describe(req *http.Request) {
	c.method = req.Method
	if c.method == "" {
		c.method = http.MethodGet
	}
	c.method = clip(c.method, activitylog.MaxShortField)
	host := req.Host
	if u := req.URL; u != nil {
		if host == "" {
			host = u.Host
		}
		c.path = clip(u.Path, activitylog.MaxTextField)
		c.query = clip(u.RawQuery, activitylog.MaxTextField)
		if u.User != nil {
			c.userinfo = u.User.String()
		}
	}
	c.host = clip(host, activitylog.MaxShortField)
	c.service = c.t.service
	if c.service == "" {
		c.service = c.host
	}
}

// sentBody counts, and keeps when bodies are recorded, what the
// transport reads of the request body. The transport may read it from
// another goroutine, even after RoundTrip has returned, hence the lock.
type sentBody struct {
	rc io.ReadCloser
	c  *outCall
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.c.mu.Lock()
		b.c.reqBuf.Write(p[:n])
		b.c.mu.Unlock()
	}
	return n, err
}

func (b *sentBody) Close() error { return b.rc.Close() }

// recvBody counts, and keeps when bodies are recorded, what the caller
// reads of the response body, and records the event at EOF, on a read
// error or on Close.
type recvBody struct {
	rc io.ReadCloser
	c  *outCall
}

func (b *recvBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	c := b.c
	if n > 0 {
		c.mu.Lock()
		c.respBuf.Write(p[:n])
		c.mu.Unlock()
	}
	if err != nil {
		if err == io.EOF {
			c.finish(nil, false)
		} else {
			c.finish(bodyReadError{err}, false)
		}
	}
	runtime.KeepAlive(b) // no "unclosed" record while a Read is under way
	return n, err
}

func (b *recvBody) Close() error {
	err := b.rc.Close()
	b.c.finish(nil, false)
	runtime.KeepAlive(b)
	return err
}

// bodyReadError is an error reading the response body.
type bodyReadError struct{ err error }

func (e bodyReadError) Error() string { return "read response body: " + e.err.Error() }

// recordUnclosed records the call of a response body that became unreachable
// without being closed. It runs on the runtime's cleanup goroutine,
// which must not block, so the Record runs on a goroutine of its own.
func recordUnclosed(c *outCall) { go c.finish(nil, true) }

// maxErrorText bounds the error message in the event.
const maxErrorText = 2048

// finish records the event, once, whichever of EOF, Close, an error or
// the garbage collector comes first.
func (c *outCall) finish(err error, unclosed bool) {
	if !c.done.CompareAndSwap(false, true) {
		return
	}
	d := time.Since(c.start)
	c.mu.Lock()
	if !unclosed {
		c.cleanup.Stop()
	}
	e := activitylog.Event{
		Time:   c.start,
		Kind:   activitylog.KindExternal,
		Action: c.method,
		Tool:   "http",
		Request: activitylog.Request{
			TraceID: c.traceID,
			SpanID:  c.spanID,
			Method:  c.method,
			Host:    c.host,
			Path:    c.path,
			Query:   c.query,
			Headers: c.reqHeaders,
		},
		Response: activitylog.Response{
			Duration:      d,
			RequestBytes:  c.reqBuf.total,
			ResponseBytes: c.respBuf.total,
			Headers:       c.respHeaders,
		},
	}
	if c.status >= 100 && c.status <= 599 {
		e.Response.Status = c.status
	}
	if c.reqBuf.max > 0 {
		e.Request.Body = c.reqBuf.text(c.reqCT)
	}
	if c.respBuf.max > 0 {
		e.Response.Body = c.respBuf.text(c.respCT)
	}
	service, userinfo := c.service, c.userinfo
	c.mu.Unlock()

	e.Extra = map[string]any{"service": service}
	e.Severity = externalSeverity(e.Response.Status)
	var msg string
	if err != nil {
		msg = clip(scrubUserinfo(err.Error(), userinfo, e.Request.Query), maxErrorText)
		e.Extra["error"] = msg
		e.Severity = activitylog.SeverityError
	}
	if unclosed {
		e.Extra["unclosed"] = true
	}
	e.Message = externalMessage(e.Action, e.Request.Host, e.Request.Path, e.Response.Status, msg)
	if rerr := c.t.rec.Record(context.WithoutCancel(c.ctx), e); rerr != nil && c.t.onError != nil {
		c.t.onError(rerr)
	}
}

// maxMessageTarget keeps the message within activitylog.MaxTextField
// whatever the method (at most MaxShortField), status and error.
const maxMessageTarget = activitylog.MaxTextField - activitylog.MaxShortField - maxErrorText - 64

// externalMessage returns "GET api.example.com/v1/orders → 200", with
// ": " and the error after it when there is one, and without the status
// when there is none. It allocates once.
func externalMessage(method, host, path string, status int, errText string) string {
	var b strings.Builder
	b.Grow(len(method) + len(host) + len(path) + len(errText) + 16)
	b.WriteString(method)
	b.WriteByte(' ')
	if len(host)+len(path) > maxMessageTarget {
		b.WriteString(clip(host+path, maxMessageTarget))
	} else {
		b.WriteString(host)
		b.WriteString(path)
	}
	if status != 0 {
		b.WriteString(" → ")
		var d [8]byte
		b.Write(strconv.AppendInt(d[:0], int64(status), 10))
	}
	if errText != "" {
		b.WriteString(": ")
		b.WriteString(errText)
	}
	return b.String()
}

func externalSeverity(status int) activitylog.Severity {
	switch {
	case status >= 500:
		return activitylog.SeverityError
	case status >= 400:
		return activitylog.SeverityWarning
	}
	return activitylog.SeverityInfo
}

// scrubUserinfo keeps the URL's user info, and its raw query (whose
// secrets only the Redactor, which does not see error text as a URL,
// could find), out of an error message that quotes the URL.
func scrubUserinfo(msg, userinfo, rawQuery string) string {
	if userinfo != "" {
		user, _, _ := strings.Cut(userinfo, ":")
		msg = strings.ReplaceAll(msg, userinfo+"@", user+":xxxxx@")
	}
	if rawQuery != "" {
		msg = strings.ReplaceAll(msg, "?"+rawQuery, "?…")
	}
	return msg
}

// contextTraceID returns the trace id of ctx, lower-cased, from
// activitylog.WithTrace or else the Request the middleware set, or ""
// when there is none or it is not 32 hex digits (all zero is invalid).
func contextTraceID(ctx context.Context) string {
	tid, _ := activitylog.TraceFrom(ctx)
	if tid == "" {
		if r := activitylog.RequestFrom(ctx); r != nil {
			tid = r.TraceID
		}
	}
	if len(tid) != 32 || !traceHex(tid) || strings.Trim(tid, "0") == "" {
		return ""
	}
	return strings.ToLower(tid)
}

// parseTraceparent returns the trace id and parent id of a W3C
// traceparent header, or false when it is malformed.
func parseTraceparent(v string) (traceID, spanID string, ok bool) {
	v = strings.TrimSpace(v)
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || (len(v) > 55 && v[55] != '-') {
		return "", "", false
	}
	traceID, spanID = strings.ToLower(v[3:35]), strings.ToLower(v[36:52])
	if !traceHex(v[:2]) || !traceHex(traceID) || !traceHex(spanID) || !traceHex(v[53:55]) ||
		strings.Trim(traceID, "0") == "" || strings.Trim(spanID, "0") == "" {
		return "", "", false
	}
	return traceID, spanID, true
}

func traceHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// newTraceparent returns a traceparent header for trace id tid (32
// lower-case hex digits) and a new random span id, and the two ids, in
// one allocation.
func newTraceparent(tid string) (header, traceID, spanID string) {
	u := rand.Uint64()
	for u == 0 {
		u = rand.Uint64()
	}
	var id [8]byte
	for i := range id {
		id[i] = byte(u >> (8 * i))
	}
	var b [55]byte
	copy(b[:], "00-")
	copy(b[3:35], tid)
	b[35] = '-'
	hex.Encode(b[36:52], id[:])
	copy(b[52:], "-01")
	header = string(b[:])
	return header, header[3:35], header[36:52]
}
