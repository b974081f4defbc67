package httpaudit

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// panicInfo is what a recovered panic tells: its value, the stack, and
// the function, file and line that panicked.
type panicInfo struct {
	value    string
	stack    string
	function string
	file     string
	line     int
}

// maxStack bounds the stack kept in the event.
const maxStack = 16 << 10

// newPanicInfo describes p. It must be called from the deferred
// function that recovered p, so that the stack still shows where it
// panicked.
func newPanicInfo(p any) *panicInfo {
	pi := &panicInfo{value: clip(fmt.Sprint(p), 2048), stack: clip(string(debug.Stack()), maxStack)}
	pcs := make([]uintptr, 32)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	// Skip to the frame after the runtime's panic machinery: the first
	// frame outside package runtime that follows runtime.gopanic.
	seenPanic := false
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" {
			seenPanic = true
		} else if seenPanic && !strings.HasPrefix(f.Function, "runtime.") {
			pi.function, pi.file, pi.line = f.Function, f.File, f.Line
			break
		}
		if !more {
			break
		}
	}
	return pi
}

// event is the critical system event that reports the panic, in the
// context of the request event req.
func (pi *panicInfo) event(req *activitylog.Event, recovered bool) activitylog.Event {
	where := pi.function
	if pi.file != "" {
		where += " (" + pi.file + ":" + strconv.Itoa(pi.line) + ")"
	}
	return activitylog.Event{
		Time:     time.Now(),
		Kind:     activitylog.KindSystem,
		Action:   "error",
		Severity: activitylog.SeverityCritical,
		Category: "panic",
		Message:  clip("panic in "+req.Request.Method+" "+req.Request.Path+": "+pi.value, activitylog.MaxTextField),
		Tenant:   req.Tenant,
		Service:  req.Service,
		Actor:    req.Actor,
		Request:  requestContext(&req.Request),
		Response: activitylog.Response{Status: req.Response.Status},
		Extra: map[string]any{
			"panic":     pi.value,
			"stack":     pi.stack,
			"function":  pi.function,
			"file":      pi.file,
			"line":      pi.line,
			"recovered": recovered,
			"where":     where,
		},
	}
}

// slowEvent is the performance event for a request event req that took
// longer than threshold.
func slowEvent(req *activitylog.Event, threshold time.Duration) activitylog.Event {
	return activitylog.Event{
		Time:     time.Now(),
		Kind:     activitylog.KindSystem,
		Action:   "performance",
		Severity: activitylog.SeverityWarning,
		Category: "slow_request",
		Message: clip("slow request: "+req.Request.Method+" "+req.Request.Path+" took "+
			req.Response.Duration.Round(time.Millisecond).String()+" (threshold "+threshold.String()+")", activitylog.MaxTextField),
		Tenant:   req.Tenant,
		Service:  req.Service,
		Actor:    req.Actor,
		Request:  requestContext(&req.Request),
		Response: activitylog.Response{Status: req.Response.Status, Duration: req.Response.Duration},
		Extra:    map[string]any{"threshold_ns": threshold.Nanoseconds(), "route": req.Request.Route},
	}
}

// requestContext is the request without bodies and headers: what a
// system event needs to say where it happened.
func requestContext(q *activitylog.Request) activitylog.Request {
	c := *q
	c.Headers, c.Body = nil, ""
	return c
}
