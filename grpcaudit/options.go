package grpcaudit

import (
	"context"
	"time"

	"github.com/activitylog/activitylog"
)

// Recorder is what the interceptors need. *activitylog.Recorder
// satisfies it; in its default Async mode Record only queues the event,
// so the call is not held up by the store.
//
// Record is called once per recorded call, with a context that carries
// the call's values but is never cancelled. A server interceptor calls
// it from the goroutine that ran the handler, after the handler has
// returned and before the status is sent. A client interceptor calls it
// from the goroutine that saw the call end. It may be called from many
// goroutines at once. An error it returns goes to Options.OnError; the
// call's own result is never changed by it.
type Recorder interface {
	Record(ctx context.Context, e activitylog.Event) error
}

var _ Recorder = (*activitylog.Recorder)(nil)

// Options configures the interceptors. The zero value, or nil, means the
// defaults written beside each field. One Options serves all four
// interceptors; a field that applies to one side only says so.
type Options struct {
	// Service is copied into every event. Default: "", which lets
	// *activitylog.Recorder fill in its own Options.Service.
	Service string

	// Skip, when set, is called first with the full method of every
	// call ("/grpc.health.v1.Health/Check"). For a call it returns true
	// for, the interceptor passes the call on untouched and records
	// nothing: no event, no request id, no metadata, no context values.
	// Use it for health checks and reflection. Default: nil, every call
	// is recorded.
	Skip func(fullMethod string) bool

	// NoRecover, when true, lets a panic in a server handler go on after
	// it has been recorded, to an outer recovery interceptor or to the
	// runtime, which ends the process. Default: false, the server
	// interceptors recover the panic and the client gets codes.Internal
	// with the message "internal error". Either way the call is recorded
	// with status 500 and severity critical. Server side only.
	NoRecover bool

	// Trace returns the trace and span ids of ctx. The server
	// interceptors put them in the Request they record and hand to the
	// handler; the client interceptors send the trace id on in a W3C
	// traceparent, with a span id of the call's own. When it returns no
	// trace id, the server interceptors take the ids
	// of the incoming traceparent metadata, and the client interceptors
	// those of the Request in ctx (activitylog.RequestFrom). Default:
	// activitylog.TraceFrom, the ids set by activitylog.WithTrace. With
	// OpenTelemetry, set otelaudit.Trace.
	Trace func(ctx context.Context) (traceID, spanID string)

	// OnError, when set, is called with the error Record returned, from
	// the goroutine that called Record. Default: nil, the error is
	// ignored, because *activitylog.Recorder counts every event it drops
	// or refuses and records the losses in the trail itself.
	OnError func(error)
}

// config is Options with the defaults filled in, shared by every call.
type config struct {
	rec       Recorder
	service   string
	skip      func(string) bool
	noRecover bool
	trace     func(context.Context) (string, string)
	onError   func(error)
	now       func() time.Time
}

func newConfig(name string, rec Recorder, opts *Options) *config {
	if rec == nil {
		panic("grpcaudit: " + name + " called with a nil Recorder")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	return &config{
		rec:       rec,
		service:   o.Service,
		skip:      o.Skip,
		noRecover: o.NoRecover,
		trace:     o.Trace,
		onError:   o.OnError,
		now:       time.Now,
	}
}

func (c *config) record(ctx context.Context, e activitylog.Event) {
	if err := c.rec.Record(recordContext(ctx), e); err != nil && c.onError != nil {
		c.onError(err)
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
