package httpaudit

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
)

// detect runs Detect on the request of the request event e and records
// what it finds, through the rate limit.
func (h *handler) detect(ctx context.Context, e *activitylog.Event, s *state) {
	in := DetectInput{
		Method:    s.req.Method,
		Path:      s.req.Path,
		RawQuery:  s.req.Query,
		UserAgent: s.req.UserAgent,
	}
	if s.level >= LevelRequest {
		in.Body = s.body.kept
		in.ContentType = e.Request.Headers["Content-Type"]
	}
	for _, sig := range Detect(in) {
		h.limiter.signal(ctx, e, sig)
	}
}

// maxLimiterKeys bounds the (address, rule) pairs tracked at once; past
// it, new pairs share one key per rule, so a flood from many addresses
// is still rate-limited and counted.
const maxLimiterKeys = 10_000

// limiter rate-limits security events per client address and rule: the
// first signal of a window is recorded at once; the rest of the window
// are counted, and recorded as one summary event when it ends. Nothing
// is dropped silently: every signal is either its own event or counted
// in a summary.
type limiter struct {
	rec     Recorder
	window  time.Duration
	onError func(error)

	mu      sync.Mutex
	windows map[limitKey]*limitWindow
}

type limitKey struct{ ip, rule string }

type limitWindow struct {
	first      activitylog.Event // the signal that opened the window
	suppressed int
}

func newLimiter(rec Recorder, window time.Duration, onError func(error)) *limiter {
	return &limiter{rec: rec, window: window, onError: onError, windows: map[limitKey]*limitWindow{}}
}

func (l *limiter) signal(ctx context.Context, req *activitylog.Event, sig Signal) {
	k := limitKey{req.Request.RemoteIP, sig.Rule}
	l.mu.Lock()
	if _, ok := l.windows[k]; !ok && len(l.windows) >= maxLimiterKeys {
		k.ip = "*"
	}
	if w, ok := l.windows[k]; ok {
		w.suppressed++
		l.mu.Unlock()
		return
	}
	e := signalEvent(req, sig)
	l.windows[k] = &limitWindow{first: e}
	l.mu.Unlock()
	time.AfterFunc(l.window, func() { l.close(k) })
	l.record(ctx, e)
}

// close ends the window of k and records the signals it held back.
func (l *limiter) close(k limitKey) {
	l.mu.Lock()
	w := l.windows[k]
	delete(l.windows, k)
	l.mu.Unlock()
	if w == nil || w.suppressed == 0 {
		return
	}
	e := w.first
	e.ID = activitylog.ID{}
	e.Time = time.Now()
	e.Message = clip(strconv.Itoa(w.suppressed)+" more security signals "+e.Extra["rule"].(string)+" from "+
		ipOrAll(k.ip)+" in the last "+l.window.String()+" (rate-limited)", activitylog.MaxTextField)
	extra := make(map[string]any, len(e.Extra)+2)
	for key, v := range e.Extra {
		extra[key] = v
	}
	extra["suppressed"] = w.suppressed
	extra["window_ns"] = l.window.Nanoseconds()
	extra["summary"] = true
	e.Extra = extra
	if k.ip == "*" {
		e.Request.RemoteIP = ""
	}
	l.record(context.Background(), e)
}

func ipOrAll(ip string) string {
	if ip == "*" || ip == "" {
		return "many addresses"
	}
	return ip
}

func (l *limiter) record(ctx context.Context, e activitylog.Event) {
	if err := l.rec.Record(ctx, e); err != nil && l.onError != nil {
		l.onError(err)
	}
}

// signalEvent is the security event for sig found in the request of
// the request event req.
func signalEvent(req *activitylog.Event, sig Signal) activitylog.Event {
	sev := sig.Severity
	if !sev.Valid() {
		sev = activitylog.SeverityWarning
	}
	return activitylog.Event{
		Time:     time.Now(),
		Kind:     activitylog.KindSystem,
		Action:   "security",
		Severity: sev,
		Category: sig.Category,
		Message: clip("suspicious request: "+sig.Category+" ("+sig.Rule+") in "+sig.Where+" of "+
			req.Request.Method+" "+req.Request.Path, activitylog.MaxTextField),
		Tenant:   req.Tenant,
		Service:  req.Service,
		Actor:    req.Actor,
		Request:  requestContext(&req.Request),
		Response: activitylog.Response{Status: req.Response.Status},
		Extra:    map[string]any{"rule": sig.Rule, "where": sig.Where, "match": sig.Match},
	}
}
